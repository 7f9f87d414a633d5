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
    int bf16;        // rows stored as BF16 (set before the first kv_reserve)
} KVCache;

void kv_init(KVCache *kv, const Config *c, int n_layers, int max_len);   // FP32 rows; set kv->bf16 = 1 for BF16
void kv_free(KVCache *kv);
// Make room for positions [0, n); fails when n > max_len.
int kv_reserve(KVCache *kv, int n);
// Row of layer l at position s of an FP32 cache: [width] = [c_kv (r_kv) | k_pe (d_rope)].
static inline float *kv_row(const KVCache *kv, int l, int s) {
    return kv->blocks[s / KV_BLOCK] + ((size_t)l * KV_BLOCK + (size_t)(s % KV_BLOCK)) * kv->width;
}
// Store a row [width] (rounded to BF16 in a BF16 cache).
void kv_write_row(KVCache *kv, int l, int s, const float *row);
// Rows [b0, b0+n) of layer l (within one block: b0 % KV_BLOCK + n <= KV_BLOCK) as FP32 [n, width]:
// a pointer into the cache (FP32) or into tmp (BF16, decoded there; tmp holds KV_BLOCK rows).
const float *kv_block_f32(const KVCache *kv, int l, int b0, int n, float *tmp);
// Forget tokens from position n on (keeps the memory).
void kv_truncate(KVCache *kv, int n);
// Bytes per token (all layers) and bytes allocated.
size_t kv_bytes_per_token(const KVCache *kv);
size_t kv_bytes_allocated(const KVCache *kv);
