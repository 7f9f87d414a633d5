// filters.c — Gopher quality / repetition, C4, FineWeb and DeepSeek-Coder rules.
// Words are whitespace-separated tokens; lengths are in bytes.
#include "curate/filters.h"
#include "base/check.h"
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct { uint32_t off, len; } Span;
typedef struct { uint64_t key; uint32_t count, first; } Slot;

struct FilterScratch {
    Span *words; size_t nwords, capwords;
    uint64_t *wh; size_t capwh;             // hash of each word
    Span *segs; size_t nsegs, capsegs;
    Slot *tab; size_t captab;
    char *buf; size_t capbuf;
};

void filter_defaults_text(FilterParams *p) {
    memset(p, 0, sizeof *p);
    p->gopher_quality = p->gopher_rep = p->c4 = p->fineweb = 1;
    p->gq_min_words = 50; p->gq_max_words = 100000;
    p->gq_min_avg_word = 3; p->gq_max_avg_word = 10;
    p->gq_max_symbol_word = 0.1; p->gq_max_bullet_lines = 0.9; p->gq_max_ellipsis_lines = 0.3;
    p->gq_min_alpha_words = 0.8; p->gq_min_stop_words = 2;
    p->gr_dup_line_frac = 0.3; p->gr_dup_para_frac = 0.3;
    p->gr_dup_line_char_frac = 0.2; p->gr_dup_para_char_frac = 0.2;
    p->gr_top_ngram[0] = 0.20; p->gr_top_ngram[1] = 0.18; p->gr_top_ngram[2] = 0.16;
    for (int i = 0; i < 6; i++) p->gr_dup_ngram[i] = 0.15 - 0.01 * i;
    p->c4_terminal_punct = 0; p->c4_min_words_line = 3; p->c4_min_sentences = 5; p->c4_max_word_len = 1000;
    p->fw_line_punct = 0.12; p->fw_short_line = 0.67; p->fw_short_line_len = 30;
    p->fw_char_dup = 0.01; p->fw_newline_ratio = 0.3;
    p->code_max_avg_line = 100; p->code_max_line = 1000; p->code_min_alpha = 0.25;
    p->code_min_json = 50; p->code_max_json = 5000;
    p->code_min_html_text = 0.2; p->code_min_html_chars = 100;
}

void filter_defaults_code(FilterParams *p) {
    filter_defaults_text(p);
    p->gopher_quality = p->gopher_rep = p->c4 = p->fineweb = 0;
    p->code = 1;
}

FilterScratch *filter_scratch_new(void) { return xcalloc(1, sizeof(FilterScratch)); }

void filter_scratch_free(FilterScratch *s) {
    if (!s) return;
    free(s->words); free(s->wh); free(s->segs); free(s->tab); free(s->buf); free(s);
}

// ---- helpers -------------------------------------------------------------------------------

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

static void push(Span **a, size_t *n, size_t *cap, uint32_t off, uint32_t len) {
    if (*n == *cap) { *cap = *cap ? *cap * 2 : 1024; *a = xrealloc(*a, *cap * sizeof(Span)); }
    (*a)[(*n)++] = (Span){off, len};
}

static void split_words(FilterScratch *s, const char *t, size_t n) {
    s->nwords = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && is_ws((unsigned char)t[i])) i++;
        size_t b = i;
        while (i < n && !is_ws((unsigned char)t[i])) i++;
        if (i > b) push(&s->words, &s->nwords, &s->capwords, (uint32_t)b, (uint32_t)(i - b));
    }
    if (s->capwh < s->nwords) { s->capwh = s->capwords; s->wh = xrealloc(s->wh, s->capwh * sizeof(uint64_t)); }
    for (size_t k = 0; k < s->nwords; k++) s->wh[k] = XXH3_64bits(t + s->words[k].off, s->words[k].len);
}

// Lines split on '\n' (empty lines included unless skip_blank).
static void split_lines(FilterScratch *s, const char *t, size_t n, int skip_blank) {
    s->nsegs = 0;
    size_t b = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || t[i] == '\n') {
            int blank = 1;
            for (size_t k = b; k < i; k++) if (!is_ws((unsigned char)t[k])) { blank = 0; break; }
            if (!(skip_blank && blank)) push(&s->segs, &s->nsegs, &s->capsegs, (uint32_t)b, (uint32_t)(i - b));
            b = i + 1;
        }
    }
}

