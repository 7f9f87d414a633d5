// pretok.c — normalization and pre-tokenization with Hugging Face tokenizers'
// semantics; regexes run through PCRE2 (UTF + UCP, JIT).
#include "data/pretok.h"
#include "data/pretok_unicode.h"
#include "base/check.h"
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

const char *PRETOK_GPT2_PATTERN =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char *PRETOK_DSV3_DIGITS = "\\p{N}{1,3}";
const char *PRETOK_DSV3_CJK = "[一-龥぀-ゟ゠-ヿ]+";
const char *PRETOK_DSV3_MAIN =
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
    " ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

int norm_apply(const Normalizer *nz, const char *s, size_t n, char **out, size_t *outn) {
    char *cur = xmalloc(n + 1);
    memcpy(cur, s, n); cur[n] = 0;
    size_t cn = n;
    for (int i = 0; i < nz->n; i++) {
        utf8proc_uint8_t *dst = NULL;
        int opt = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
        if (nz->kind[i] == NORM_NFKC) opt |= UTF8PROC_COMPAT;
        utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)cur, (utf8proc_ssize_t)cn, &dst, opt);
        if (r < 0) { free(cur); return fail("normalizing text: %s", utf8proc_errmsg(r)); }
        free(cur);
        cur = (char *)dst; cn = (size_t)r;
    }
    *out = cur; *outn = cn;
    return 0;
}

static PretokStep *add_step(Pretok *p) {
    p->steps = xrealloc(p->steps, (size_t)(p->n + 1) * sizeof *p->steps);
    PretokStep *s = &p->steps[p->n++];
    memset(s, 0, sizeof *s);
    return s;
}

// Oniguruma (what tokenizers uses) reads \s as Unicode White_Space; PCRE2's \s with UCP
// misses U+0085 and reads a few characters differently: rewrite \s and \S to the explicit set.
// Oniguruma knows Unicode 16, PCRE2 10.42 Unicode 14: add the newer code points to \p{L|N|P|S|M}.
#define WS "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
// Oniguruma's \w (PCRE2's \w with UCP is [\p{L}\p{N}_]: no marks, no Alphabetic numbers).
#define WORD "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}" UNI16_W
static char *onig_compat(const char *p) {
    size_t n = strlen(p), k = 0;
    char *o = xmalloc(n * 1500 + 1);
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char d = p[i + 1];
            const char *rep = NULL;
            if (d == 's') rep = in_class ? WS : "[" WS "]";
            else if (d == 'S' && !in_class) rep = "[^" WS "]";
            else if (d == 'd') rep = in_class ? "\\d" UNI16_ND : "[\\d" UNI16_ND "]";
            else if (d == 'h') rep = in_class ? "0-9a-fA-F" : "[0-9a-fA-F]";   // Oniguruma: hex digit
            else if (d == 'H' && !in_class) rep = "[^0-9a-fA-F]";
            else if (d == 'w') rep = in_class ? WORD : "[" WORD "]";
            else if (d == 'W' && !in_class) rep = "[^" WORD "]";
            else if ((d == 'p' || (d == 'P' && !in_class)) && i + 4 < n && p[i + 2] == '{' && p[i + 4] == '}') {
                static const char cls[] = "LNPSM";
                static const char *extra[] = {UNI16_L, UNI16_N, UNI16_P, UNI16_S, UNI16_M};
                const char *q = strchr(cls, p[i + 3]);
                if (q && p[i + 3]) {
                    char buf[8]; snprintf(buf, sizeof buf, "\\p{%c}", p[i + 3]);
                    if (!in_class) o[k++] = '[';
                    if (!in_class && d == 'P') o[k++] = '^';
                    memcpy(o + k, buf, strlen(buf)); k += strlen(buf);
                    const char *x = extra[q - cls]; size_t l = strlen(x);
                    memcpy(o + k, x, l); k += l;
                    if (!in_class) o[k++] = ']';
                    i += 4;
                    continue;
                }
            }
            if (rep) { size_t l = strlen(rep); memcpy(o + k, rep, l); k += l; }
            else { o[k++] = c; o[k++] = d; }
            i++;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = 1;
            o[k++] = c;
            if (i + 1 < n && p[i + 1] == '^') o[k++] = p[++i];
            if (i + 1 < n && p[i + 1] == ']') o[k++] = p[++i];   // a leading ']' is literal
            continue;
        }
        if (in_class && c == '[' && i + 1 < n && p[i + 1] == ':') {   // POSIX class [:name:]
            const char *e = strstr(p + i + 2, ":]");
            if (e) { size_t l = (size_t)(e + 2 - (p + i)); memcpy(o + k, p + i, l); k += l; i += l - 1; continue; }
        }
        if (in_class && c == ']') in_class = 0;
        o[k++] = c;
    }
    o[k] = 0;
    return o;
}

