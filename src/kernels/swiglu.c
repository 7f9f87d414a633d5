// swiglu.c — SwiGLU forward and backward: one pass each, 8 lanes at a time with
// the fast exp of vmath.h (a scalar twin for tails), OpenMP over chunks when big.
#include "kernels/swiglu.h"
#include "kernels/vmath.h"

enum { CHUNK = 8192 };   // floats per parallel work item (multiple of 8)

static void fwd_range(float *h, const float *a, const float *b, long i, long end) {
#ifdef VM_HAVE_AVX2
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    for (; i + 8 <= end; i += 8) {
        __m256 va = _mm256_loadu_ps(a + i);
        __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, vm_exp8(_mm256_sub_ps(zero, va))));
        _mm256_storeu_ps(h + i, _mm256_mul_ps(_mm256_mul_ps(va, s), _mm256_loadu_ps(b + i)));
    }
#endif
    for (; i < end; i++) {
        float s = 1.0f / (1.0f + vm_expf(-a[i]));
        h[i] = a[i] * s * b[i];
    }
}

static void bwd_range(float *da, float *db, float *h, const float *dh, const float *a, const float *b, long i, long end) {
#ifdef VM_HAVE_AVX2
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    for (; i + 8 <= end; i += 8) {
        __m256 va = _mm256_loadu_ps(a + i), vb = _mm256_loadu_ps(b + i), vd = _mm256_loadu_ps(dh + i);
        __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, vm_exp8(_mm256_sub_ps(zero, va))));
        __m256 silu = _mm256_mul_ps(va, s);
        // da = dh · b · s · (1 + a (1 − s))
        __m256 t = _mm256_add_ps(one, _mm256_mul_ps(va, _mm256_sub_ps(one, s)));
        _mm256_storeu_ps(da + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(vd, vb), s), t));
        _mm256_storeu_ps(db + i, _mm256_mul_ps(vd, silu));
        if (h) _mm256_storeu_ps(h + i, _mm256_mul_ps(silu, vb));
    }
#endif
    for (; i < end; i++) {
        float s = 1.0f / (1.0f + vm_expf(-a[i]));
        float silu = a[i] * s;
        da[i] = dh[i] * b[i] * s * (1.0f + a[i] * (1.0f - s));
        db[i] = dh[i] * silu;
        if (h) h[i] = silu * b[i];
    }
}

void swiglu_fwd(float *h, const float *a, const float *b, long n) {
    long nc = (n + CHUNK - 1) / CHUNK;
    if (n <= 65536) { fwd_range(h, a, b, 0, n); return; }   // no OpenMP region (even on one thread it costs a team)
    #pragma omp parallel for schedule(static)
    for (long c = 0; c < nc; c++) fwd_range(h, a, b, c * CHUNK, c * CHUNK + CHUNK < n ? c * CHUNK + CHUNK : n);
}

void swiglu_bwd(float *da, float *db, float *h, const float *dh, const float *a, const float *b, long n) {
    long nc = (n + CHUNK - 1) / CHUNK;
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (long c = 0; c < nc; c++) bwd_range(da, db, h, dh, a, b, c * CHUNK, c * CHUNK + CHUNK < n ? c * CHUNK + CHUNK : n);
}