// Paragraphs: the stripped text split on runs of two or more newlines.
static void split_paragraphs(FilterScratch *s, const char *t, size_t n) {
    s->nsegs = 0;
    size_t a = 0, e = n;
    while (a < e && is_ws((unsigned char)t[a])) a++;
    while (e > a && is_ws((unsigned char)t[e - 1])) e--;
    size_t b = a, i = a;
    while (i < e) {
        if (t[i] == '\n' && i + 1 < e && t[i + 1] == '\n') {
            push(&s->segs, &s->nsegs, &s->capsegs, (uint32_t)b, (uint32_t)(i - b));
            while (i < e && t[i] == '\n') i++;
            b = i;
        } else i++;
    }
    if (e > a) push(&s->segs, &s->nsegs, &s->capsegs, (uint32_t)b, (uint32_t)(e - b));
}

// Lines split on runs of newlines (Gopher repetition: re.split("\n+")).
static void split_lines_runs(FilterScratch *s, const char *t, size_t n) {
    s->nsegs = 0;
    size_t b = 0, i = 0;
    while (i <= n) {
        if (i == n) { push(&s->segs, &s->nsegs, &s->capsegs, (uint32_t)b, (uint32_t)(i - b)); break; }
        if (t[i] == '\n') {
            push(&s->segs, &s->nsegs, &s->capsegs, (uint32_t)b, (uint32_t)(i - b));
            while (i < n && t[i] == '\n') i++;
            b = i;
        } else i++;
    }
}

static size_t tab_cap(size_t n) { size_t cap = 64; while (cap < 2 * n + 2) cap *= 2; return cap; }

// Clear (and grow if needed) the first tab_cap(n) slots of the count table.
static void tab_reset(FilterScratch *s, size_t n) {
    size_t cap = tab_cap(n);
    if (cap > s->captab) { free(s->tab); s->tab = xmalloc(cap * sizeof(Slot)); s->captab = cap; }
    memset(s->tab, 0, cap * sizeof(Slot));
}

// Open-addressing count table over the first `cap` slots (a power of two); returns the slot for key.
// The index takes the high bits of a Fibonacci product, which mixes every bit of the key.
static Slot *tab_get(Slot *tab, size_t cap, uint64_t key) {
    if (!key) key = 1;
    int bits = __builtin_ctzll((unsigned long long)cap);
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> (64 - bits));
    while (tab[i].key && tab[i].key != key) i = (i + 1) & (cap - 1);
    tab[i].key = key;
    return &tab[i];
}

// Segments seen before (exact text): count and their total length.
static void find_duplicates(FilterScratch *s, const char *t, size_t *ndup, size_t *dupchars) {
    size_t cap = tab_cap(s->nsegs);
    tab_reset(s, s->nsegs);
    *ndup = 0; *dupchars = 0;
    for (size_t i = 0; i < s->nsegs; i++) {
        Slot *sl = tab_get(s->tab, cap, XXH3_64bits(t + s->segs[i].off, s->segs[i].len));
        if (sl->count) { (*ndup)++; *dupchars += s->segs[i].len; }
        sl->count++;
    }
}

// Hash of n consecutive words, from the per-word hashes (order-sensitive).
static uint64_t ngram_hash(const uint64_t *wh, int n) {
    uint64_t h = 0x243F6A8885A308D3ull;
    for (int k = 0; k < n; k++) { h ^= wh[k]; h *= 0x100000001B3ull; h ^= h >> 29; }
    return h;
}

// Character length of the most frequent n-gram times its count (0 if none repeats).
static size_t top_ngram_chars(FilterScratch *s, int n) {
    if (s->nwords < (size_t)n) return 0;
    size_t m = s->nwords - n + 1, cap = tab_cap(m);
    tab_reset(s, m);
    Slot *best = NULL;
    for (size_t i = 0; i < m; i++) {
        Slot *sl = tab_get(s->tab, cap, ngram_hash(s->wh + i, n));
        if (!sl->count) sl->first = (uint32_t)i;
        sl->count++;
        if (!best || sl->count > best->count || (sl->count == best->count && sl->first < best->first)) best = sl;
    }
    if (!best || best->count < 2) return 0;
    size_t len = n - 1;
    for (int k = 0; k < n; k++) len += s->words[best->first + k].len;
    return len * best->count;
}