static int compile(const char *pattern, void **out) {
    int err; PCRE2_SIZE eoff;
    char *pat = onig_compat(pattern);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &eoff, NULL);
    free(pat);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return fail("pre-tokenizer regex /%s/ does not compile at pattern offset %zu: %s", pattern, (size_t)eoff, msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);   // falls back to the interpreter if JIT is unavailable
    *out = re;
    return 0;
}

// A prefilter from PCRE2's first-code-unit information: a piece holding none of the bytes a
// match can start with has no match. Kept only when it rules out a good part of ASCII.
static void first_bytes(PretokStep *s) {
    uint32_t type = 0;
    const uint8_t *bm = NULL;
    memset(s->first, 0, sizeof s->first);
    if (!strcmp(s->pattern, PRETOK_DSV3_DIGITS)) {
        // \p{N}: among ASCII only the digits; any non-ASCII character may be a number
        for (int b = '0'; b <= '9'; b++) s->first[b] = 1;
        for (int b = 0x80; b < 256; b++) s->first[b] = 1;
    } else if (pcre2_pattern_info(s->re, PCRE2_INFO_FIRSTCODETYPE, &type) == 0 && type == 0 &&
               pcre2_pattern_info(s->re, PCRE2_INFO_FIRSTBITMAP, &bm) == 0 && bm) {
        for (int b = 0; b < 256; b++) s->first[b] = (uint8_t)((bm[b >> 3] >> (b & 7)) & 1);
    } else {
        return;
    }
    int ascii = 0;
    for (int b = 0; b < 128; b++) ascii += s->first[b];
    s->has_first = ascii < 64;
}

static int can_match(const PretokStep *s, const char *sub, size_t len) {
    if (!s->has_first) return 1;
    const unsigned char *u = (const unsigned char *)sub;
    for (size_t i = 0; i < len; i++) if (s->first[u[i]]) return 1;
    return 0;
}

int pretok_add_split_regex(Pretok *p, const char *pattern, int behavior, int invert) {
    void *re;
    TRY(compile(pattern, &re));
    PretokStep *s = add_step(p);
    s->kind = PT_SPLIT; s->re = re; s->behavior = behavior; s->invert = invert;
    s->pattern = xstrdup(pattern);
    first_bytes(s);
    return 0;
}

void pretok_add_split_literal(Pretok *p, const char *lit, size_t n, int behavior, int invert) {
    PretokStep *s = add_step(p);
    s->kind = PT_SPLIT; s->literal = xmalloc(n + 1); memcpy(s->literal, lit, n); s->literal[n] = 0;
    s->lit_len = n; s->behavior = behavior; s->invert = invert;
}

int pretok_add_bytelevel(Pretok *p, int add_prefix_space, int use_regex) {
    void *re = NULL;
    if (use_regex) TRY(compile(PRETOK_GPT2_PATTERN, &re));
    PretokStep *s = add_step(p);
    s->kind = PT_BYTELEVEL; s->re = re; s->add_prefix_space = add_prefix_space; s->use_regex = use_regex;
    s->behavior = SPLIT_ISOLATED;
    p->has_bytelevel = 1;
    return 0;
}

void pretok_free(Pretok *p) {
    for (int i = 0; i < p->n; i++) { if (p->steps[i].re) pcre2_code_free(p->steps[i].re); free(p->steps[i].literal); free(p->steps[i].pattern); }
    free(p->steps);
    memset(p, 0, sizeof *p);
}

void pieces_free(Pieces *ps) {
    free(ps->buf); free(ps->v); free(ps->tmp); free(ps->buf2);
    if (ps->md) pcre2_match_data_free(ps->md);
    memset(ps, 0, sizeof *ps);
}

