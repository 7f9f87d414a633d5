// fp8.h — FP8 numerics as DeepSeek-V3 uses them (spec §6): E4M3 / E5M2 codecs, 1x128 activation
// tiles, 128x128 weight blocks with FP32 scales, dequantization and the blockwise FP8 GEMM.
//
// Codec semantics (equal to PyTorch's float8_e4m3fn / float8_e5m2 casts of x.clamp(-max, max)):
//  * E4M3 "fn": bias 7, no infinities, max finite 448, NaN = 0x7f / 0xff.
//  * E5M2: bias 15, max finite 57344, inf = 0x7c / 0xfc, NaN = 0x7f / 0xff.
//  * Encoding rounds to nearest, ties to even, and SATURATES: any finite |x| above the max finite
//    value and ±inf encode as ±max ("satfinite"); NaN encodes as 0x7f | sign.
//    (Plain torch casts differ only there: they give NaN (E4M3) or inf (E5M2) on overflow.)
// Scales: s = max(amax, 1e-4) / 448 (FP32); with ue8m0 = 1, s is rounded up to a power of two
// (2^ceil(log2 s)). q = e4m3(x / s); dequantize x ≈ q · s. Scale tensors hold s itself, which
// is what DeepSeek-V3 checkpoints call `weight_scale_inv`.
// Tiles/blocks at the right or bottom edge may be partial (K or rows not multiples of 128);
// they are quantized as if zero-padded, so scale shapes are always ceil(.../128).
#pragma once
#include <stddef.h>
#include <stdint.h>

#define FP8_BLOCK 128          // tile / block edge
#define FP8_E4M3_MAX 448.0f
#define FP8_E5M2_MAX 57344.0f
#define FP8_AMAX_MIN 1e-4f     // amax clamp before computing a scale

uint8_t fp8_e4m3_from_f32(float x);           // encode: RNE, saturating, NaN -> 0x7f|sign
float   fp8_e4m3_to_f32(uint8_t q);           // decode by bit arithmetic (reference)
uint8_t fp8_e5m2_from_f32(float x);           // encode: RNE, saturating, NaN -> 0x7f|sign
float   fp8_e5m2_to_f32(uint8_t q);           // decode by bit arithmetic (reference)
const float *fp8_e4m3_table(void);            // 256-entry decode table (fast decode: table[q])
const float *fp8_e5m2_table(void);            // 256-entry decode table

// Rows of codes: q[i] = e4m3(x[i]) / x[i] = table[q[i]] * scale (AVX2 when available; identical
// results to the scalar functions, NaN codes included).
void fp8_e4m3_encode_row(const float *x, uint8_t *q, size_t n);               // [n] -> [n], no scaling
void fp8_e4m3_decode_row(const uint8_t *q, float scale, float *x, size_t n);  // x = decode(q) * scale

// Scale from an absolute maximum: max(amax, 1e-4) / 448, rounded up to 2^k when ue8m0.
float fp8_scale_from_amax(float amax, int ue8m0);

// 1x128 activation tiles (spec §6.3): x [M, K] -> q [M, K], s [M, ceil(K/128)].
void fp8_quant_act(const float *x, int M, int K, uint8_t *q, float *s, int ue8m0);
void fp8_dequant_act(const uint8_t *q, const float *s, int M, int K, float *x);   // x [M, K]

// 128x128 weight blocks (spec §6.3): w [R, C] -> q [R, C], s [ceil(R/128), ceil(C/128)].
void fp8_quant_weight(const float *w, int R, int C, uint8_t *q, float *s, int ue8m0);
void fp8_dequant_weight(const uint8_t *q, const float *s, int R, int C, float *w); // w [R, C]

// Blockwise FP8 GEMM C = A·Bᵀ (spec §6.4): A codes [M, K] with scales sa [M, ceil(K/128)],
// B codes [N, K] with 128x128 scales sb [ceil(N/128), ceil(K/128)], C [M, N] FP32.
// _ref: the literal per-128 formula C = Σ_kb sa·sb·(Σ_k qa·qb), FP32 accumulation.
// fast: dequantizes panels and uses BLAS sgemm (equal to _ref up to FP32 rounding).
void fp8_gemm_ref(const uint8_t *qa, const float *sa, int M, int K,
                  const uint8_t *qb, const float *sb, int N, float *C);
void fp8_gemm(const uint8_t *qa, const float *sa, int M, int K,
              const uint8_t *qb, const float *sb, int N, float *C);
