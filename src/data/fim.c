// fim.c — fill-in-the-middle, prefix-suffix-middle order, split at UTF-8 character boundaries.
#include "data/fim.h"
#include "base/rng.h"
#include <string.h>

// A byte starts a character unless it is a UTF-8 continuation byte (10xxxxxx).
// (Invalid sequences are split the same way: stray continuation bytes stay with
// the byte before them, so every piece is still a run of whole "characters".)
static int is_start(unsigned char c) { return (c & 0xC0) != 0x80; }

// Byte offset of the k-th character boundary (k = 0 .. nchars; nchars is at len).
static size_t boundary(const char *text, size_t len, size_t k) {
    if (k == 0) return 0;
    size_t seen = 0;
    for (size_t i = 1; i < len; i++)
        if (is_start((unsigned char)text[i]) && ++seen == k) return i;
    return len;
}

int fim_split(const FimConfig *c, uint64_t key, const char *text, size_t len, size_t *a, size_t *b) {
    *a = *b = 0;
    if (c->rate <= 0 || len == 0) return 0;
    Rng r;
    rng_seed_stream(&r, c->seed, key);
    if (rng_uniform(&r) >= c->rate) return 0;
    size_t nchars = 0;   // boundaries inside the text: character starts after byte 0
    for (size_t i = 1; i < len; i++) nchars += is_start((unsigned char)text[i]);
    nchars += 1;         // characters = starts after 0, plus the first one
    // boundaries are 0 .. nchars (nchars + 1 of them); pick two uniformly, order them
    size_t i = (size_t)rng_below(&r, nchars + 1), j = (size_t)rng_below(&r, nchars + 1);
    if (i > j) { size_t t = i; i = j; j = t; }
    *a = boundary(text, len, i);
    *b = boundary(text, len, j);
    return 1;
}

size_t fim_assemble(const FimTokens *ft, const int32_t *pre, size_t n_pre, const int32_t *suf, size_t n_suf,
                    const int32_t *mid, size_t n_mid, int32_t *out) {
    size_t k = 0;
    out[k++] = ft->begin;
    if (n_pre) memcpy(out + k, pre, n_pre * sizeof *out);
    k += n_pre;
    out[k++] = ft->hole;
    if (n_suf) memcpy(out + k, suf, n_suf * sizeof *out);
    k += n_suf;
    out[k++] = ft->end;
    if (n_mid) memcpy(out + k, mid, n_mid * sizeof *out);
    return k + n_mid;
}

long fim_restore(const FimTokens *ft, const int32_t *ids, size_t n, int32_t *out) {
    if (n < 3 || ids[0] != ft->begin) return -1;
    size_t h = 1;
    while (h < n && ids[h] != ft->hole) h++;
    size_t e = h + 1;
    while (e < n && ids[e] != ft->end) e++;
    if (h >= n || e >= n) return -1;
    size_t k = 0;
    memcpy(out + k, ids + 1, (h - 1) * sizeof *out); k += h - 1;            // prefix
    memcpy(out + k, ids + e + 1, (n - e - 1) * sizeof *out); k += n - e - 1; // middle
    memcpy(out + k, ids + h + 1, (e - h - 1) * sizeof *out); k += e - h - 1; // suffix
    return (long)k;
}