static void push_piece(Piece **v, size_t *n, size_t *cap, uint32_t off, uint32_t len) {
    if (*n == *cap) { *cap = *cap ? *cap * 2 : 256; *v = xrealloc(*v, *cap * sizeof **v); }
    (*v)[(*n)++] = (Piece){off, len};
}

static inline size_t utf8_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

// Split one piece [off, off+len) of buf by a step; append the resulting pieces to (out, on).
// Segments: (start, end, is_match) covering the piece; then the behavior folds them.
static void split_piece(const PretokStep *s, const char *buf, uint32_t off, uint32_t len, pcre2_match_data *md,
                        Piece **out, size_t *on, size_t *ocap) {
    const char *sub = buf + off;
    // collect segments on the fly and fold them with the behavior
    // fold state: last emitted piece may be extended
    size_t first_new = *on;
    int prev_match = 0;
    size_t pos = 0;
    int have_last = 0;
#define SEG(a, b, m) do { \
        uint32_t sa_ = (uint32_t)(a), sb_ = (uint32_t)(b); int im_ = (m) ^ s->invert; \
        switch (s->behavior) { \
        case SPLIT_REMOVED: if (!im_) push_piece(out, on, ocap, off + sa_, sb_ - sa_); break; \
        case SPLIT_ISOLATED: push_piece(out, on, ocap, off + sa_, sb_ - sa_); break; \
        case SPLIT_MERGED_PREV: \
            if (im_ && !prev_match && have_last) (*out)[*on - 1].len = off + sb_ - (*out)[*on - 1].off; \
            else push_piece(out, on, ocap, off + sa_, sb_ - sa_); \
            break; \
        case SPLIT_CONTIGUOUS: \
            if (im_ == prev_match && have_last) (*out)[*on - 1].len = off + sb_ - (*out)[*on - 1].off; \
            else push_piece(out, on, ocap, off + sa_, sb_ - sa_); \
            break; \
        case SPLIT_MERGED_NEXT: \
            if (prev_match && !im_ && have_last) (*out)[*on - 1].len = off + sb_ - (*out)[*on - 1].off; \
            else push_piece(out, on, ocap, off + sa_, sb_ - sa_); \
            /* a match is glued to what follows: remember it */ \
            break; \
        } \
        have_last = *on > first_new; prev_match = im_; } while (0)
    if (s->re && can_match(s, sub, len)) {
        size_t start = 0;
        while (start <= len) {
            int rc = pcre2_jit_match(s->re, (PCRE2_SPTR)sub, len, start, PCRE2_NO_UTF_CHECK, md, NULL);
            if (rc == PCRE2_ERROR_JIT_BADOPTION)
                rc = pcre2_match(s->re, (PCRE2_SPTR)sub, len, start, PCRE2_NO_UTF_CHECK, md, NULL);
            if (rc < 0) break;
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            size_t ms = ov[0], me = ov[1];
            if (me == ms) {   // empty match: not a split point; move one character on
                if (ms >= len) break;
                start = ms + utf8_len((unsigned char)sub[ms]);
                continue;
            }
            if (ms > pos) SEG(pos, ms, 0);
            SEG(ms, me, 1);
            pos = me; start = me;
        }
    } else if (!s->re && s->lit_len) {
        const char *p = sub, *end = sub + len;
        while ((size_t)(end - p) >= s->lit_len) {
            const char *hit = memmem(p, (size_t)(end - p), s->literal, s->lit_len);
            if (!hit) break;
            size_t ms = (size_t)(hit - sub), me = ms + s->lit_len;
            if (ms > pos) SEG(pos, ms, 0);
            SEG(ms, me, 1);
            pos = me; p = sub + me;
        }
    }
    if (pos < len) SEG(pos, len, 0);
#undef SEG
}

