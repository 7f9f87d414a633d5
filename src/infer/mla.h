// mla.h — Multi-head Latent Attention for inference (spec §2): projections,
// RMSNorm of c_kv, interleaved RoPE (YaRN), the latent cache, and attention in
// the absorbed form (MQA over [c_kv | k_pe], decode) or the naive form
// (k_nope/v expanded through kv_b, better for long prefill chunks).
#pragma once
#include "infer/kvcache.h"
#include "infer/weights.h"

// One sequence's slice of a batch: rows [row0, row0+n) of x are its new tokens
// at positions kv->len .. kv->len+n-1 (kv->len is advanced by the caller).
typedef struct { KVCache *kv; int row0, n, pos0, naive; } MlaSeq;

// Absorbed attention for up to this many new tokens of a sequence reads W_UK / W_UV straight from kv_b
// in its format (matvec kernels, one parallel step); more tokens dequantize kv_b to FP32 once and use GEMMs.
#define ABSORB_GEMV_MAX 4

// out[N, D] = MLA_l(x[N, D]) for the weights `ly` caching into layer `cl` of each
// sequence's cache (cl = l for main layers, L + k for MTP module k).
void mla_forward(const InferModel *m, const InferLayer *ly, int cl, const float *x, int N,
                 const MlaSeq *seq, int nseq, float *out);
// Shared small ops (also used by the engine).
void rmsnorm_rows(const float *x, const float *w, int N, int n, float eps, float *y);  // y[N,n]
void rope_rows(const InferModel *m, float *v, int n, size_t ld, int pos);   // rotate n [d_rope] vectors (at v + j·ld) in place
