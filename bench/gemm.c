// bench/gemm.c — FP32 GEMM speed on the training step's shapes (bench-train preset, batch 8 × 512): gemm()'s own
// AVX-512 kernel (kernels/sgemm512.c) against OpenBLAS's cblas_sgemm, alternated in the same process on the same
// inputs, GFLOP/s (best of R) and the ratio per shape, plus the time-weighted ratio over the step's mix.
// bench/gemm_torch.py prints the same shapes for PyTorch's matmul (MKL in the x86 wheels) for a third column.
//   build/bench/gemm [--threads T (1)] [--reps R (5)]
#include <cblas.h>
#undef I  // complex.h (pulled in by openblas_config.h) defines I
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/check.h"
#include "base/progress.h"
#include "kernels/gemm.h"
#include "kernels/sgemm512.h"

// The step's largest GEMMs (M, N, K, ta, tb, what) and their share of its GEMM time (profiled, 1 thread).
static const struct { int M, N, K, ta, tb; double share; const char *what; } S[] = {
    {256, 8192, 256, 0, 1, 0.22, "LM head forward, 256-row chunk"},
    {8192, 256, 4096, 1, 0, 0.12, "LM head weight gradient"},
    {4096, 256, 8192, 0, 0, 0.11, "LM head input gradient"},
    {4096, 512, 256, 0, 1, 0.09, "MLA projections forward"},
    {512, 256, 4096, 1, 0, 0.06, "weight gradient, 4096 tokens"},
    {4096, 256, 512, 0, 0, 0.06, "input gradient, K = 512"},
    {4096, 512, 128, 0, 1, 0.03, "q_b / kv_b forward (K = 128)"},
    {1024, 256, 256, 0, 1, 0.05, "routed expert forward (1024 rows)"},
    {64, 512, 96, 0, 1, 0.04, "attention block q·kᵀ"},
    {64, 64, 512, 0, 0, 0.03, "attention block p·v"},
};

int main(int argc, char **argv) {
    int reps = 5;
    omp_set_num_threads(1);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) omp_set_num_threads(atoi(argv[i + 1]));
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else fatal("unknown option %s (--threads T, --reps R)", argv[i]);
    }
    if (reps < 1) fatal("--reps must be positive");
    if (!sgemm512_available()) {
        printf("# built without AVX-512: gemm() is OpenBLAS here, nothing to compare\n");
        return 0;
    }
    int ns = (int)(sizeof S / sizeof S[0]);
    printf("# FP32 GEMM, %d thread(s), best of %d, own (sgemm512) and OpenBLAS alternated on the same inputs\n",
           omp_get_max_threads(), reps);
    printf("| shape M x N x K | op | what | own GFLOP/s | OpenBLAS GFLOP/s | own / OpenBLAS |\n|---|---|---|---|---|---|\n");
    double w_own = 0, w_ob = 0;
    for (int s = 0; s < ns; s++) {
        int M = S[s].M, N = S[s].N, K = S[s].K, ta = S[s].ta, tb = S[s].tb;
        size_t na = (size_t)M * K, nb = (size_t)K * N;
        float *A = xmalloc_aligned(sizeof(float) * na), *B = xmalloc_aligned(sizeof(float) * nb);
        float *C = xmalloc_aligned(sizeof(float) * (size_t)M * N);
        for (size_t i = 0; i < na; i++) A[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
        for (size_t i = 0; i < nb; i++) B[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
        double best[2] = {1e30, 1e30};
        for (int r = 0; r <= reps; r++)                // round 0 warms up
            for (int w = 0; w < 2; w++) {
                double t0 = now_seconds();
                if (w == 0) sgemm512(ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.0f, C, N);
                else cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K,
                                 1.0f, A, ta ? M : K, B, tb ? K : N, 0.0f, C, N);
                double t = now_seconds() - t0;
                if (r > 0 && t < best[w]) best[w] = t;
            }
        double fl = 2.0 * M * N * (double)K;
        printf("| %d x %d x %d | %c%c | %s | %.1f | %.1f | %.2fx |\n", M, N, K, ta ? 'T' : 'N', tb ? 'T' : 'N', S[s].what,
               fl / best[0] / 1e9, fl / best[1] / 1e9, best[1] / best[0]);
        fflush(stdout);
        w_own += S[s].share * best[0] / fl;             // share-weighted seconds per FLOP
        w_ob += S[s].share * best[1] / fl;
        free(A); free(B); free(C);
    }
    printf("# weighted by the shapes' share of the step's GEMM time: own / OpenBLAS speed %.2fx\n", w_ob / w_own);
    return 0;
}
