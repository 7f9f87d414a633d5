// gemm.h — dense FP32 matrix products (row-major): kernels/sgemm512 on AVX-512 builds, else BLAS.
// The three shapes a linear layer needs, named for what they compute:
//   forward   y  = x Wᵀ        linear_fwd
//   backward  dx += dy W       linear_bwd_x
//             dW += dyᵀ x      linear_bwd_w
#pragma once

// y[N, O] = x[N, I] · W[O, I]ᵀ   (beta = 0: overwrite, 1: accumulate)
void linear_fwd(float *y, const float *x, const float *W, int N, int I, int O, float beta);
// dx[N, I] (+)= dy[N, O] · W[O, I]
void linear_bwd_x(float *dx, const float *dy, const float *W, int N, int I, int O, float beta);
// dW[O, I] += dy[N, O]ᵀ · x[N, I]
void linear_bwd_w(float *dW, const float *dy, const float *x, int N, int I, int O);
// General: C[M,N] = alpha · op(A) · op(B) + beta · C, op = transpose when ta/tb.
// lda/ldb/ldc are row strides.
void gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
          const float *B, int ldb, float beta, float *C, int ldc);
// Which GEMM gemm() runs: 1 (default) our AVX-512 one where built, 0 OpenBLAS; returns the previous setting
// (for A/B benchmarks; the environment variable DEEPC_GEMM=openblas sets 0 at start). gemm_own_active: 1 when
// gemm() runs our own now.
int gemm_set_own(int on);
int gemm_own_active(void);
// Reference versions (plain loops) for tests.
void gemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
