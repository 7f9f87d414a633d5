// sgemm512.h — FP32 GEMM of our own for AVX-512 CPUs, where OpenBLAS's (0.3.21, SkylakeX kernels) reaches
// 60-65 % of the core's FMA peak on the training step's shapes. Same contract as gemm() (row-major,
// C[M,N] = alpha · op(A) · op(B) + beta · C, beta = 0 never reads C). Called outside a parallel region with
// several OpenMP threads it splits C into bands over them (results bit-identical to one thread); inside one
// (e.g. per attention head) it runs on the calling thread.
#pragma once

int sgemm512_available(void);   // 1 when built with AVX-512 (-march=native on such a CPU), else 0
void sgemm512(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc);