// Characters in n-grams that repeat an earlier n-gram (non-overlapping scan, as in Gopher).
static size_t dup_ngram_chars(FilterScratch *s, int n) {
    if (s->nwords < (size_t)n) return 0;
    size_t m = s->nwords - n + 1, cap = tab_cap(m), rep = 0;
    tab_reset(s, m);
    size_t i = 0;
    while (i < m) {
        Slot *sl = tab_get(s->tab, cap, ngram_hash(s->wh + i, n));
        if (sl->count) {
            for (int k = 0; k < n; k++) rep += s->words[i + k].len;
            i += n;
        } else { sl->count = 1; i++; }
    }
    return rep;
}

static int is_punct_word(const char *w, size_t n) {
    for (size_t i = 0; i < n; i++) if (!ispunct((unsigned char)w[i])) return 0;
    return 1;
}

static size_t utf8_chars(const char *w, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)w[i] & 0xC0) != 0x80;
    return c;
}

static size_t count_sub(const char *t, size_t n, const char *pat) {
    size_t pl = strlen(pat), c = 0;
    const char *p = t, *end = t + n;
    while ((p = memmem(p, (size_t)(end - p), pat, pl))) { c++; p += pl; }
    return c;
}

static int starts_with(const char *s, size_t n, const char *pre) {
    size_t k = strlen(pre);
    return n >= k && !memcmp(s, pre, k);
}

static int ends_with(const char *s, size_t n, const char *suf) {
    size_t k = strlen(suf);
    return n >= k && !memcmp(s + n - k, suf, k);
}

// Case-insensitive substring test; pat is lowercase ASCII. Candidates are found with memchr on
// both cases of the first letter, so long lines cost little.
static int ci_contains(const char *s, size_t n, const char *pat) {
    size_t k = strlen(pat);
    if (k > n) return 0;
    char lo = pat[0], up = (char)toupper((unsigned char)pat[0]);
    for (int pass = 0; pass < (lo == up ? 1 : 2); pass++) {
        const char *p = s, *end = s + n - k + 1;
        char c = pass ? up : lo;
        while (p < end && (p = memchr(p, c, (size_t)(end - p)))) {
            size_t j = 1;
            while (j < k && tolower((unsigned char)p[j]) == pat[j]) j++;
            if (j == k) return 1;
            p++;
        }
    }
    return 0;
}

static const char *STOP_WORDS[] = {"the", "be", "to", "of", "and", "that", "have", "with"};

static int is_stop_word(const char *w, size_t n) {
    while (n && ispunct((unsigned char)*w)) { w++; n--; }
    while (n && ispunct((unsigned char)w[n - 1])) n--;
    if (n == 0 || n > 4) return 0;
    char low[5];
    for (size_t i = 0; i < n; i++) low[i] = (char)tolower((unsigned char)w[i]);
    for (size_t k = 0; k < sizeof STOP_WORDS / sizeof *STOP_WORDS; k++)
        if (strlen(STOP_WORDS[k]) == n && !memcmp(STOP_WORDS[k], low, n)) return 1;
    return 0;
}

// ---- rule groups ------------------------------------------------------------------------------

