// minhash.h — near-duplicate detection: MinHash signatures over word n-grams of simplified text
// (lowercase, digits → 0, punctuation removed, whitespace collapsed), LSH banding (bands × rows),
// and union-find clustering of documents that share a band.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int bands, rows, ngram;   // 14 × 8 over word 5-grams
    uint64_t *a, *b;          // [bands*rows] hash family h_i(x) = (a_i x + b_i) >> 32
} MinHasher;

typedef struct { uint64_t *wh; size_t cap; } MinhashScratch;   // per-thread word hashes

void minhash_init(MinHasher *m, int bands, int rows, int ngram, uint64_t seed);
void minhash_free(MinHasher *m);
// sig: [bands*rows]. Returns the number of shingles (0: no words; sig all UINT32_MAX).
// A document with fewer than ngram words is one shingle of all its words.
size_t minhash_signature(const MinHasher *m, MinhashScratch *s, const char *text, size_t n, uint32_t *sig);
// keys: [bands], one hash per band (never 0).
void minhash_band_keys(const MinHasher *m, const uint32_t *sig, uint64_t *keys);
// Fraction of equal signature entries (estimates Jaccard similarity).
double minhash_similarity(const uint32_t *s1, const uint32_t *s2, int k);
// Exact Jaccard similarity of the shingle sets of two texts (for tests and audits).
double shingle_jaccard(const char *a, size_t na, const char *b, size_t nb, int ngram);
// Cluster n items by shared band keys ([n][bands], rows with all keys 0 are skipped).
// root[i] = the smallest index in i's cluster.
void lsh_cluster(const uint64_t *keys, size_t n, int bands, uint32_t *root);
void minhash_scratch_free(MinhashScratch *s);
