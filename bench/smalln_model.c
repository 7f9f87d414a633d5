// bench/smalln_model.c — the int4 small-N kernel (qmat_set_smalln) in the model, paired in one process: issue 5's
// bench-infer shape (random weights, int4), the step kinds where projections see 2-4 x rows, timed with both
// kernel settings alternately (order swapped every pair), thread CPU time, median of the per-pair ratios.
//   build/bench/smalln_model [--pairs 15] [--steps 8] [--pp 128] [--variants 0,1] [--format int4]
// Kinds: plain decode step (n = 1: does not use the knob, a control whose ratio should be 1.00), MTP's verify step
// (one sequence, n = 2), batched decode of 2 and 4 sequences (one token each, one engine_forward call). Each run of
// `steps` calls starts from the same cache positions (kv_truncate). One thread.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench_util.h"
#include "base/check.h"
#include "base/rng.h"
#include "infer/engine.h"
#include "kernels/qmatmul.h"

enum { PLAIN, VERIFY, BATCH2, BATCH4, NKIND };
static const char *kind_names[NKIND] = {"plain (n = 1)", "verify (n = 2)", "batch of 2", "batch of 4"};

// `steps` calls of one kind from position pp in every cache; seconds per call.
static double run_kind(const Engine *e, KVCache *kv, int pp, int kind, int steps, const int32_t *toks, float *lg) {
    int S = kind == BATCH2 ? 2 : kind == BATCH4 ? 4 : 1, n = kind == VERIFY ? 2 : 1;
    for (int q = 0; q < S; q++) kv_truncate(&kv[q], pp);
    double t0 = bench_thread_cpu();
    for (int i = 0; i < steps; i++) {
        SeqChunk ch[4];
        for (int q = 0; q < S; q++) ch[q] = (SeqChunk){&kv[q], toks + (size_t)q * (pp + 2 * steps) + pp + 2 * i, n};
        if (engine_forward(e, ch, S, lg, 0, NULL) < 0) fatal_last();
    }
    return (bench_thread_cpu() - t0) / steps;
}

int main(int argc, char **argv) {
    int pairs = 15, steps = 8, pp = 128, va = 0, vb = 1;
    const char *format = "int4";
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) fatal("option %s needs a value", argv[i]);
        if (!strcmp(argv[i], "--pairs")) pairs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--pp")) pp = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--format")) format = argv[++i];
        else if (!strcmp(argv[i], "--variants")) {
            if (sscanf(argv[++i], "%d,%d", &va, &vb) != 2) fatal("--variants wants two knob values A,B (e.g. 0,1)");
        } else fatal("unknown option %s (--pairs, --steps, --pp, --variants, --format)", argv[i]);
    }
    if (pairs < 1 || steps < 1 || pp < 1) fatal("--pairs, --steps and --pp must be positive");
    omp_set_num_threads(1);
    QType t;
    if (qtype_parse(format, &t) < 0) fatal_last();
    Config c;
    if (config_preset("bench-infer", &c) < 0) fatal_last();
    Rng r;
    rng_seed(&r, 17);
    size_t per = (size_t)pp + 2 * steps;
    int32_t *toks = xmalloc(sizeof(int32_t) * 4 * per);                // [4 sequences, pp + 2·steps]
    for (size_t i = 0; i < 4 * per; i++) toks[i] = (int32_t)rng_below(&r, (uint64_t)c.vocab_size);
    float *lg = xmalloc(sizeof(float) * 4 * (size_t)c.vocab_size);     // [4, V]
    InferModel m;
    memset(&m, 0, sizeof m);
    infer_model_random_as(&m, &c, 1234, 0.02f, t);
    if (infer_model_convert(&m, t) < 0) fatal_last();
    Engine e;
    engine_init(&e, &m);
    KVCache kv[4];
    for (int q = 0; q < 4; q++) {                                     // prefill each sequence once
        engine_kv_init(&e, &kv[q], 0);
        SeqChunk ch = {&kv[q], toks + (size_t)q * per, pp};
        if (engine_forward(&e, &ch, 1, lg, 0, NULL) < 0) fatal_last();
    }
    double *ta = xmalloc(sizeof(double) * (size_t)pairs * NKIND), *tb = xmalloc(sizeof(double) * (size_t)pairs * NKIND);
    double *rat = xmalloc(sizeof(double) * (size_t)pairs * NKIND);  // [NKIND, pairs]
    for (int p = 0; p < pairs; p++)
        for (int k = 0; k < NKIND; k++) {
            double *first = p & 1 ? tb : ta, *second = p & 1 ? ta : tb;
            int v1 = p & 1 ? vb : va, v2 = p & 1 ? va : vb;
            int old = qmat_set_smalln(v1);
            first[k * pairs + p] = run_kind(&e, kv, pp, k, steps, toks, lg);
            qmat_set_smalln(v2);
            second[k * pairs + p] = run_kind(&e, kv, pp, k, steps, toks, lg);
            qmat_set_smalln(old);
            rat[k * pairs + p] = ta[k * pairs + p] / tb[k * pairs + p];
        }
    printf("# bench-infer %s, 1 thread, prefill %d, %d calls per run, %d pairs (thread CPU time): ms per call with "
           "qmat_set_smalln(%d) / (%d), median of the per-pair ratios A/B (> 1: B faster)\n", format, pp, steps, pairs, va, vb);
    double med_a[NKIND], med_b[NKIND];
    for (int k = 0; k < NKIND; k++) {
        qsort(ta + k * pairs, (size_t)pairs, sizeof(double), bench_cmp_double);
        qsort(tb + k * pairs, (size_t)pairs, sizeof(double), bench_cmp_double);
        qsort(rat + k * pairs, (size_t)pairs, sizeof(double), bench_cmp_double);
        med_a[k] = ta[k * pairs + pairs / 2];
        med_b[k] = tb[k * pairs + pairs / 2];
        printf("%-15s %7.2f / %7.2f ms   ratio %.3f (quartiles %.3f-%.3f)\n", kind_names[k], 1e3 * med_a[k], 1e3 * med_b[k],
               rat[k * pairs + pairs / 2], rat[k * pairs + pairs / 4], rat[k * pairs + (3 * pairs) / 4]);
    }
    printf("cost per step against plain (medians): verify %.2fx / %.2fx; batch of 2 %.2fx / %.2fx; batch of 4 %.2fx / %.2fx\n",
           med_a[VERIFY] / med_a[PLAIN], med_b[VERIFY] / med_b[PLAIN], med_a[BATCH2] / med_a[PLAIN], med_b[BATCH2] / med_b[PLAIN],
           med_a[BATCH4] / med_a[PLAIN], med_b[BATCH4] / med_b[PLAIN]);
    for (int q = 0; q < 4; q++) kv_free(&kv[q]);
    infer_model_free(&m);
    free(toks); free(lg); free(ta); free(tb); free(rat);
    return 0;
}
