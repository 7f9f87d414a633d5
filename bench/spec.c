// bench/spec.c — what MTP speculative decoding costs and gains on a model too large for the cache:
// issue 5's bench-infer shape with one MTP module (random weights), per weight format and thread count.
//   build/bench/spec [--formats int4,int8,bf16] [--threads 1,2] [--pp 256] [--steps 16] [--reps 7]
//                    [--accept a1,a2,...] [--only KIND (profiling: 0 plain, 1 verify, 2 / 3 MTP on 2 / 1 rows)]
// After one prefill of pp tokens (and the MTP module over it) it times, from the same cache position every
// time (kv_truncate back to pp), R runs of `steps` calls of each kind (run_kind), in rotating order:
//   t1 plain greedy step; tv verify step (n = 2); tm2 / tm1 the MTP module on 2 / 1 rows
// (process CPU time per call; the median over the R runs). One speculative iteration is a verify step plus the
// MTP module on 2 rows when the draft was accepted (2 tokens) or on 1 row when it was not (1 token), so with
// acceptance rate a the speed-up over plain greedy is
//   S(a) = (1 + a)·t1 / (tv + a·tm2 + (1 − a)·tm1),
// printed for the rates in --accept, with the break-even rate where S = 1. The acceptance rate itself
// needs a trained model: `deepc generate --speculative --stats` reports it (docs/inference.md).
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench_util.h"
#include "base/check.h"
#include "base/rng.h"
#include "infer/engine.h"

enum { PLAIN, VERIFY, MTP2, MTP1, NKIND };

// `steps` calls of one kind from cache position pp (main cache and MTP cache); CPU seconds.
//   PLAIN   one greedy decode step: n = 1, last logits
//   VERIFY  spec_greedy's verify step: n = 2 ([cur, draft]), logits and hidden of both rows
//   MTP2    the MTP module on 2 rows (after an accepted draft: the next draft from the bonus token)
//   MTP1    the MTP module on 1 row (after a rejected draft)
static double run_kind(const Engine *e, KVCache *kv, int pp, int kind, int steps, const int32_t *toks, float *lg,
                       float *hid) {
    kv_truncate(kv, pp);
    int mtp_len = pp;
    double c0 = bench_process_cpu();
    for (int i = 0; i < steps; i++) {
        const int32_t *t = toks + pp + 2 * i;
        if (kind == PLAIN || kind == VERIFY) {
            SeqChunk ch = {kv, t, kind == PLAIN ? 1 : 2};
            if (engine_forward(e, &ch, 1, lg, kind == VERIFY, kind == VERIFY ? hid : NULL) < 0) fatal_last();
        } else if (engine_mtp_forward(e, 0, kv, &mtp_len, hid, t, kind == MTP2 ? 2 : 1, lg) < 0) fatal_last();
    }
    return bench_process_cpu() - c0;
}

