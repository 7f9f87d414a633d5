// bpe.c — BPE model: vocabulary, merge-rank hash, word encoding by lowest-rank merges.
#include "data/bpe.h"
#include "base/check.h"
#include <stdlib.h>
#include <string.h>

void idvec_push(IdVec *a, int32_t x) {
    if (a->n == a->cap) { a->cap = a->cap ? a->cap * 2 : 64; a->v = xrealloc(a->v, a->cap * sizeof *a->v); }
    a->v[a->n++] = x;
}

void idvec_append(IdVec *a, const int32_t *x, size_t n) {
    if (a->n + n > a->cap) {
        while (a->n + n > a->cap) a->cap = a->cap ? a->cap * 2 : 64;
        a->v = xrealloc(a->v, a->cap * sizeof *a->v);
    }
    memcpy(a->v + a->n, x, n * sizeof *x);
    a->n += n;
}

// ---- GPT-2 byte map: printable Latin-1 bytes map to themselves, the other 68 to 256.. in order.
static int printable(int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255); }

uint32_t bpe_byte_char(uint8_t b) {
    static uint32_t map[256];
    static int init = 0;
    if (!__atomic_load_n(&init, __ATOMIC_ACQUIRE)) {
        uint32_t tmp[256]; int k = 0;
        for (int i = 0; i < 256; i++) tmp[i] = printable(i) ? (uint32_t)i : (uint32_t)(256 + k++);
        memcpy(map, tmp, sizeof map);
        __atomic_store_n(&init, 1, __ATOMIC_RELEASE);
    }
    return map[b];
}

int bpe_char_byte(uint32_t cp) {
    if (cp < 256) return printable((int)cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    int k = 0;
    for (int i = 0; i < 256; i++) if (!printable(i)) { if ((uint32_t)(256 + k) == cp) return i; k++; }
    return -1;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) { o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 63)); o[2] = (char)(0x80 | (cp & 63)); return 3; }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 63)); o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

char *bpe_bytes_to_chars(const uint8_t *b, size_t n, size_t *outn) {
    char *o = xmalloc(n * 2 + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += put_utf8(o + k, bpe_byte_char(b[i]));
    o[k] = 0;
    *outn = k;
    return o;
}

// Decode one UTF-8 code point of a known-valid string; returns its length.
static size_t get_utf8(const unsigned char *s, size_t n, uint32_t *cp) {
    if (s[0] < 0x80 || n < 2) { *cp = s[0]; return 1; }
    if ((s[0] & 0xE0) == 0xC0) { *cp = ((uint32_t)(s[0] & 31) << 6) | (s[1] & 63); return 2; }
    if ((s[0] & 0xF0) == 0xE0 && n >= 3) { *cp = ((uint32_t)(s[0] & 15) << 12) | ((uint32_t)(s[1] & 63) << 6) | (s[2] & 63); return 3; }
    if (n >= 4) { *cp = ((uint32_t)(s[0] & 7) << 18) | ((uint32_t)(s[1] & 63) << 12) | ((uint32_t)(s[2] & 63) << 6) | (s[3] & 63); return 4; }
    *cp = s[0]; return 1;
}

// ---- model
void bpe_model_init(BpeModel *m, int32_t V) {
    memset(m, 0, sizeof *m);
    m->V = V;
    m->off = xcalloc((size_t)V + 1, sizeof *m->off);
    m->len = xcalloc((size_t)V + 1, sizeof *m->len);
    m->present = xcalloc((size_t)V + 1, 1);
    m->byte_form = xcalloc((size_t)V + 1, 1);
    m->pool_cap = 1 << 16;
    m->pool = xmalloc(m->pool_cap);
    bpe_map_init(&m->bytes_to_id, (size_t)V);
    for (int i = 0; i < 256; i++) m->byte_id[i] = -1;
    m->mcap = 1024;
    m->mkey = xcalloc(m->mcap, sizeof *m->mkey);
    m->mval = xcalloc(m->mcap, sizeof *m->mval);
    m->unk_id = -1;
}

void bpe_model_free(BpeModel *m) {
    free(m->off); free(m->len); free(m->present); free(m->byte_form); free(m->pool);
    bpe_map_free(&m->bytes_to_id);
    free(m->mkey); free(m->mval);
    memset(m, 0, sizeof *m);
}

int bpe_model_set_token(BpeModel *m, int32_t id, const char *s, size_t n) {
    if (id < 0 || id >= m->V || m->present[id]) return -1;
    // byte form: every character must be a byte-level character
    char *tmp = xmalloc(n + 1);
    size_t k = 0; int ok = 1;
    for (size_t i = 0; i < n;) {
        uint32_t cp; i += get_utf8((const unsigned char *)s + i, n - i, &cp);
        int b = bpe_char_byte(cp);
        if (b < 0) { ok = 0; break; }
        tmp[k++] = (char)b;
    }
    const char *src = ok ? tmp : s;
    size_t sl = ok ? k : n;
    if (m->pool_len + sl > m->pool_cap) {
        while (m->pool_len + sl > m->pool_cap) m->pool_cap *= 2;
        m->pool = xrealloc(m->pool, m->pool_cap);
    }
    memcpy(m->pool + m->pool_len, src, sl);
    m->off[id] = (uint32_t)m->pool_len; m->len[id] = (uint32_t)sl;
    m->pool_len += sl;
    m->present[id] = 1;
    m->byte_form[id] = (uint8_t)ok;
    if (ok && sl > 0) {
        int added;
        int64_t *v = bpe_map_put(&m->bytes_to_id, src, sl, id, &added);
        (void)v;  // a duplicate byte string keeps its first id
        if (sl == 1 && m->byte_id[(uint8_t)src[0]] < 0) m->byte_id[(uint8_t)src[0]] = id;
    }
    free(tmp);
    return 0;
}

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
    return x;
}

