// bench/batch_decode.c — batched decode: S sequences advance one token each per engine_forward
// call (one chunk per sequence, MoE routing once per token, tokens grouped per expert, so each
// weight is read once for all S rows) against S = 1 in the same run, on issue 5's bench-infer
// shape (random weights; --layers shortens it for a quick run).
//   build/bench/batch_decode [--format int4] [--seqs 1,2,4,8] [--prefix 64] [--steps 32] [--layers 4] [--threads 2]
//                            [--streams S]   (qmat_set_streams: 1 = one memory stream per thread; A/B runs)
// Prints decode tokens/s (all sequences together) and the speed-up over S = 1.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/check.h"
#include "base/progress.h"
#include "base/rng.h"
#include "infer/engine.h"
#include "kernels/qmatmul.h"

int main(int argc, char **argv) {
    const char *format = "int4", *seqs = "1,2,4,8";
    int prefix = 64, steps = 32, layers = 4, threads = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--format")) format = argv[i + 1];
        else if (!strcmp(argv[i], "--seqs")) seqs = argv[i + 1];
        else if (!strcmp(argv[i], "--prefix")) prefix = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--layers")) layers = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--streams")) qmat_set_streams(atoi(argv[i + 1]));
        else fatal("unknown option %s (see the header of bench/batch_decode.c)", argv[i]);
    }
    if (prefix < 1 || steps < 1 || layers < 0 || threads < 1) fatal("--prefix, --steps, --threads must be positive");
    Config c;
    if (config_preset("bench-infer", &c) < 0) fatal_last();
    if (layers > 0) c.num_hidden_layers = layers;
    QType t;
    if (qtype_parse(format, &t) < 0) fatal_last();
    InferModel m;
    memset(&m, 0, sizeof m);
    infer_model_random_as(&m, &c, 1234, 0.02f, t);
    if (infer_model_convert(&m, t) < 0) fatal_last();
    omp_set_num_threads(threads);
    Engine e;
    engine_init(&e, &m);
    printf("# bench-infer shape, %d layers, %s weights, %d threads, prefix %d, %d decode steps\n",
           c.num_hidden_layers, format, threads, prefix, steps);
    printf("| sequences | decode tok/s (all sequences) | per sequence | speed-up over 1 |\n|---|---|---|---|\n");
    double base = 0;
    Rng r;
    rng_seed(&r, 7);
    for (const char *s = seqs; *s;) {
        int S = atoi(s);
        if (S < 1 || S > 256) fatal("--seqs: %d sequences is outside 1..256", S);
        KVCache *kv = xmalloc(sizeof(KVCache) * (size_t)S);
        SeqChunk *ch = xmalloc(sizeof(SeqChunk) * (size_t)S);
        int32_t *toks = xmalloc(sizeof(int32_t) * (size_t)S * (prefix + 1));   // [S, prefix + 1]
        float *lg = xmalloc(sizeof(float) * (size_t)S * c.vocab_size);         // [S, V]
        for (int q = 0; q < S; q++) {
            engine_kv_init(&e, &kv[q], 0);
            for (int i = 0; i <= prefix; i++) toks[(size_t)q * (prefix + 1) + i] = (int32_t)rng_below(&r, c.vocab_size);
            ch[q] = (SeqChunk){&kv[q], toks + (size_t)q * (prefix + 1), prefix};
        }
        if (engine_forward(&e, ch, S, lg, 0, NULL) < 0) fatal_last();   // prefill all S prefixes
        double t0 = now_seconds();
        for (int k = 0; k < steps; k++) {
            for (int q = 0; q < S; q++) {   // greedy next token of each sequence
                const float *l = lg + (size_t)q * c.vocab_size;
                int best = 0;
                for (int v = 1; v < c.vocab_size; v++) if (l[v] > l[best]) best = v;
                int32_t *slot = toks + (size_t)q * (prefix + 1) + prefix;
                *slot = best;
                ch[q] = (SeqChunk){&kv[q], slot, 1};
            }
            if (engine_forward(&e, ch, S, lg, 0, NULL) < 0) fatal_last();
        }
        double tps = (double)S * steps / (now_seconds() - t0);
        if (S == 1 || base == 0) base = tps / S;
        printf("| %d | %.2f | %.2f | %.2fx |\n", S, tps, tps / S, tps / base);
        fflush(stdout);
        for (int q = 0; q < S; q++) kv_free(&kv[q]);
        free(kv); free(ch); free(toks); free(lg);
        while (*s && *s != ',') s++;
        if (*s == ',') s++;
    }
    infer_model_free(&m);
    return 0;
}