int main(int argc, char **argv) {
    const char *formats = "int4,int8,bf16", *threads = "1,2", *accept = "0.5,0.6,0.7,0.8,0.9";
    int pp = 256, steps = 16, R = 7, only = -1;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) fatal("option %s needs a value", argv[i]);
        if (!strcmp(argv[i], "--formats")) formats = argv[++i];
        else if (!strcmp(argv[i], "--threads")) threads = argv[++i];
        else if (!strcmp(argv[i], "--pp")) pp = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps")) R = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--accept")) accept = argv[++i];
        else if (!strcmp(argv[i], "--only")) only = atoi(argv[++i]);   // profiling: time one kind only (0..3)
        else fatal("unknown option %s (--formats, --threads, --pp, --steps, --reps, --accept)", argv[i]);
    }
    if (pp < 1 || steps < 1 || R < 1) fatal("--pp, --steps and --reps must be positive");
    Config c;
    if (config_preset("bench-infer", &c) < 0) fatal_last();
    c.num_nextn_predict_layers = 1;
    char fl[8][16], tl[8][16], al[16][16];
    int nf = bench_parse_list(formats, fl, 8), nt = bench_parse_list(threads, tl, 8), na = bench_parse_list(accept, al, 16);
    printf("# bench-infer + 1 MTP module (random weights), prefill %d, %d iterations per run, median of %d runs "
           "(process CPU time)\n", pp, steps, R);
    printf("| format | threads | plain ms/token | verify (n = 2) ms | MTP 2 rows ms | MTP 1 row ms | verify+MTP / plain |");
    for (int k = 0; k < na; k++) printf(" S(%s) |", al[k]);
    printf(" break-even a |\n|---|---|---|---|---|---|---|");
    for (int k = 0; k < na; k++) printf("---|");
    printf("---|\n");
    fflush(stdout);
    Rng r;
    rng_seed(&r, 7);
    int32_t *toks = xmalloc(sizeof(int32_t) * (size_t)(pp + 2 * steps));
    for (int i = 0; i < pp + 2 * steps; i++) toks[i] = (int32_t)rng_below(&r, (uint64_t)c.vocab_size);
    float *lg = xmalloc(sizeof(float) * 2 * (size_t)c.vocab_size);    // [2, V]
    float *hid = xmalloc(sizeof(float) * 2 * (size_t)c.hidden_size);  // [2, D]
    double *tm = xmalloc(sizeof(double) * NKIND * (size_t)R);          // [NKIND, R]
    for (int f = 0; f < nf; f++) {
        QType t;
        if (qtype_parse(fl[f], &t) < 0) fatal_last();
        InferModel m;
        memset(&m, 0, sizeof m);
        infer_model_random_as(&m, &c, 1234, 0.02f, t);
        if (infer_model_convert(&m, t) < 0) fatal_last();
        Engine e;
        engine_init(&e, &m);
        for (int ti = 0; ti < nt; ti++) {
            omp_set_num_threads(atoi(tl[ti]));
            KVCache kv;
            engine_kv_init(&e, &kv, 0);
            SeqChunk ch = {&kv, toks, pp};
            int mtp_len = 0;                                          // the MTP module's rows of the prompt
            float *ph = xmalloc(sizeof(float) * (size_t)pp * c.hidden_size), *pl = xmalloc(sizeof(float) * (size_t)pp * c.vocab_size);
            if (engine_forward(&e, &ch, 1, pl, 1, ph) < 0) fatal_last();
            if (engine_mtp_forward(&e, 0, &kv, &mtp_len, ph, toks + 1, pp, pl) < 0) fatal_last();
            free(ph); free(pl);
            for (int rep = 0; rep < R; rep++)
                for (int j = 0; j < NKIND; j++) {
                    int kind = (rep + j) % NKIND;                     // rotate the order
                    if (only >= 0 && kind != only) { tm[kind * R + rep] = 1; continue; }
                    tm[kind * R + rep] = run_kind(&e, &kv, pp, kind, steps, toks, lg, hid) / steps;
                }
            double med[NKIND];
            for (int k = 0; k < NKIND; k++) { qsort(tm + k * R, (size_t)R, sizeof(double), bench_cmp_double); med[k] = tm[k * R + R / 2]; }
            double t1 = med[PLAIN], ta = med[VERIFY] + med[MTP2], tr = med[VERIFY] + med[MTP1];
            printf("| %s | %s | %.1f | %.1f | %.1f | %.1f | %.2f |", fl[f], tl[ti], 1e3 * t1, 1e3 * med[VERIFY], 1e3 * med[MTP2],
                   1e3 * med[MTP1], ta / t1);
            for (int k = 0; k < na; k++) {
                double a = atof(al[k]);
                printf(" %.2f |", (1 + a) * t1 / (a * ta + (1 - a) * tr));
            }
            // S(a) = 1  <=>  (1 + a) t1 = a ta + (1 - a) tr  <=>  a (t1 - ta + tr) = tr - t1
            double den = t1 - ta + tr, be = den > 0 ? (tr - t1) / den : 2;
            if (be <= 1) printf(" %.2f |\n", be < 0 ? 0.0 : be); else printf(" never |\n");
            fflush(stdout);
            kv_free(&kv);
        }
        infer_model_free(&m);
    }
    free(toks); free(lg); free(hid); free(tm);
    return 0;
}