static void merge_insert(uint64_t *keys, uint64_t *vals, size_t cap, uint64_t k, uint64_t v, int keep) {
    size_t i = mix64(k) & (cap - 1);
    while (keys[i] && keys[i] != k) i = (i + 1) & (cap - 1);
    if (keys[i] == k && keep) return;
    keys[i] = k; vals[i] = v;
}

void bpe_model_add_merge(BpeModel *m, int32_t a, int32_t b, int32_t new_id, int32_t rank) {
    if ((m->n_merges + 1) * 2 > m->mcap) {
        size_t oc = m->mcap; uint64_t *ok = m->mkey, *ov = m->mval;
        m->mcap *= 2;
        m->mkey = xcalloc(m->mcap, sizeof *m->mkey);
        m->mval = xcalloc(m->mcap, sizeof *m->mval);
        for (size_t i = 0; i < oc; i++) if (ok[i]) merge_insert(m->mkey, m->mval, m->mcap, ok[i], ov[i], 0);
        free(ok); free(ov);
    }
    // key +1 on each half so that pair (0,0) is not the empty marker
    uint64_t k = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
    size_t before = m->n_merges;
    size_t i = mix64(k) & (m->mcap - 1);
    while (m->mkey[i] && m->mkey[i] != k) i = (i + 1) & (m->mcap - 1);
    if (m->mkey[i] == k) return;   // duplicate pair: first rank wins
    m->mkey[i] = k; m->mval[i] = ((uint64_t)(uint32_t)rank << 32) | (uint32_t)new_id;
    m->n_merges = before + 1;
}

int bpe_model_merge(const BpeModel *m, int32_t a, int32_t b, int32_t *rank, int32_t *new_id) {
    uint64_t k = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
    size_t mask = m->mcap - 1, i = mix64(k) & mask;
    for (;;) {
        uint64_t s = m->mkey[i];
        if (!s) return 0;
        if (s == k) { *rank = (int32_t)(m->mval[i] >> 32); *new_id = (int32_t)(uint32_t)m->mval[i]; return 1; }
        i = (i + 1) & mask;
    }
}

// ---- word encoding
typedef struct { int32_t rank, pos, new_id; } Cand;   // heap entry: lowest (rank, pos) first

