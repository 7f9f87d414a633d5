// quant.c — int8 / int4 32-blocks with fp16 scales, int8 activations, integer dot products.
#include "kernels/quant.h"

#include <math.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "kernels/bf16.h"

static inline float amax32(const float *x) {
    float m = 0;
    for (int i = 0; i < QBLOCK; i++) { float a = fabsf(x[i]); m = a > m ? a : m; }
    return m;
}

void q8_quantize_row(const float *x, int n, int8_t *q, uint16_t *d) {
    for (int b = 0; b < n / QBLOCK; b++) {
        const float *xb = x + b * QBLOCK;                      // [32]
        uint16_t h = f16_from_f32(amax32(xb) / 127.0f);
        float dd = f16_to_f32(h);
        d[b] = h;
        for (int i = 0; i < QBLOCK; i++) {
            float v = dd > 0 ? nearbyintf(xb[i] / dd) : 0.0f;
            v = v > 127 ? 127 : v < -127 ? -127 : v;
            q[b * QBLOCK + i] = (int8_t)v;
        }
    }
}

void q8_dequantize_row(const int8_t *q, const uint16_t *d, int n, float *x) {
    for (int b = 0; b < n / QBLOCK; b++) {
        float dd = f16_to_f32(d[b]);
        for (int i = 0; i < QBLOCK; i++) x[b * QBLOCK + i] = dd * (float)q[b * QBLOCK + i];
    }
}

void q4_quantize_row(const float *x, int n, uint8_t *q, uint16_t *d) {
    for (int b = 0; b < n / QBLOCK; b++) {
        const float *xb = x + b * QBLOCK;                      // [32]
        float m = 0, am = 0;
        for (int i = 0; i < QBLOCK; i++)
            if (fabsf(xb[i]) > am) { am = fabsf(xb[i]); m = xb[i]; }
        uint16_t h = am > 0 ? f16_from_f32(m / -8.0f) : 0;          // an all-zero block: d = +0
        float dd = f16_to_f32(h);
        d[b] = h;
        uint8_t nib[QBLOCK];
        for (int i = 0; i < QBLOCK; i++) {
            float v = dd != 0 ? nearbyintf(xb[i] / dd) : 0.0f;
            v = v > 7 ? 7 : v < -8 ? -8 : v;
            nib[i] = (uint8_t)((int)v + 8);
        }
        for (int j = 0; j < QBLOCK / 2; j++) q[b * 16 + j] = (uint8_t)(nib[j] | (nib[j + 16] << 4));
    }
}

void q4_dequantize_row(const uint8_t *q, const uint16_t *d, int n, float *x) {
    for (int b = 0; b < n / QBLOCK; b++) {
        float dd = f16_to_f32(d[b]);
        for (int j = 0; j < QBLOCK / 2; j++) {
            x[b * QBLOCK + j] = dd * (float)((q[b * 16 + j] & 15) - 8);
            x[b * QBLOCK + j + 16] = dd * (float)((q[b * 16 + j] >> 4) - 8);
        }
    }
}

void a8_quantize_row_ref(const float *x, int n, int8_t *q, float *d) {
    for (int b = 0; b < n / QBLOCK; b++) {
        const float *xb = x + b * QBLOCK;
        float dd = amax32(xb) / 127.0f;
        d[b] = dd;
        for (int i = 0; i < QBLOCK; i++) q[b * QBLOCK + i] = (int8_t)(dd > 0 ? nearbyintf(xb[i] / dd) : 0.0f);
    }
}

void a8_quantize_row(const float *x, int n, int8_t *q, float *d) {
#if defined(__AVX2__)
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int b = 0; b < n / QBLOCK; b++) {
        const float *xb = x + b * QBLOCK;
        __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
        __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v0, absm), _mm256_and_ps(v1, absm)),
                                 _mm256_max_ps(_mm256_and_ps(v2, absm), _mm256_and_ps(v3, absm)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float dd = _mm_cvtss_f32(m4) / 127.0f;
        d[b] = dd;
        if (!(dd > 0)) { memset(q + b * QBLOCK, 0, QBLOCK); continue; }
        __m256 dv = _mm256_set1_ps(dd);
        // division then RNE conversion (MXCSR default), exactly as the reference
        __m256i i0 = _mm256_cvtps_epi32(_mm256_div_ps(v0, dv)), i1 = _mm256_cvtps_epi32(_mm256_div_ps(v1, dv));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_div_ps(v2, dv)), i3 = _mm256_cvtps_epi32(_mm256_div_ps(v3, dv));
        __m256i p01 = _mm256_packs_epi32(i0, i1), p23 = _mm256_packs_epi32(i2, i3);   // lane-interleaved
        __m256i p = _mm256_packs_epi16(p01, p23);
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(q + b * QBLOCK), p);
    }
#else
    a8_quantize_row_ref(x, n, q, d);
#endif
}

float q8_dot_ref(const int8_t *wq, const uint16_t *wd, const int8_t *aq, const float *ad, int n) {
    float acc = 0;
    for (int b = 0; b < n / QBLOCK; b++) {
        int32_t s = 0;
        for (int i = 0; i < QBLOCK; i++) s += (int32_t)wq[b * QBLOCK + i] * aq[b * QBLOCK + i];
        acc += f16_to_f32(wd[b]) * ad[b] * (float)s;
    }
    return acc;
}

float q4_dot_ref(const uint8_t *wq, const uint16_t *wd, const int8_t *aq, const float *ad, int n) {
    float acc = 0;
    for (int b = 0; b < n / QBLOCK; b++) {
        int32_t s = 0;
        for (int j = 0; j < QBLOCK / 2; j++) {
            s += ((wq[b * 16 + j] & 15) - 8) * aq[b * QBLOCK + j];
            s += ((wq[b * 16 + j] >> 4) - 8) * aq[b * QBLOCK + j + 16];
        }
        acc += f16_to_f32(wd[b]) * ad[b] * (float)s;
    }
    return acc;
}

#if defined(__AVX2__) && defined(__FMA__)
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

float q8_dot(const int8_t *wq, const uint16_t *wd, const int8_t *aq, const float *ad, int n) {
#if defined(__AVX2__) && defined(__FMA__)
    __m256 acc = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int b = 0; b < n / QBLOCK; b++) {
        __m256i w = _mm256_loadu_si256((const __m256i *)(wq + b * QBLOCK));
        __m256i a = _mm256_loadu_si256((const __m256i *)(aq + b * QBLOCK));
        __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w)), ones);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(wd[b]) * ad[b]), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc);
#else
    return q8_dot_ref(wq, wd, aq, ad, n);
#endif
}

float q4_dot(const uint8_t *wq, const uint16_t *wd, const int8_t *aq, const float *ad, int n) {
#if defined(__AVX2__) && defined(__FMA__)
    __m256 acc = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1), lo = _mm256_set1_epi8(15), eight = _mm256_set1_epi8(8);
    for (int b = 0; b < n / QBLOCK; b++) {
        __m128i raw = _mm_loadu_si128((const __m128i *)(wq + b * 16));
        __m256i w = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), lo);
        w = _mm256_sub_epi8(w, eight);                                      // [-8, 7]
        __m256i a = _mm256_loadu_si256((const __m256i *)(aq + b * QBLOCK));
        __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w)), ones);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(wd[b]) * ad[b]), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc);
#else
    return q4_dot_ref(wq, wd, aq, ad, n);
#endif
}
