// swiglu.c — SwiGLU forward and backward.
#include "kernels/swiglu.h"
#include <math.h>

void swiglu_fwd(float *h, const float *a, const float *b, long n) {
    #pragma omp parallel for simd if (n > 65536)
    for (long i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-a[i]));
        h[i] = a[i] * s * b[i];
    }
}

void swiglu_bwd(float *da, float *db, const float *dh, const float *a, const float *b, long n) {
    #pragma omp parallel for simd if (n > 65536)
    for (long i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-a[i]));
        float silu = a[i] * s;
        da[i] = dh[i] * b[i] * s * (1.0f + a[i] * (1.0f - s));
        db[i] = dh[i] * silu;
    }
}
