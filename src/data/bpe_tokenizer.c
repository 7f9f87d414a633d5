// bpe_tokenizer.c — encode and decode with a loaded Tokenizer (tokenizer.h):
// invalid UTF-8 handling, added tokens, normalization, pre-tokenization, a
// per-thread cache of pre-token encodings, and OpenMP over chunks of long texts.
//
// Invalid UTF-8: the input is cut at every byte that is not part of a well-formed
// UTF-8 sequence. Each well-formed run is tokenized exactly as Hugging Face
// tokenizers tokenizes that run as a string of its own; each maximal run of
// ill-formed bytes is one pre-token that goes straight to the byte-level BPE
// model (no normalization, no splitting), so decode(encode(x)) == x.
#include "data/bpe_tokenizer.h"
#include "base/check.h"
#include <omp.h>
#include <stdlib.h>
#include <string.h>

size_t utf8_valid_char(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    if (c < 0xC2 || c > 0xF4) return 0;
    if (c < 0xE0) return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0;   // overlong
        if (c == 0xED && s[1] > 0x9F) return 0;   // surrogate
        return 3;
    }
    if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
    if (c == 0xF0 && s[1] < 0x90) return 0;       // overlong
    if (c == 0xF4 && s[1] > 0x8F) return 0;       // above U+10FFFF
    return 4;
}

// ---- per-thread state: pieces scratch and a cache of pre-token → ids
typedef struct { uint64_t owner; BpeMap map; IdVec pool; Pieces ps; } TlState;
static _Thread_local TlState *tl;

static TlState *tl_get(const Tokenizer *t) {
    if (!tl) { tl = xcalloc(1, sizeof *tl); bpe_map_init(&tl->map, 1 << 14); }
    if (tl->owner != t->uid || tl->map.count > (1u << 17) || tl->pool.n > (1u << 22)) {
        bpe_map_clear(&tl->map); tl->pool.n = 0; tl->owner = t->uid;
    }
    return tl;
}

static void encode_piece(const Tokenizer *t, TlState *st, const uint8_t *w, size_t n, IdVec *out) {
    if (n > 200) { bpe_encode_word(&t->bpe, w, n, out); return; }
    uint64_t h = bpe_map_hash(w, n);
    int64_t *v = bpe_map_find_h(&st->map, w, n, h);
    if (v) { idvec_append(out, st->pool.v + (*v >> 10), (size_t)(*v & 1023)); return; }
    size_t before = out->n;
    bpe_encode_word(&t->bpe, w, n, out);
    size_t cnt = out->n - before, off = st->pool.n;
    idvec_append(&st->pool, out->v + before, cnt);
    *bpe_map_put_h(&st->map, w, n, h, 0, NULL) = ((int64_t)off << 10) | (int64_t)cnt;
}

// text without added tokens: normalize (if asked), pre-tokenize, BPE
static void encode_plain(const Tokenizer *t, const char *s, size_t n, int normalized_done, int allow_special, IdVec *out);

// Split s on added tokens (those with normalized == want_norm; specials only if allow_special);
// the text between goes to encode_plain.
static void split_added(const Tokenizer *t, const char *s, size_t n, int want_norm, int allow_special, IdVec *out) {
    size_t last = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        int32_t a = t->added_first[c], b = t->added_first[c + 1];
        const AddedTok *hit = NULL;
        for (int32_t k = a; k < b; k++) {   // longest first
            const AddedTok *at = &t->added[k];
            if (at->normalized != want_norm || (at->special && !allow_special)) continue;
            if (at->n <= n - i && !memcmp(s + i, at->s, at->n)) { hit = at; break; }
        }
        if (!hit) { i++; continue; }
        if (i > last) encode_plain(t, s + last, i - last, want_norm, allow_special, out);
        idvec_push(out, hit->id);
        i += hit->n;
        last = i;
    }
    if (n > last) encode_plain(t, s + last, n - last, want_norm, allow_special, out);
}

static void encode_plain(const Tokenizer *t, const char *s, size_t n, int normalized_done, int allow_special, IdVec *out) {
    if (!normalized_done) {
        if (t->norm.n) {
            char *ns; size_t nn;
            if (norm_apply(&t->norm, s, n, &ns, &nn) < 0) {   // cannot happen on valid UTF-8; keep the text as is
                ns = xmalloc(n + 1); memcpy(ns, s, n); nn = n;
            }
            split_added(t, ns, nn, 1, allow_special, out);
            free(ns);
        } else {
            split_added(t, s, n, 1, allow_special, out);
        }
        return;
    }
    TlState *st = tl_get(t);
    Pieces ps = st->ps;   // take the scratch (encode_plain does not recurse past this point)
    pretok_run(&t->pre, s, n, &ps);
    for (size_t j = 0; j < ps.n; j++)
        encode_piece(t, st, (const uint8_t *)ps.buf + ps.v[j].off, ps.v[j].len, out);
    st->ps = ps;
}

void tok_encode_valid(const Tokenizer *t, const char *s, size_t n, int allow_special, IdVec *out) {
    split_added(t, s, n, 0, allow_special, out);
}

