// bench/infer_mla.c — where the naive MLA form (k/v expanded through kv_b) becomes faster than
// the absorbed one (MQA over the 576-wide latent) for a chunk of n new tokens after a prefix of
// P cached tokens, on the bench-infer layer shape (H 16, r_kv 512, nope 128, rope 64, v 128).
//   build/bench/infer_mla [--prefix P] [--threads N]
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/check.h"
#include "base/progress.h"
#include "base/rng.h"
#include "infer/mla.h"

static double run(const InferModel *m, const float *x, int P, int n, int naive) {
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        KVCache kv;
        kv_init(&kv, &m->c, 1, 0);
        kv_reserve(&kv, P + n);
        float *out = xmalloc(sizeof(float) * (size_t)(P + n) * m->c.hidden_size);
        if (P > 0) { MlaSeq s = {&kv, 0, P, 0, 1}; mla_forward(m, &m->layers[0], 0, x, P, &s, 1, out); }
        MlaSeq s = {&kv, 0, n, P, naive};
        double t0 = now_seconds();
        mla_forward(m, &m->layers[0], 0, x, n, &s, 1, out);
        double dt = now_seconds() - t0;
        if (dt < best) best = dt;
        free(out);
        kv_free(&kv);
    }
    return best;
}

int main(int argc, char **argv) {
    int P = 0, threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--prefix")) P = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else fatal("unknown option %s", argv[i]);
    }
    if (threads > 0) omp_set_num_threads(threads);
    Config c;
    if (config_preset("bench-infer", &c) < 0) fatal_last();
    c.num_hidden_layers = 1; c.first_k_dense_replace = 1; c.intermediate_size = 32; c.vocab_size = 32;
    InferModel m;
    infer_model_random_as(&m, &c, 5, 0.02f, QT_BF16);
    int D = c.hidden_size, sizes[] = {1, 4, 16, 32, 64, 128, 256, 512};
    int maxn = 512;
    float *x = xmalloc(sizeof(float) * (size_t)(P + maxn) * D);
    Rng r; rng_seed(&r, 9);
    for (size_t i = 0; i < (size_t)(P + maxn) * D; i++) x[i] = rng_normal(&r);
    printf("# MLA layer, prefix %d, %d thread(s)\n| new tokens | absorbed ms | naive ms | naive / absorbed |\n|---|---|---|---|\n",
           P, omp_get_max_threads());
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int n = sizes[k];
        double a = run(&m, x, P, n, 0), b = run(&m, x, P, n, 1);
        printf("| %d | %.2f | %.2f | %.2f |\n", n, a * 1e3, b * 1e3, b / a);
        fflush(stdout);
    }
    free(x);
    infer_model_free(&m);
    return 0;
}
