// minhash.c — MinHash signatures, LSH band keys, union-find clusters.
#include "curate/minhash.h"
#include "base/check.h"
#include "base/rng.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

void minhash_init(MinHasher *m, int bands, int rows, int ngram, uint64_t seed) {
    m->bands = bands; m->rows = rows; m->ngram = ngram;
    int k = bands * rows;
    m->a = xmalloc(k * sizeof(uint64_t)); m->b = xmalloc(k * sizeof(uint64_t));
    Rng r;
    rng_seed_stream(&r, seed, 0x6d696e68617368ull);
    for (int i = 0; i < k; i++) { m->a[i] = rng_u64(&r) | 1; m->b[i] = rng_u64(&r); }
}

void minhash_free(MinHasher *m) { free(m->a); free(m->b); m->a = m->b = NULL; }
void minhash_scratch_free(MinhashScratch *s) { free(s->wh); s->wh = NULL; s->cap = 0; }

// Hashes of the simplified words of text into s->wh; returns the count.
static size_t simple_words(MinhashScratch *s, const char *t, size_t n) {
    size_t nw = 0;
    char w[256]; size_t wl = 0;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = i < n ? (unsigned char)t[i] : ' ';
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            if (wl) {
                if (nw == s->cap) { s->cap = s->cap ? 2 * s->cap : 4096; s->wh = xrealloc(s->wh, s->cap * sizeof(uint64_t)); }
                s->wh[nw++] = XXH3_64bits(w, wl < sizeof w ? wl : sizeof w);
                wl = 0;
            }
            continue;
        }
        if (c < 0x80 && ispunct(c)) continue;
        if (c >= '0' && c <= '9') c = '0';
        else if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
        if (wl < sizeof w) w[wl] = (char)c;
        wl++;    // words longer than 256 bytes hash their first 256 bytes
    }
    return nw;
}

static inline uint64_t mix_ngram(const uint64_t *wh, int n) {
    uint64_t h = 0x243F6A8885A308D3ull;
    for (int k = 0; k < n; k++) { h ^= wh[k]; h *= 0x100000001B3ull; h ^= h >> 29; }
    return h ^ (h >> 32);
}

size_t minhash_signature(const MinHasher *m, MinhashScratch *s, const char *text, size_t n, uint32_t *sig) {
    int K = m->bands * m->rows;
    for (int i = 0; i < K; i++) sig[i] = UINT32_MAX;
    size_t nw = simple_words(s, text, n);
    if (!nw) return 0;
    int g = m->ngram;
    size_t ns = nw >= (size_t)g ? nw - g + 1 : 1;
    int gl = nw >= (size_t)g ? g : (int)nw;
    const uint64_t *A = m->a, *B = m->b;
    for (size_t j = 0; j < ns; j++) {
        uint64_t x = (uint32_t)mix_ngram(s->wh + j, gl);
        for (int i = 0; i < K; i++) {
            uint32_t v = (uint32_t)((A[i] * x + B[i]) >> 32);
            sig[i] = v < sig[i] ? v : sig[i];
        }
    }
    return ns;
}

void minhash_band_keys(const MinHasher *m, const uint32_t *sig, uint64_t *keys) {
    for (int b = 0; b < m->bands; b++) {
        uint64_t h = XXH3_64bits_withSeed(sig + (size_t)b * m->rows, (size_t)m->rows * sizeof(uint32_t), (uint64_t)b);
        keys[b] = h ? h : 1;
    }
}

double minhash_similarity(const uint32_t *s1, const uint32_t *s2, int k) {
    int eq = 0;
    for (int i = 0; i < k; i++) eq += s1[i] == s2[i];
    return (double)eq / k;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

double shingle_jaccard(const char *a, size_t na, const char *b, size_t nb, int g) {
    MinhashScratch s = {0};
    uint64_t *sh[2]; size_t cnt[2];
    const char *t[2] = {a, b}; size_t len[2] = {na, nb};
    for (int d = 0; d < 2; d++) {
        size_t nw = simple_words(&s, t[d], len[d]);
        size_t ns = nw >= (size_t)g ? nw - g + 1 : (nw ? 1 : 0);
        int gl = nw >= (size_t)g ? g : (int)nw;
        sh[d] = xmalloc((ns + 1) * sizeof(uint64_t));
        for (size_t j = 0; j < ns; j++) sh[d][j] = mix_ngram(s.wh + j, gl);
        qsort(sh[d], ns, sizeof(uint64_t), cmp_u64);
        size_t u = 0;
        for (size_t j = 0; j < ns; j++) if (!u || sh[d][j] != sh[d][u - 1]) sh[d][u++] = sh[d][j];
        cnt[d] = u;
    }
    size_t i = 0, j = 0, inter = 0;
    while (i < cnt[0] && j < cnt[1]) {
        if (sh[0][i] == sh[1][j]) { inter++; i++; j++; }
        else if (sh[0][i] < sh[1][j]) i++;
        else j++;
    }
    size_t uni = cnt[0] + cnt[1] - inter;
    free(sh[0]); free(sh[1]); minhash_scratch_free(&s);
    return uni ? (double)inter / uni : 1.0;
}

static uint32_t find(uint32_t *p, uint32_t x) {
    while (p[x] != x) { p[x] = p[p[x]]; x = p[x]; }
    return x;
}

typedef struct { uint64_t key; uint32_t idx; } KeyIdx;

static int cmp_ki(const void *a, const void *b) {
    const KeyIdx *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

void lsh_cluster(const uint64_t *keys, size_t n, int bands, uint32_t *root) {
    for (size_t i = 0; i < n; i++) root[i] = (uint32_t)i;
    KeyIdx *v = xmalloc((n + 1) * sizeof(KeyIdx));
    for (int b = 0; b < bands; b++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t k = keys[i * bands + b];
            if (k) v[m++] = (KeyIdx){k, (uint32_t)i};
        }
        qsort(v, m, sizeof(KeyIdx), cmp_ki);
        for (size_t i = 1; i < m; i++) {
            if (v[i].key != v[i - 1].key) continue;
            uint32_t ra = find(root, v[i - 1].idx), rb = find(root, v[i].idx);
            if (ra < rb) root[rb] = ra; else if (rb < ra) root[ra] = rb;
        }
    }
    for (size_t i = 0; i < n; i++) root[i] = find(root, (uint32_t)i);
    free(v);
}