static const char *gopher_quality(const FilterParams *p, FilterScratch *s, const char *t, size_t n) {
    size_t nw = s->nwords, nsym = 0, chars = 0, alpha = 0, stop = 0;
    for (size_t i = 0; i < nw; i++) {
        const char *w = t + s->words[i].off; size_t l = s->words[i].len;
        if (is_punct_word(w, l)) nsym++; else chars += utf8_chars(w, l);
        for (size_t k = 0; k < l; k++) if (isalpha((unsigned char)w[k]) || (unsigned char)w[k] >= 0x80) { alpha++; break; }
        stop += is_stop_word(w, l);
    }
    size_t nns = nw - nsym;
    if ((long)nns < p->gq_min_words) return "gopher_quality:too_few_words";
    if ((long)nns > p->gq_max_words) return "gopher_quality:too_many_words";
    double avg = nns ? (double)chars / nns : 0;
    if (avg < p->gq_min_avg_word || avg > p->gq_max_avg_word) return "gopher_quality:mean_word_length";
    if ((double)count_sub(t, n, "#") / nw > p->gq_max_symbol_word) return "gopher_quality:hash_ratio";
    if ((double)(count_sub(t, n, "...") + count_sub(t, n, "\xE2\x80\xA6")) / nw > p->gq_max_symbol_word)
        return "gopher_quality:ellipsis_ratio";
    split_lines(s, t, n, 0);
    size_t bullet = 0, ell = 0;
    for (size_t i = 0; i < s->nsegs; i++) {
        const char *l = t + s->segs[i].off; size_t ln = s->segs[i].len;
        while (ln && is_ws((unsigned char)*l)) { l++; ln--; }
        if (starts_with(l, ln, "\xE2\x80\xA2") || starts_with(l, ln, "-")) bullet++;
        while (ln && is_ws((unsigned char)l[ln - 1])) ln--;
        if (ends_with(l, ln, "...") || ends_with(l, ln, "\xE2\x80\xA6")) ell++;
    }
    if (s->nsegs && (double)bullet / s->nsegs > p->gq_max_bullet_lines) return "gopher_quality:bullet_lines";
    if (s->nsegs && (double)ell / s->nsegs > p->gq_max_ellipsis_lines) return "gopher_quality:ellipsis_lines";
    if ((double)alpha / nw < p->gq_min_alpha_words) return "gopher_quality:alpha_words";
    if ((long)stop < p->gq_min_stop_words) return "gopher_quality:stop_words";
    return NULL;
}

static const char *gopher_repetition(const FilterParams *p, FilterScratch *s, const char *t, size_t n) {
    if (!n) return NULL;
    size_t nd, dc;
    split_paragraphs(s, t, n);
    find_duplicates(s, t, &nd, &dc);
    if (s->nsegs && (double)nd / s->nsegs > p->gr_dup_para_frac) return "gopher_rep:dup_para_frac";
    if ((double)dc / n > p->gr_dup_para_char_frac) return "gopher_rep:dup_para_char_frac";
    split_lines_runs(s, t, n);
    find_duplicates(s, t, &nd, &dc);
    if (s->nsegs && (double)nd / s->nsegs > p->gr_dup_line_frac) return "gopher_rep:dup_line_frac";
    if ((double)dc / n > p->gr_dup_line_char_frac) return "gopher_rep:dup_line_char_frac";
    static const char *top_names[3] = {"gopher_rep:top_2gram", "gopher_rep:top_3gram", "gopher_rep:top_4gram"};
    for (int k = 0; k < 3; k++)
        if ((double)top_ngram_chars(s, k + 2) / n > p->gr_top_ngram[k]) return top_names[k];
    static const char *dup_names[6] = {"gopher_rep:dup_5gram", "gopher_rep:dup_6gram", "gopher_rep:dup_7gram",
                                       "gopher_rep:dup_8gram", "gopher_rep:dup_9gram", "gopher_rep:dup_10gram"};
    for (int k = 0; k < 6; k++)
        if ((double)dup_ngram_chars(s, k + 5) / n > p->gr_dup_ngram[k]) return dup_names[k];
    return NULL;
}

static int ends_terminal(const char *l, size_t n) {
    return ends_with(l, n, ".") || ends_with(l, n, "?") || ends_with(l, n, "!") || ends_with(l, n, "\"") ||
           ends_with(l, n, "'") || ends_with(l, n, "\xE2\x80\xA6") || ends_with(l, n, "\xE3\x80\x82") ||
           ends_with(l, n, "\xEF\xBC\x81") || ends_with(l, n, "\xEF\xBC\x9F");
}

// Sentences in a line: runs of . ! ? followed by space or the end, plus a trailing fragment.
static size_t count_sentences(const char *l, size_t n) {
    size_t c = 0, content = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = l[i];
        if (ch == '.' || ch == '!' || ch == '?') {
            size_t j = i;
            while (j < n && (l[j] == '.' || l[j] == '!' || l[j] == '?')) j++;
            if ((j == n || is_ws((unsigned char)l[j])) && content) { c++; content = 0; }
            i = j - 1;
        } else if (!is_ws((unsigned char)ch)) content++;
    }
    return c + (content ? 1 : 0);
}

static const char *POLICY[] = {"terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies"};

