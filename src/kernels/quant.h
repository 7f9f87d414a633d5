// quant.h — int8 and int4 block quantization (32 values per block, one fp16 scale per block)
// and int8 activations for integer dot products. Layouts (also in docs/formats.md):
//
//  Q8 weights, a row of n values (n % 32 == 0):
//    q  int8  [n]       q[i] = clamp(rne(x[i] / d_b), -127, 127),  b = i / 32
//    d  fp16  [n / 32]  d_b = amax_b / 127 (rounded to fp16 first; quantization uses the fp16 value)
//    x[i] ≈ d_b · q[i]                                           (8.5 bits per weight, as llama.cpp Q8_0)
//  Q4 weights, a row of n values (n % 32 == 0):
//    q  uint8 [n / 2]   block b owns bytes 16b .. 16b+15; byte 16b+j holds value 32b+j in its low
//                       nibble and value 32b+j+16 in its high nibble; nibble = clamp(rne(x/d_b), -8, 7) + 8
//    d  fp16  [n / 32]  d_b = m_b / -8 where m_b is the block's value of largest magnitude (sign kept),
//                       so that value maps to nibble 0 exactly (as llama.cpp Q4_0)
//    x ≈ d_b · (nibble - 8)                                      (4.5 bits per weight)
//  A8 activations (transient), a row of n values (n % 32 == 0):
//    q  int8  [n]       q[i] = rne(x[i] / d_b) ∈ [-127, 127]
//    d  fp32  [n / 32]  d_b = amax_b / 127 (0 for an all-zero block)
// rne = round to nearest, ties to even. An all-zero block has d = 0 and q = 0 (nibble 8).
// Dot products sum integer products per block exactly (int32) and scale by d_w·d_a in FP32.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define QBLOCK 32   // values per block

void q8_quantize_row(const float *x, int n, int8_t *q, uint16_t *d);      // x [n] -> q [n], d [n/32]
void q8_dequantize_row(const int8_t *q, const uint16_t *d, int n, float *x);
void q4_quantize_row(const float *x, int n, uint8_t *q, uint16_t *d);     // x [n] -> q [n/2], d [n/32]
void q4_dequantize_row(const uint8_t *q, const uint16_t *d, int n, float *x);

void a8_quantize_row_ref(const float *x, int n, int8_t *q, float *d);     // scalar reference
void a8_quantize_row(const float *x, int n, int8_t *q, float *d);         // AVX2; identical output

// Σ_b d_w[b]·d_a[b]·Σ_{i in b} w_q[i]·a_q[i] over a row of n (n % 32 == 0).
float q8_dot_ref(const int8_t *wq, const uint16_t *wd, const int8_t *aq, const float *ad, int n);
float q8_dot(const int8_t *wq, const uint16_t *wd, const int8_t *aq, const float *ad, int n);
float q4_dot_ref(const uint8_t *wq, const uint16_t *wd, const int8_t *aq, const float *ad, int n);
float q4_dot(const uint8_t *wq, const uint16_t *wd, const int8_t *aq, const float *ad, int n);
