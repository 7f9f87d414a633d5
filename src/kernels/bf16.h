// bf16.h — 16-bit float formats: bfloat16 and IEEE half (fp16), scalar and row conversions.
//
// bf16 = the top 16 bits of an fp32 (1 sign, 8 exponent, 7 mantissa); fp16 = IEEE binary16
// (1, 5, 10). Encoders round to nearest, ties to even; NaN stays NaN (quiet); fp16 overflow
// gives ±inf as IEEE does. Row converters use AVX2/F16C when compiled with them and give
// bit-identical results to the scalar functions.
#pragma once
#include <stddef.h>
#include <stdint.h>

uint16_t bf16_from_f32(float x);                                   // round-to-nearest-even
float    bf16_to_f32(uint16_t h);                                  // exact
uint16_t f16_from_f32(float x);                                    // round-to-nearest-even, IEEE overflow to inf
float    f16_to_f32(uint16_t h);                                   // exact (subnormals included)

void bf16_from_f32_row(const float *x, uint16_t *h, size_t n);     // h[i] = bf16(x[i])      // [n]
void bf16_to_f32_row(const uint16_t *h, float *x, size_t n);       // x[i] = float(h[i])     // [n]
void f16_from_f32_row(const float *x, uint16_t *h, size_t n);      // h[i] = fp16(x[i])      // [n]
void f16_to_f32_row(const uint16_t *h, float *x, size_t n);        // x[i] = float(h[i])     // [n]