// Remove "[12]", "[edit]", "[citation needed]" in place; returns the new length.
static size_t strip_citations(char *l, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (l[i] == '[') {
            size_t j = i + 1;
            while (j < n && isdigit((unsigned char)l[j])) j++;
            size_t skip = 0;
            if (j < n && l[j] == ']') skip = j + 1 - i;
            else if (starts_with(l + i, n - i, "[edit]")) skip = 6;
            else if (starts_with(l + i, n - i, "[citation needed]")) skip = 17;
            if (skip) { i += skip; continue; }
        }
        l[o++] = l[i++];
    }
    return o;
}

static const char *c4(const FilterParams *p, FilterScratch *s, char **text, size_t *len) {
    const char *t = *text; size_t n = *len;
    if (s->capbuf < n + 1) { s->capbuf = n + 1; s->buf = xrealloc(s->buf, s->capbuf); }
    size_t out = 0, sentences = 0;
    split_lines(s, t, n, 0);
    for (size_t i = 0; i < s->nsegs; i++) {
        const char *l0 = t + s->segs[i].off; size_t ln = s->segs[i].len;
        while (ln && is_ws((unsigned char)*l0)) { l0++; ln--; }
        while (ln && is_ws((unsigned char)l0[ln - 1])) ln--;
        size_t words = 0, wl = 0;
        for (size_t k = 0; k <= ln; k++) {
            if (k == ln || is_ws((unsigned char)l0[k])) {
                if (wl) { words++; if ((long)wl > p->c4_max_word_len) return "c4:long_word"; }
                wl = 0;
            } else wl++;
        }
        char *l = s->buf + out;          // copy, then edit in place
        memcpy(l, l0, ln);
        ln = strip_citations(l, ln);
        if (p->c4_terminal_punct && (!ends_terminal(l, ln) || ends_with(l, ln, "..."))) continue;
        if ((long)words < p->c4_min_words_line) continue;
        if (ci_contains(l, ln, "lorem ipsum")) return "c4:lorem_ipsum";
        if (ci_contains(l, ln, "javascript")) continue;
        if (memchr(l, '{', ln)) return "c4:curly_bracket";
        int pol = 0;
        for (size_t k = 0; k < sizeof POLICY / sizeof *POLICY && !pol; k++) pol = ci_contains(l, ln, POLICY[k]);
        if (pol) continue;
        sentences += count_sentences(l, ln);
        out += ln;
        s->buf[out++] = '\n';
    }
    if ((long)sentences < p->c4_min_sentences) return "c4:too_few_sentences";
    if (out) out--;   // no trailing newline
    if (out != n || memcmp(s->buf, t, n)) {
        memcpy(*text, s->buf, out);
        (*text)[out] = 0;
        *len = out;
    }
    return NULL;
}

static const char *fineweb(const FilterParams *p, FilterScratch *s, const char *t, size_t n) {
    split_lines(s, t, n, 1);
    if (!s->nsegs) return "fineweb:empty";
    size_t punct = 0, shortl = 0;
    for (size_t i = 0; i < s->nsegs; i++) {
        const char *l = t + s->segs[i].off; size_t ln = s->segs[i].len;
        punct += ends_terminal(l, ln);
        shortl += (long)utf8_chars(l, ln) <= p->fw_short_line_len;
    }
    if ((double)punct / s->nsegs < p->fw_line_punct) return "fineweb:line_punct_ratio";
    if ((double)shortl / s->nsegs > p->fw_short_line) return "fineweb:short_line_ratio";
    size_t nd, dc, nl = count_sub(t, n, "\n");
    find_duplicates(s, t, &nd, &dc);
    if (n > nl && (double)dc / (n - nl) > p->fw_char_dup) return "fineweb:char_dup_ratio";
    if (s->nwords && (double)nl / s->nwords > p->fw_newline_ratio) return "fineweb:list_ratio";
    return NULL;
}

