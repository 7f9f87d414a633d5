// kvcache.h — MLA's latent KV cache for one sequence: per token per layer the
// normalized c_kv [r_kv] and the rotated k_pe [d_rope] (spec §2.4), in blocks of
// KV_BLOCK tokens so that it grows without copying. Prefix reuse: keep the cache
// and cut `len` back to the shared prefix (kv_truncate).
//
// Row formats (kv->dtype, set before the first kv_reserve):
//   KV_F32       [c_kv | k_pe] as FP32: 4 (r_kv + d_rope) bytes.
//   KV_BF16      the same rounded to BF16: 2 (r_kv + d_rope) bytes.
//   KV_FP8       c_kv as E4M3 with one FP32 scale per 128 values (amax / 448, kernels/fp8.h), k_pe in
//                BF16 (as FlashMLA's FP8 cache): [scales (ceil(r_kv/128) FP32) | c_kv codes | k_pe BF16],
//                padded to 4 bytes: 656 B for r_kv 512, d_rope 64.
//   KV_FP8_ROPE  k_pe in E4M3 too, with its own scale: 596 B for 512 + 64 (measured: worse attention
//                error for 9% fewer bytes, see docs/inference.md; kept for that comparison).
//   KV_I8        c_kv and k_pe as int8 in groups of 128 (k_pe its own groups), one FP32 scale amax / 127 per
//                group, codes stored offset by 128 (u8 = q + 128, q in -127..127): [scales | codes], 596 B for
//                512 + 64. The layout kernels/latent_attn.h's integer scores read (VNNI) without decoding.
#pragma once
#include <stddef.h>
#include "model/config.h"

#define KV_BLOCK 64

typedef enum { KV_F32 = 0, KV_BF16 = 1, KV_FP8 = 2, KV_FP8_ROPE = 3, KV_I8 = 4 } KVDtype;
#define KV_NDTYPES 5

typedef struct {
    int L;           // layers held (main + MTP)
    int width;       // r_kv + d_rope (values per row, decoded)
    int r_kv;
    int len;         // tokens whose rows are filled
    int cap;         // tokens the allocated blocks hold
    int max_len;     // refuse to grow past this (the context), 0 = no limit
    float **blocks;  // [nblocks] each [L, KV_BLOCK] rows of kv_row_bytes bytes
    int nblocks;
    // KVDtype of the rows. `bf16` is its older name, still read by callers as "rows are not FP32
    // (decode them through tmp)", and `bf16 = 1` still selects BF16.
    union { int dtype; int bf16; };
} KVCache;

void kv_init(KVCache *kv, const Config *c, int n_layers, int max_len);   // FP32 rows; set kv->dtype to change
void kv_free(KVCache *kv);
// "f32"/"fp32", "bf16", "fp8", "fp8-rope", "int8" -> KVDtype; fails naming the accepted values.
int kv_dtype_parse(const char *s, int *dtype);
const char *kv_dtype_name(int dtype);
// Bytes of one row (one token, one layer) in a format, for r_kv + d_rope values.
size_t kv_row_bytes(int dtype, int r_kv, int d_rope);
// Make room for positions [0, n); fails when n > max_len.
int kv_reserve(KVCache *kv, int n);
// Row of layer l at position s of an FP32 cache: [width] = [c_kv (r_kv) | k_pe (d_rope)].
static inline float *kv_row(const KVCache *kv, int l, int s) {
    return kv->blocks[s / KV_BLOCK] + ((size_t)l * KV_BLOCK + (size_t)(s % KV_BLOCK)) * kv->width;
}
// Store a row [width] (rounded to the cache's format).
void kv_write_row(KVCache *kv, int l, int s, const float *row);
// Rows [b0, b0+n) of layer l (within one block: b0 % KV_BLOCK + n <= KV_BLOCK) as FP32 [n, width]:
// a pointer into the cache (FP32) or into tmp (other formats, decoded there; tmp holds KV_BLOCK rows).
const float *kv_block_f32(const KVCache *kv, int l, int b0, int n, float *tmp);
// One row in a format and back, without a cache (what kv_write_row + kv_block_f32 do to it):
// enc [kv_row_bytes] <- row [r_kv + d_rope]; row [r_kv + d_rope] <- enc.
void kv_encode_row(int dtype, int r_kv, int d_rope, const float *row, unsigned char *enc);
void kv_decode_row(int dtype, int r_kv, int d_rope, const unsigned char *enc, float *row);
// Rows [b0, b0+n) of layer l (within one block) as stored: n rows of kv_row_bytes bytes each, consecutive.
const unsigned char *kv_block_raw(const KVCache *kv, int l, int b0);
// Forget tokens from position n on (keeps the memory).
void kv_truncate(KVCache *kv, int n);
// Bytes per token (all layers) and bytes allocated.
size_t kv_bytes_per_token(const KVCache *kv);
size_t kv_bytes_allocated(const KVCache *kv);
