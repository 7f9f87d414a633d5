// transpose8.h — 8 × 8 (and 4 × 4) transposes of 32-bit elements in AVX registers (AVX2 builds only), shared by
// the kernels that pack operands (lanegemm, sgemm512).
#pragma once
#if defined(__AVX2__)
#include <immintrin.h>

// Afterwards r[j] lane i = before r[i] lane j.
static inline __attribute__((always_inline)) void tr8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20); r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20); r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31); r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31); r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// dst [8 rows, stride ld] = transpose of src [8 rows, stride ls] (8 × 8 floats, any alignment).
static inline __attribute__((always_inline)) void tr8_copy(const float *src, size_t ls, float *dst, size_t ld) {
    __m256 r[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * ls);
    tr8(r);
    for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + i * ld, r[i]);
}

// dst [4 rows, stride ld] = transpose of src [4 rows, stride ls] (4 × 4 floats, any alignment).
static inline __attribute__((always_inline)) void tr4_copy(const float *src, size_t ls, float *dst, size_t ld) {
    __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + ls), r2 = _mm_loadu_ps(src + 2 * ls), r3 = _mm_loadu_ps(src + 3 * ls);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    _mm_storeu_ps(dst, r0); _mm_storeu_ps(dst + ld, r1); _mm_storeu_ps(dst + 2 * ld, r2); _mm_storeu_ps(dst + 3 * ld, r3);
}
#endif
