// bf16.c — bfloat16 and IEEE half conversions (scalar + AVX2/F16C rows).
#include "kernels/bf16.h"

#include <math.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

static inline uint32_t f2u(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static inline float u2f(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

uint16_t bf16_from_f32(float x) {
    uint32_t b = f2u(x);
    if ((b & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((b >> 16) | 0x40);   // quiet NaN
    b += 0x7fffu + ((b >> 16) & 1u);                                            // RNE
    return (uint16_t)(b >> 16);
}

float bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t f16_from_f32(float x) {
    uint32_t b = f2u(x);
    uint16_t sign = (uint16_t)((b >> 16) & 0x8000u);
    b &= 0x7fffffffu;
    if (b > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((b >> 13) & 0x3ffu));  // NaN, quieted
    if (b >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);                        // >= 65520 -> inf
    if (b < 0x38800000u) {                                                          // below 2^-14: subnormal
        float a = u2f(b) * 16777216.0f;                                             // units of 2^-24, exact
        return (uint16_t)(sign | (uint16_t)nearbyintf(a));                          // 1024 = min normal
    }
    uint32_t r = b - (112u << 23);                                                  // rebias 127 -> 15
    r += 0xfffu + ((r >> 13) & 1u);
    return (uint16_t)(sign | (r >> 13));
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) {
        float v = (float)m * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (e == 31) return u2f(sign | 0x7f800000u | (m << 13));
    return u2f(sign | ((e + 112u) << 23) | (m << 13));
}

void bf16_from_f32_row(const float *x, uint16_t *h, size_t n) {
    size_t i = 0;
#if defined(__AVX2__)
    const __m256i bias = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1);
    const __m256i absm = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    const __m256i qbit = _mm256_set1_epi32(0x400000);
    for (; i + 8 <= n; i += 8) {
        __m256i b = _mm256_castps_si256(_mm256_loadu_ps(x + i));
        __m256i isnan = _mm256_cmpgt_epi32(_mm256_and_si256(b, absm), inf);
        __m256i r = _mm256_add_epi32(b, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(b, 16), one)));
        r = _mm256_blendv_epi8(r, _mm256_or_si256(b, qbit), isnan);
        r = _mm256_srli_epi32(r, 16);
        __m128i p = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        _mm_storeu_si128((__m128i *)(h + i), p);
    }
#endif
    for (; i < n; i++) h[i] = bf16_from_f32(x[i]);
}

void bf16_to_f32_row(const uint16_t *h, float *x, size_t n) {
    size_t i = 0;
#if defined(__AVX2__)
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(h + i)));
        _mm256_storeu_ps(x + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
#endif
    for (; i < n; i++) x[i] = bf16_to_f32(h[i]);
}

void f16_from_f32_row(const float *x, uint16_t *h, size_t n) {
    size_t i = 0;
#if defined(__AVX2__) && defined(__F16C__)
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
#endif
    for (; i < n; i++) h[i] = f16_from_f32(x[i]);
}

void f16_to_f32_row(const uint16_t *h, float *x, size_t n) {
    size_t i = 0;
#if defined(__AVX2__) && defined(__F16C__)
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
#endif
    for (; i < n; i++) x[i] = f16_to_f32(h[i]);
}