// MergedWithNext is folded right to left in tokenizers; do it on the segment list instead.
static void split_piece_next(const PretokStep *s, const char *buf, uint32_t off, uint32_t len, pcre2_match_data *md,
                             Piece **out, size_t *on, size_t *ocap) {
    // get Isolated segments with their match flags, then fold from the right
    PretokStep iso = *s; iso.behavior = SPLIT_ISOLATED; iso.invert = 0;
    Piece *seg = NULL; size_t sn = 0, scap = 0;
    split_piece(&iso, buf, off, len, md, &seg, &sn, &scap);
    // recompute match flags: a segment is a match if it equals a regex/literal hit; track via second pass
    // (Isolated output alternates gap/match; rebuild flags by re-matching each segment start)
    uint8_t *ism = xmalloc(sn + 1);
    {
        size_t start = 0, k = 0; const char *sub = buf + off;
        for (k = 0; k < sn; k++) ism[k] = 0;
        k = 0;
        if (s->re && can_match(s, sub, len)) {
            while (start <= len) {
                int rc = pcre2_jit_match(s->re, (PCRE2_SPTR)sub, len, start, PCRE2_NO_UTF_CHECK, md, NULL);
                if (rc == PCRE2_ERROR_JIT_BADOPTION) rc = pcre2_match(s->re, (PCRE2_SPTR)sub, len, start, PCRE2_NO_UTF_CHECK, md, NULL);
                if (rc < 0) break;
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                if (ov[1] == ov[0]) { if (ov[0] >= len) break; start = ov[0] + utf8_len((unsigned char)sub[ov[0]]); continue; }
                while (k < sn && seg[k].off - off < ov[0]) k++;
                if (k < sn) ism[k] = 1;
                start = ov[1];
            }
        } else if (!s->re && s->lit_len) {
            for (k = 0; k < sn; k++) ism[k] = seg[k].len == s->lit_len && !memcmp(buf + seg[k].off, s->literal, s->lit_len);
        }
    }
    Piece *rev = xmalloc((sn + 1) * sizeof *rev); size_t rn = 0;
    int prev_match = 0;
    for (size_t j = sn; j-- > 0;) {
        int im = ism[j] ^ s->invert;
        if (im && !prev_match && rn) { rev[rn - 1].len += rev[rn - 1].off - seg[j].off; rev[rn - 1].off = seg[j].off; }
        else rev[rn++] = seg[j];
        prev_match = im;
    }
    for (size_t j = rn; j-- > 0;) push_piece(out, on, ocap, rev[j].off, rev[j].len);
    free(seg); free(ism); free(rev);
}

void pretok_run(const Pretok *p, const char *text, size_t len, Pieces *ps) {
    if (len + 1 > ps->cap) { ps->cap = len + 1; ps->buf = xrealloc(ps->buf, ps->cap); }
    memcpy(ps->buf, text, len);
    ps->len = len;
    ps->n = 0;
    if (len) push_piece(&ps->v, &ps->n, &ps->cap_v, 0, (uint32_t)len);
    if (!ps->md) ps->md = pcre2_match_data_create(1, NULL);
    for (int i = 0; i < p->n; i++) {
        const PretokStep *s = &p->steps[i];
        if (s->kind == PT_BYTELEVEL && s->add_prefix_space) {
            // prepend a space to every piece that does not start with one (a new buffer)
            size_t need = ps->len + ps->n + 1;
            if (need > ps->cap2) { ps->cap2 = need; ps->buf2 = xrealloc(ps->buf2, ps->cap2); }
            size_t k = 0;
            for (size_t j = 0; j < ps->n; j++) {
                Piece pc = ps->v[j];
                uint32_t noff = (uint32_t)k;
                if (pc.len == 0 || ps->buf[pc.off] != ' ') ps->buf2[k++] = ' ';
                memcpy(ps->buf2 + k, ps->buf + pc.off, pc.len);
                k += pc.len;
                ps->v[j] = (Piece){noff, (uint32_t)(k - noff)};
            }
            char *t = ps->buf; ps->buf = ps->buf2; ps->buf2 = t;
            size_t tc = ps->cap; ps->cap = ps->cap2; ps->cap2 = tc;
            ps->len = k;
        }
        if (s->kind == PT_BYTELEVEL && !s->use_regex) continue;
        size_t tn = 0;
        for (size_t j = 0; j < ps->n; j++) {
            if (s->behavior == SPLIT_MERGED_NEXT)
                split_piece_next(s, ps->buf, ps->v[j].off, ps->v[j].len, ps->md, &ps->tmp, &tn, &ps->cap_tmp);
            else
                split_piece(s, ps->buf, ps->v[j].off, ps->v[j].len, ps->md, &ps->tmp, &tn, &ps->cap_tmp);
        }
        Piece *t = ps->v; ps->v = ps->tmp; ps->tmp = t;
        size_t tc = ps->cap_v; ps->cap_v = ps->cap_tmp; ps->cap_tmp = tc;
        ps->n = tn;
    }
}
