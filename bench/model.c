// bench/model.c — forward+backward tokens/s and peak memory of model_step for a
// preset, at the OpenMP thread counts given; MFU against this machine's measured
// sgemm peak (a square 1024 GEMM timed in the same process).
//   build/bench/model PRESET B T [threads...]      e.g. build/bench/model small 8 512 1 2
#include "base/check.h"
#include "base/progress.h"
#include "base/rng.h"
#include "kernels/gemm.h"
#include "model/model.h"
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static double sgemm_peak(void) {
    int n = 1024;
    float *a = xmalloc_aligned(4L * n * n), *b = xmalloc_aligned(4L * n * n), *c = xmalloc_aligned(4L * n * n);
    for (long i = 0; i < (long)n * n; i++) { a[i] = 1e-3f * (i % 7); b[i] = 1e-3f * (i % 5); }
    gemm(0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t = now_seconds();
        gemm(0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
        t = now_seconds() - t;
        if (t < best) best = t;
    }
    free(a); free(b); free(c);
    return 2.0 * n * n * n / best;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s PRESET B T threads...\n", argv[0]); return 2; }
    Config c;
    if (config_preset(argv[1], &c) < 0) fatal_last();
    int B = atoi(argv[2]), T = atoi(argv[3]);
    Model m;
    if (model_create(&c, &m) < 0) fatal_last();
    model_init_random(&m, 1, 0.006f);
    model_alloc_grads(&m);
    int32_t *tok = xmalloc(4L * B * T), *tgt = xmalloc(4L * B * T);
    Rng r;
    rng_seed(&r, 7);
    for (int i = 0; i < B * T; i++) { tok[i] = (int32_t)rng_below(&r, c.vocab_size); tgt[i] = (int32_t)rng_below(&r, c.vocab_size); }
    size_t total, active;
    model_param_counts(&c, &total, &active);
    // FLOPs per token: 6 x matmul parameters touched (embedding lookups excluded) + attention
    double mat = (double)active - (double)c.vocab_size * c.hidden_size;
    double att = 6.0 * c.num_hidden_layers * c.num_attention_heads * (double)T *
                 (c.qk_nope_head_dim + c.qk_rope_head_dim + c.v_head_dim);   // causal half of 2·T·(dqk+dv)·3 passes ×2
    double flops_tok = 6.0 * mat + att;
    StepOpts o = {1, c.num_nextn_predict_layers ? 0.3f : 0.0f, 1e-4f, NULL};
    StepOut out;
    printf("preset %s, B %d, T %d: %.2fM params (%.2fM active), %.1f MFLOP/token\n", argv[1], B, T, total / 1e6,
           active / 1e6, flops_tok / 1e6);
    for (int a = 4; a < argc; a++) {
        int th = atoi(argv[a]);
        omp_set_num_threads(th);
        double peak = sgemm_peak();
        double best = 1e30;
        for (int it = 0; it < 3; it++) {
            model_zero_grads(&m);
            double t = now_seconds();
            if (model_step(&m, tok, tgt, B, T, &o, &out) < 0) fatal_last();
            t = now_seconds() - t;
            if (it > 0 && t < best) best = t;   // first step allocates the work area
        }
        double tps = B * T / best;
        printf("threads %d: %.0f tokens/s forward+backward (%.3f s/step), %.1f GFLOP/s, MFU %.1f%% of sgemm peak %.1f GFLOP/s\n",
               th, tps, best, tps * flops_tok / 1e9, 100 * tps * flops_tok / peak, peak / 1e9);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak resident memory: %.1f MiB\n", ru.ru_maxrss / 1024.0);
    return 0;
}
