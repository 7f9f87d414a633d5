// vmath.h — fast exp for the elementwise kernels (softmax, SiLU, sigmoid router,
// cross-entropy): one algorithm, 8 lanes with AVX2+FMA and a scalar twin that
// gives the same bits, so a loop's vector body and its scalar tail agree.
//   vm_expf(x)          scalar exp, within ~1 ulp of libm expf for every float
//   vm_exp8(x)          the same on 8 lanes (only when __AVX2__ and __FMA__)
//   vm_exp_shift(y,x,s,n)  y[i] = exp(x[i] − s) (y may be NULL), returns Σ (double)
//   vm_sigmoid(y,x,n)   y[i] = 1 / (1 + exp(−x[i]))
//
// Method: n = round(x·log2 e), r = x − n·ln2 (two-part ln2 with FMA, |r| ≤ ln2/2),
// e^r by its degree-7 Taylor polynomial (truncation < 0.1 ulp on that interval),
// times 2^n applied as two power-of-two factors 2^⌊n/2⌋·2^(n−⌊n/2⌋) so results
// that overflow become +inf and results below FLT_MIN round into subnormals/0
// the way multiplication does. x is clamped to [−104, 89] (beyond: 0 / +inf);
// NaN gives NaN.
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define VM_HAVE_AVX2 1
#endif

#define VM_LOG2E 1.44269502163f
#define VM_LN2_HI 0.693147182465f       // float(ln 2)
#define VM_LN2_LO -1.90465421e-09f      // ln 2 − float(ln 2)

static inline float vm_pow2i(int k) {   // 2^k for k in [-126, 127]
    uint32_t b = (uint32_t)(k + 127) << 23;
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static inline float vm_expf(float x) {
    if (x != x) return x;
    float xc = x < -104.0f ? -104.0f : (x > 89.0f ? 89.0f : x);
    float n = rintf(xc * VM_LOG2E);
    float r = fmaf(-n, VM_LN2_HI, xc);
    r = fmaf(-n, VM_LN2_LO, r);
    float p = 1.0f / 5040;
    p = fmaf(p, r, 1.0f / 720);
    p = fmaf(p, r, 1.0f / 120);
    p = fmaf(p, r, 1.0f / 24);
    p = fmaf(p, r, 1.0f / 6);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    int ni = (int)n, n1 = ni >> 1, n2 = ni - n1;
    return p * vm_pow2i(n1) * vm_pow2i(n2);
}

#ifdef VM_HAVE_AVX2
static inline __m256 vm_exp8(__m256 x) {
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-104.0f)), _mm256_set1_ps(89.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(VM_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(VM_LN2_HI), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(VM_LN2_LO), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    __m256i bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));   // NaN stays NaN
}
#endif

// y[i] = exp(x[i] − s) for i < n (y may equal x, or be NULL: sum only); returns
// Σ exp(x[i] − s) summed in double.
static inline double vm_exp_shift(float *y, const float *x, float s, long n) {
    double sum = 0;
    long i = 0;
#ifdef VM_HAVE_AVX2
    __m256 vs = _mm256_set1_ps(s);
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    for (; i + 8 <= n; i += 8) {
        __m256 e = vm_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vs));
        if (y) _mm256_storeu_ps(y + i, e);
        acc0 = _mm256_add_pd(acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        acc1 = _mm256_add_pd(acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(acc0, acc1));
    sum = (t[0] + t[1]) + (t[2] + t[3]);
#endif
    for (; i < n; i++) {
        float e = vm_expf(x[i] - s);
        if (y) y[i] = e;
        sum += e;
    }
    return sum;
}

// y[i] = 1 / (1 + exp(−x[i])) (y may equal x).
static inline void vm_sigmoid(float *y, const float *x, long n) {
    long i = 0;
#ifdef VM_HAVE_AVX2
    __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        __m256 e = vm_exp8(_mm256_sub_ps(zero, _mm256_loadu_ps(x + i)));
        _mm256_storeu_ps(y + i, _mm256_div_ps(one, _mm256_add_ps(one, e)));
    }
#endif
    for (; i < n; i++) y[i] = 1.0f / (1.0f + vm_expf(-x[i]));
}

// Max of x[0..n) (−inf for n = 0; NaN-free inputs assumed).
static inline float vm_max(const float *x, long n) {
    float mx = -INFINITY;
    long i = 0;
#ifdef VM_HAVE_AVX2
    if (n >= 8) {
        __m256 m = _mm256_loadu_ps(x);
        for (i = 8; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
        float t[8];
        _mm256_storeu_ps(t, m);
        for (int j = 0; j < 8; j++) if (t[j] > mx) mx = t[j];
    }
#endif
    for (; i < n; i++) if (x[i] > mx) mx = x[i];
    return mx;
}
