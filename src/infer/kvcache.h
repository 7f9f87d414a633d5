// kvcache.h — MLA's latent KV cache for one sequence: per token per layer the
// normalized c_kv [r_kv] and the rotated k_pe [d_rope] (spec §2.4), FP32, in
// blocks of KV_BLOCK tokens so that it grows without copying. Prefix reuse:
// keep the cache and cut `len` back to the shared prefix (kv_truncate).
#pragma once
#include <stddef.h>
#include "model/config.h"

#define KV_BLOCK 64

typedef struct {
    int L;           // layers held (main + MTP)
    int width;       // r_kv + d_rope
    int r_kv;
    int len;         // tokens whose rows are filled
    int cap;         // tokens the allocated blocks hold
    int max_len;     // refuse to grow past this (the context), 0 = no limit
    float **blocks;  // [nblocks] each [L, KV_BLOCK, width]
    int nblocks;
} KVCache;

void kv_init(KVCache *kv, const Config *c, int n_layers, int max_len);
void kv_free(KVCache *kv);
// Make room for positions [0, n); fails when n > max_len.
int kv_reserve(KVCache *kv, int n);
// Row of layer l at position s: [width] = [c_kv (r_kv) | k_pe (d_rope)].
static inline float *kv_row(const KVCache *kv, int l, int s) {
    return kv->blocks[s / KV_BLOCK] + ((size_t)l * KV_BLOCK + (size_t)(s % KV_BLOCK)) * kv->width;
}
// Forget tokens from position n on (keeps the memory).
void kv_truncate(KVCache *kv, int n);
// Bytes per token (all layers) and bytes allocated.
size_t kv_bytes_per_token(const KVCache *kv);
size_t kv_bytes_allocated(const KVCache *kv);