// Encode any bytes: well-formed runs through the full pipeline, ill-formed runs as raw byte pre-tokens.
static void encode_bytes(const Tokenizer *t, const char *s, size_t n, int allow_special, IdVec *out) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n) {
            size_t k = utf8_valid_char(u + j, n - j);
            if (!k) break;
            j += k;
        }
        if (j > i) tok_encode_valid(t, s + i, j - i, allow_special, out);
        size_t b = j;
        while (j < n && !utf8_valid_char(u + j, n - j)) j++;
        if (j > b) bpe_encode_word(&t->bpe, u + b, j - b, out);
        i = j;
    }
}

// Long texts: cut into chunks for the threads after a '\n' that an ASCII letter follows.
static int safe_cut(const char *s, size_t n, size_t c) {
    if (c == 0 || c >= n || s[c - 1] != '\n') return 0;
    char x = s[c];
    return (x >= 'a' && x <= 'z') || (x >= 'A' && x <= 'Z');
}

int tok_encode(const Tokenizer *t, const char *text, size_t len, int allow_special, int32_t **ids, size_t *n) {
    *ids = NULL; *n = 0;
    if (len > ((size_t)1 << 31))   // pieces hold 32-bit offsets
        return fail("a text of %zu bytes is too long to encode at once (the limit is 2 GiB); split it into documents", len);
    IdVec out = {0};
    int nth = omp_get_max_threads();
    // Parallel chunks only where pieces provably never cross "\n" + ASCII letter: the
    // DeepSeek-V3 rules, no normalizer, no added token holding '\n' (t->chunk_safe, set at load).
    if (len >= (1u << 20) && nth > 1 && !omp_in_parallel() && t->pre.has_bytelevel && t->chunk_safe) {
        int nc = nth * 4;
        size_t *cut = xmalloc((size_t)(nc + 1) * sizeof *cut);
        cut[0] = 0; int k = 1;
        for (int c = 1; c < nc; c++) {
            size_t p = len / (size_t)nc * (size_t)c;
            if (p <= cut[k - 1]) continue;
            size_t lim = p + 65536 < len ? p + 65536 : len;
            while (p < lim && !safe_cut(text, len, p)) p++;
            if (p < lim) cut[k++] = p;
        }
        cut[k] = len;
        IdVec *parts = xcalloc((size_t)k, sizeof *parts);
        #pragma omp parallel for schedule(dynamic, 1)
        for (int c = 0; c < k; c++) encode_bytes(t, text + cut[c], cut[c + 1] - cut[c], allow_special, &parts[c]);
        for (int c = 0; c < k; c++) { idvec_append(&out, parts[c].v, parts[c].n); free(parts[c].v); }
        free(parts); free(cut);
    } else {
        encode_bytes(t, text, len, allow_special, &out);
    }
    if (!out.v) out.v = xmalloc(sizeof *out.v);
    *ids = out.v; *n = out.n;
    return 0;
}

int tok_decode(const Tokenizer *t, const int32_t *ids, size_t n, char **text, size_t *len) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->bpe.V || !t->bpe.present[id])
            return fail("token id %d at position %zu is not in the vocabulary (ids are 0..%d)", id, i, t->bpe.V - 1);
        total += t->bpe.len[id];
    }
    char *o = xmalloc(total + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) { memcpy(o + k, t->bpe.pool + t->bpe.off[ids[i]], t->bpe.len[ids[i]]); k += t->bpe.len[ids[i]]; }
    o[k] = 0;
    *text = o; *len = k;
    return 0;
}

int tok_token_bytes(const Tokenizer *t, int32_t id, const char **bytes, size_t *len) {
    if (id < 0 || id >= t->bpe.V || !t->bpe.present[id]) return -1;
    *bytes = t->bpe.pool + t->bpe.off[id]; *len = t->bpe.len[id];
    return 0;
}

int32_t tok_token_id(const Tokenizer *t, const char *token) {
    int64_t *v = bpe_map_find(&t->raw_to_id, token, strlen(token));
    return v ? (int32_t)*v : -1;
}

int tok_vocab_size(const Tokenizer *t) { return t->bpe.V; }
int32_t tok_bos(const Tokenizer *t) { return t->bos; }
int32_t tok_eos(const Tokenizer *t) { return t->eos; }
int32_t tok_pad(const Tokenizer *t) { return t->pad; }

static int cmp_added(const void *a, const void *b) {
    const AddedTok *x = a, *y = b;
    unsigned cx = x->n ? (unsigned char)x->s[0] : 0, cy = y->n ? (unsigned char)y->s[0] : 0;
    if (cx != cy) return cx < cy ? -1 : 1;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    return 0;
}

void tok_index_added(Tokenizer *t) {
    // drop empty contents (never matched)
    int k = 0;
    for (int i = 0; i < t->n_added; i++) { if (t->added[i].n) t->added[k++] = t->added[i]; else free(t->added[i].s); }
    t->n_added = k;
    if (t->n_added) qsort(t->added, (size_t)t->n_added, sizeof *t->added, cmp_added);
    int j = 0;
    for (int b = 0; b <= 256; b++) {
        while (j < t->n_added && (unsigned char)t->added[j].s[0] < b) j++;
        t->added_first[b] = j;
    }
}

void tok_free(Tokenizer *t) {
    if (!t) return;
    if (tl && tl->owner == t->uid) tl->owner = 0;
    bpe_model_free(&t->bpe);
    pretok_free(&t->pre);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].s);
    free(t->added);
    bpe_map_free(&t->raw_to_id);
    free(t->chat_template);
    free(t);
}