static const char *code_rules(const FilterParams *p, FilterScratch *s, const char *t, size_t n, const char *lang) {
    split_lines(s, t, n, 0);
    size_t maxl = 0, alpha = 0;
    for (size_t i = 0; i < s->nsegs; i++) if (s->segs[i].len > maxl) maxl = s->segs[i].len;
    for (size_t i = 0; i < n; i++) alpha += isalpha((unsigned char)t[i]) != 0;
    double avg = s->nsegs ? (double)(n - (s->nsegs - 1)) / s->nsegs : 0;
    if (avg > p->code_max_avg_line) return "code:avg_line_length";
    if ((double)maxl > p->code_max_line) return "code:max_line_length";
    if (n && (double)alpha / n < p->code_min_alpha) return "code:alpha_fraction";
    size_t head = n < 100 ? n : 100;
    if (memmem(t, head, "<?xml version=", 14) && !memmem(t, n, "<xsl:", 5)) return "code:xml";
    // generated-file markers in the first five lines
    size_t lim = 0;
    for (size_t i = 0; i < s->nsegs && i < 5; i++) lim = s->segs[i].off + s->segs[i].len;
    if (ci_contains(t, lim, "auto-generated") || ci_contains(t, lim, "autogenerated") ||
        ci_contains(t, lim, "generated by") || ci_contains(t, lim, "do not edit"))
        return "code:generated";
    if (lang && (!strcmp(lang, "json") || !strcmp(lang, "yaml")) &&
        ((long)n < p->code_min_json || (long)n > p->code_max_json))
        return "code:json_yaml_size";
    if (lang && !strcmp(lang, "html")) {
        size_t vis = 0; int in_tag = 0;
        for (size_t i = 0; i < n; i++) {
            if (t[i] == '<') in_tag = 1;
            else if (t[i] == '>') in_tag = 0;
            else if (!in_tag && !is_ws((unsigned char)t[i])) vis++;
        }
        if ((long)vis < p->code_min_html_chars || (double)vis / n < p->code_min_html_text) return "code:html_visible_text";
    }
    return NULL;
}

const char *filter_apply(const FilterParams *p, FilterScratch *s, char **text, size_t *len, const char *lang) {
    const char *r = NULL;
    if (p->code && (r = code_rules(p, s, *text, *len, lang))) return r;
    if (p->gopher_quality || p->gopher_rep || p->fineweb) split_words(s, *text, *len);
    if (p->gopher_rep && (r = gopher_repetition(p, s, *text, *len))) return r;
    if (p->gopher_quality && (r = gopher_quality(p, s, *text, *len))) return r;
    if (p->c4 && (r = c4(p, s, text, len))) return r;
    if (p->fineweb) {
        if (p->c4) split_words(s, *text, *len);   // C4 may have changed the text
        if ((r = fineweb(p, s, *text, *len))) return r;
    }
    return NULL;
}

int filter_set(FilterParams *p, const char *name, double v) {
#define I(f) if (!strcmp(name, #f)) { p->f = (int)v; return 0; }
#define D(f) if (!strcmp(name, #f)) { p->f = v; return 0; }
    I(gopher_quality) I(gopher_rep) I(c4) I(fineweb) I(code)
    I(gq_min_words) I(gq_max_words) D(gq_min_avg_word) D(gq_max_avg_word) D(gq_max_symbol_word)
    D(gq_max_bullet_lines) D(gq_max_ellipsis_lines) D(gq_min_alpha_words) I(gq_min_stop_words)
    D(gr_dup_line_frac) D(gr_dup_para_frac) D(gr_dup_line_char_frac) D(gr_dup_para_char_frac)
    I(c4_terminal_punct) I(c4_min_words_line) I(c4_min_sentences) I(c4_max_word_len)
    D(fw_line_punct) D(fw_short_line) I(fw_short_line_len) D(fw_char_dup) D(fw_newline_ratio)
    D(code_max_avg_line) D(code_max_line) D(code_min_alpha) I(code_min_json) I(code_max_json)
    D(code_min_html_text) I(code_min_html_chars)
#undef I
#undef D
    static const char *top[3] = {"gr_top_2gram", "gr_top_3gram", "gr_top_4gram"};
    for (int k = 0; k < 3; k++) if (!strcmp(name, top[k])) { p->gr_top_ngram[k] = v; return 0; }
    static const char *dup[6] = {"gr_dup_5gram", "gr_dup_6gram", "gr_dup_7gram", "gr_dup_8gram", "gr_dup_9gram", "gr_dup_10gram"};
    for (int k = 0; k < 6; k++) if (!strcmp(name, dup[k])) { p->gr_dup_ngram[k] = v; return 0; }
    return fail("unknown filter parameter \"%s\" (see docs/curate.md for the list)", name);
}
