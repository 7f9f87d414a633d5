// gemm.c — FP32 GEMM: our own AVX-512 kernel where the build has one (kernels/sgemm512.c, faster than
// OpenBLAS's on the training step's shapes), else OpenBLAS (OpenMP build: safe to call from our own parallel
// regions, where it runs single-threaded).
#include "kernels/gemm.h"
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/sgemm512.h"
#undef I  // complex.h (pulled in by openblas_config.h) defines I

// -1 until first asked: then 1 unless the environment says DEEPC_GEMM=openblas (a user's fallback and A/B switch).
static int use_own = -1;
static int own_on(void) {
    if (use_own < 0) {
        const char *e = getenv("DEEPC_GEMM");
        use_own = !(e && !strcmp(e, "openblas"));
    }
    return use_own;
}
int gemm_set_own(int on) { int old = own_on(); use_own = on; return old; }
int gemm_own_active(void) { return own_on() && sgemm512_available(); }

void gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
          const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {  // C = beta C
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(long)i * ldc + j] = beta == 0 ? 0 : beta * C[(long)i * ldc + j];
        return;
    }
    if (own_on() && sgemm512_available()) {
        sgemm512(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(long)k * lda + i] : A[(long)i * lda + k];
                float b = tb ? B[(long)j * ldb + k] : B[(long)k * ldb + j];
                s += (double)a * b;
            }
            float *c = &C[(long)i * ldc + j];
            *c = (float)(alpha * s + (beta == 0 ? 0 : beta * *c));
        }
}

void linear_fwd(float *y, const float *x, const float *W, int N, int I, int O, float beta) {
    gemm(0, 1, N, O, I, 1.0f, x, I, W, I, beta, y, O);
}

void linear_bwd_x(float *dx, const float *dy, const float *W, int N, int I, int O, float beta) {
    gemm(0, 0, N, I, O, 1.0f, dy, O, W, I, beta, dx, I);
}

void linear_bwd_w(float *dW, const float *dy, const float *x, int N, int I, int O) {
    gemm(1, 0, O, I, N, 1.0f, dy, O, x, I, 1.0f, dW, I);
}