static inline int cand_less(Cand x, Cand y) { return x.rank < y.rank || (x.rank == y.rank && x.pos < y.pos); }

static void heap_push(Cand *h, size_t *n, Cand c) {
    size_t i = (*n)++;
    while (i > 0) { size_t p = (i - 1) / 2; if (!cand_less(c, h[p])) break; h[i] = h[p]; i = p; }
    h[i] = c;
}

static Cand heap_pop(Cand *h, size_t *n) {
    Cand top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        Cand best = last;
        if (l < *n && cand_less(h[l], best)) { s = l; best = h[l]; }
        if (r < *n && cand_less(h[r], best)) { s = r; }
        if (s == i) break;
        h[i] = h[s]; i = s;
    }
    if (*n) h[i] = last;
    return top;
}

void bpe_encode_word(const BpeModel *m, const uint8_t *w, size_t n, IdVec *out) {
    if (!n) return;
    if (m->ignore_merges) {
        int64_t *v = bpe_map_find(&m->bytes_to_id, w, n);
        if (v) { idvec_push(out, (int32_t)*v); return; }
    }
    int32_t sbuf[64 * 3];
    int32_t *sym = n <= 64 ? sbuf : xmalloc(n * 3 * sizeof *sym);
    int32_t *prev = sym + n, *next = sym + 2 * n;
    // initial symbols: bytes; a byte missing from the vocabulary becomes unk (fused if asked) or is dropped
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = m->byte_id[w[i]];
        if (id < 0) {
            if (m->unk_id < 0) continue;
            if (m->fuse_unk && k > 0 && sym[k - 1] == m->unk_id) continue;
            id = m->unk_id;
        }
        sym[k++] = id;
    }
    n = k;
    if (n <= 24) {
        // short words: rescan for the lowest-ranked pair, leftmost first
        for (;;) {
            int32_t best = INT32_MAX, best_new = -1; size_t bi = 0;
            for (size_t i = 0; i + 1 < n; i++) {
                int32_t r, nid;
                if (bpe_model_merge(m, sym[i], sym[i + 1], &r, &nid) && r < best) { best = r; best_new = nid; bi = i; }
            }
            if (best_new < 0) break;
            sym[bi] = best_new;
            memmove(sym + bi + 1, sym + bi + 2, (n - bi - 2) * sizeof *sym);
            n--;
        }
        idvec_append(out, sym, n);
    } else {
        // long words: doubly linked symbols and a heap of candidate merges
        Cand *h = xmalloc(n * 2 * sizeof *h); size_t hn = 0, hcap = n * 2;
        for (size_t i = 0; i < n; i++) { prev[i] = (int32_t)i - 1; next[i] = i + 1 < n ? (int32_t)i + 1 : -1; }
        for (size_t i = 0; i + 1 < n; i++) {
            int32_t r, nid;
            if (bpe_model_merge(m, sym[i], sym[i + 1], &r, &nid)) heap_push(h, &hn, (Cand){r, (int32_t)i, nid});
        }
        while (hn) {
            Cand c = heap_pop(h, &hn);
            int32_t p = c.pos;
            if (sym[p] < 0 || next[p] < 0) continue;
            int32_t q = next[p], r, nid;
            if (!bpe_model_merge(m, sym[p], sym[q], &r, &nid) || nid != c.new_id) continue;
            sym[p] = nid;
            sym[q] = -1;
            next[p] = next[q];
            if (next[q] >= 0) prev[next[q]] = p;
            if (hn + 2 > hcap) { hcap *= 2; h = xrealloc(h, hcap * sizeof *h); }
            if (prev[p] >= 0 && bpe_model_merge(m, sym[prev[p]], sym[p], &r, &nid))
                heap_push(h, &hn, (Cand){r, prev[p], nid});
            if (next[p] >= 0 && bpe_model_merge(m, sym[p], sym[next[p]], &r, &nid))
                heap_push(h, &hn, (Cand){r, p, nid});
        }
        for (int32_t i = n ? 0 : -1; i >= 0; i = next[i]) idvec_push(out, sym[i]);
        free(h);
    }
    if (sym != sbuf) free(sym);
}
