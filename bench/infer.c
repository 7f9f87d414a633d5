// bench/infer.c — inference speed on issue 5's fixed model (config preset "bench-infer":
// V2-Lite shape scaled down, random weights): prompt processing (pp, default 512 tokens) and
// generation (tg, default 128 tokens; one untimed prefill first, as bench/infer_llamacpp.py does) in tokens/s for bf16 / int8 / int4 weights at 1 and 2
// threads; decode bytes touched per token against the machine's measured memory bandwidth
// (a STREAM-style triad and a streaming read — one or eight streams per thread, the better — in the same run,
// at its start and again right after each decode; the percentages use the larger of the two); KV-cache bytes
// per token.
//   build/bench/infer [--formats bf16,int8,int4] [--threads 1,2] [--pp 512] [--tg 128] [--layers N] [--pp-ab R]
//   --tg-runs R: the table's tg is the best of R runs (default 3) of tg tokens from the same cache position
//   --pp-ab R: prefill only, R alternated runs each with the int8/int4 integer GEMM off (older blocked kernel)
//              and on (lanegemm.c), best of each (an A/B of the prefill kernels in one process)
//   --kv-cache T: the latent cache's format (f32 default, bf16, fp8, fp8-rope); decode bytes count it
//   --pp-only R: prefill only, R runs with the default kernels, best (for profiling: perf record -D ...)
//   --bf16-seq C: bf16 decode reads one W row at a time up to C columns (qmat_set_bf16_seq_max_c; A/B runs)
//   --hp-ab R: decode only, two copies of each model (weights in huge pages off / on, base/hugemem.h), R
//              alternated runs of tg tokens each from the same cache position; median of per-pair CPU ratios
//   --il-ab R: the same with int4 matrices in the plain layout (off) and the decode layout (on, qmat_interleave)
//   --tg-ab R --a KNOBS --b KNOBS: decode only: after one prefill, R alternated runs of tg tokens from the same
//              cache position (kv_truncate back to pp) with kernel settings A and B; prints the median of the
//              per-pair CPU-time ratios A/B and the best of each. KNOBS: comma-separated name=value with names
//              bf16seq (qmat_set_bf16_seq_max_c), streams (qmat_set_streams), pf (qmat_set_prefetch, weights ahead), pfalign, lanegemm,
//              gevmpf (qmat_set_gevm_prefetch), team (team_set_enabled: decode in a team session, base/team.h),
//              gevmi4 (qmat_set_gevm_int4)
//   --kv-ab T: with --tg-ab, side B decodes from a second cache in format T (same prefill); side A from --kv-cache's
//   --wall: --tg-ab / --hp-ab / --il-ab compare wall time instead of process CPU time (for team, whose waiting
//              threads spin)
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench_util.h"
#include "base/check.h"
#include "base/hugemem.h"
#include "base/progress.h"
#include "base/rng.h"
#include "infer/engine.h"
#include "base/team.h"

static double triad_gbs(int threads) {
    size_t n = (size_t)32 << 20;   // 3 arrays x 128 MiB
    float *a = xmalloc_aligned(n * 4), *b = xmalloc_aligned(n * 4), *c = xmalloc_aligned(n * 4);
    #pragma omp parallel for num_threads(threads)
    for (size_t i = 0; i < n; i++) { a[i] = 0; b[i] = 1; c[i] = 2; }
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_seconds();
        #pragma omp parallel for num_threads(threads) schedule(static)
        for (size_t i = 0; i < n; i++) a[i] = b[i] + 0.5f * c[i];
        double dt = now_seconds() - t0, gbs = 3.0 * n * 4 / dt / 1e9;
        if (gbs > best) best = gbs;
    }
    free(a); free(b); free(c);
    return best;
}

// Streaming read of 384 MiB (what decode does to the weights: read only), AVX2 sums with 4 accumulators, static
// split over the threads, each thread's share read as S equal parts side by side (128 bytes of each per step):
// S = 1 (one sequential stream) and S = 8 (distant streams, as the matvec kernels read: one core keeps more lines
// in flight on several streams, 1.2-1.3x on this kind of machine); the better of the two, best of 5 each, GB/s.
static double read_gbs(int threads) {
    size_t n = (size_t)96 << 20;   // floats
    float *a = xmalloc_aligned(n * 4);
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = 1.0f;
    double best = 0, sink = 0;
    for (int rep = 0; rep < 10; rep++) {
        int S = rep & 1 ? 8 : 1;
        double t0 = now_seconds(), tot = 0;
        size_t read = 0;                               // bytes read: whole parts of every thread
        #pragma omp parallel num_threads(threads) reduction(+ : tot, read)
        {
            int nt = omp_get_num_threads(), id = omp_get_thread_num();
            size_t lo = n / 32 * id / nt * 32, hi = n / 32 * (id + 1) / nt * 32, part = (hi - lo) / 32 / S * 32;
            read += part * S * sizeof(float);
            __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
            for (size_t i = lo; i < lo + part; i += 32)
                for (int p = 0; p < S; p++) {
                    const float *q = a + i + (size_t)p * part;
                    s0 = _mm256_add_ps(s0, _mm256_load_ps(q)); s1 = _mm256_add_ps(s1, _mm256_load_ps(q + 8));
                    s2 = _mm256_add_ps(s2, _mm256_load_ps(q + 16)); s3 = _mm256_add_ps(s3, _mm256_load_ps(q + 24));
                }
            float o[8];
            _mm256_storeu_ps(o, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
            for (int k = 0; k < 8; k++) tot += o[k];
        }
        double dt = now_seconds() - t0, gbs = (double)read / dt / 1e9;
        sink += tot;
        if (gbs > best) best = gbs;
    }
    free(a);
    return sink == 42.0 ? 0 : best;   // (sink keeps the sums alive)
}

// Weight bytes one decode token reads: every non-expert projection (kv_b as W_UK / W_UV), the shared experts,
// K routed experts per MoE layer (average expert size), lm_head, one embedding row.
static double decode_bytes(const InferModel *m, int ctx, int kvd) {
    const Config *c = &m->c;
    double b = lin_bytes(&m->head) + (double)c->hidden_size * 4;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        const InferLayer *ly = &m->layers[l];
        b += lin_bytes(&ly->q_a) + lin_bytes(&ly->q_b) + lin_bytes(&ly->q) + lin_bytes(&ly->kv_a) + lin_bytes(&ly->o);
        b += lin_bytes(&ly->kv_b);   // W_UK / W_UV of absorbed decode, read from kv_b in its format
        b += lin_bytes(&ly->gate) + lin_bytes(&ly->up) + lin_bytes(&ly->down);
        b += lin_bytes(&ly->sg) + lin_bytes(&ly->su) + lin_bytes(&ly->sd);
        if (ly->moe) {
            double e = 0;
            for (int x = 0; x < c->n_routed_experts; x++) e += lin_bytes(&ly->eg[x]) + lin_bytes(&ly->eu[x]) + lin_bytes(&ly->ed[x]);
            b += e / c->n_routed_experts * c->num_experts_per_tok + (double)c->n_routed_experts * c->hidden_size * 4;
        }
        b += (double)ctx * kv_row_bytes(kvd, c->kv_lora_rank, c->qk_rope_head_dim);   // the latent cache
    }
    return b;
}

// Apply "name=value,..." kernel settings (the --tg-ab knobs).
static void apply_knobs(const char *spec) {
    char kv[8][16];
    int n = bench_parse_list(spec, kv, 8);
    for (int i = 0; i < n; i++) {
        char *eq = strchr(kv[i], '=');
        if (!eq) fatal("knob %s: expected name=value", kv[i]);
        *eq = 0;
        int v = atoi(eq + 1);
        if (!strcmp(kv[i], "bf16seq")) qmat_set_bf16_seq_max_c(v);
        else if (!strcmp(kv[i], "streams")) qmat_set_streams(v);
        else if (!strcmp(kv[i], "pf")) qmat_set_prefetch(v);
        else if (!strcmp(kv[i], "pfalign")) qmat_set_prefetch_align(v);
        else if (!strcmp(kv[i], "lanegemm")) qmat_set_lanegemm(v);
        else if (!strcmp(kv[i], "gevmpf")) qmat_set_gevm_prefetch(v);
        else if (!strcmp(kv[i], "team")) team_set_enabled(v);
        else if (!strcmp(kv[i], "gevmi4")) qmat_set_gevm_int4(v);
        else fatal("unknown knob %s (bf16seq, streams, pf, pfalign, lanegemm, gevmpf, team, gevmi4)", kv[i]);
    }
}

// Knob settings before a --tg-ab run (restored before each side applies its own).
typedef struct { int def[8]; const char *knobs[2]; } KnobAB;

static void knob_side(int side, void *ctx) {
    const KnobAB *k = ctx;
    qmat_set_bf16_seq_max_c(k->def[0]); qmat_set_prefetch(k->def[1]); qmat_set_prefetch_align(k->def[2]);
    qmat_set_lanegemm(k->def[3]); qmat_set_gevm_prefetch(k->def[4]); team_set_enabled(k->def[5]);
    qmat_set_gevm_int4(k->def[6]); qmat_set_streams(k->def[7]);
    if (side >= 0) apply_knobs(k->knobs[side]);
}

// R pairs of decode runs of tg tokens from cache position pp, sides in ABBA order: side s decodes with e[s] into
// kv[s] (the same engine and cache for both sides is fine), after setup(s, ctx) when given. best[s]: best CPU
// seconds (wall seconds with --wall: for settings that trade CPU for time, e.g. team=1 spins); q: quartiles of the
// per-pair ratios side 0 / side 1 (q[1] the median).
static int ab_wall = 0;
static void decode_ab(const Engine *const e[2], KVCache *const kv[2], const int32_t *toks, int pp, int tg, int R,
                      void (*setup)(int, void *), void *ctx, float *lg, double best[2], double q[3]) {
    double *ratio = xmalloc(sizeof(double) * (size_t)R);
    best[0] = best[1] = 1e30;
    for (int rep = 0; rep < R; rep++) {
        double cpu[2];
        for (int j = 0; j < 2; j++) {
            int s = rep & 1 ? 1 - j : j;               // ABBA order
            if (setup) setup(s, ctx);
            kv_truncate(kv[s], pp);
            double c0 = ab_wall ? now_seconds() : bench_process_cpu();
            for (int i = 0; i < tg; i++) {
                SeqChunk ch = {kv[s], &toks[pp + i], 1};
                if (engine_forward(e[s], &ch, 1, lg, 0, NULL) < 0) fatal_last();
            }
            cpu[s] = (ab_wall ? now_seconds() : bench_process_cpu()) - c0;
            if (cpu[s] < best[s]) best[s] = cpu[s];
        }
        ratio[rep] = cpu[0] / cpu[1];
    }
    qsort(ratio, (size_t)R, sizeof(double), bench_cmp_double);
    q[0] = ratio[R / 4]; q[1] = ratio[R / 2]; q[2] = ratio[3 * R / 4];
    free(ratio);
}

int main(int argc, char **argv) {
    const char *formats = "bf16,int8,int4", *threads = "1,2";
    int pp = 512, tg = 128, layers = 0, ab = 0, tgab = 0, hpab = 0, tg_runs = 3;
    const char *knob_a = "", *knob_b = "";
    int ilab = 0;                                      // --il-ab: the two models differ in the int4 layout, not huge pages
    int kvd = KV_F32;                              // --kv-cache: the latent cache's format
    int kvab = -1;                                 // --kv-ab: side B of --tg-ab decodes from a cache in this format
    for (int i = 1; i < argc; i += 2) {
        if (!strcmp(argv[i], "--wall")) { ab_wall = 1; i--; continue; }
        if (i + 1 >= argc) fatal("option %s needs a value", argv[i]);
        if (!strcmp(argv[i], "--formats")) formats = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = argv[i + 1];
        else if (!strcmp(argv[i], "--pp")) pp = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tg")) tg = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--layers")) layers = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--pp-ab")) ab = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--pp-only")) ab = -atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--bf16-seq")) qmat_set_bf16_seq_max_c(atoi(argv[i + 1]));
        else if (!strcmp(argv[i], "--tg-ab")) tgab = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tg-runs")) tg_runs = atoi(argv[i + 1]) > 0 ? atoi(argv[i + 1]) : 1;
        else if (!strcmp(argv[i], "--hp-ab")) hpab = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--il-ab")) { hpab = atoi(argv[i + 1]); ilab = 1; }
        else if (!strcmp(argv[i], "--kv-cache")) { if (kv_dtype_parse(argv[i + 1], &kvd) < 0) fatal_last(); }
        else if (!strcmp(argv[i], "--kv-ab")) { if (kv_dtype_parse(argv[i + 1], &kvab) < 0) fatal_last(); }
        else if (!strcmp(argv[i], "--a")) knob_a = argv[i + 1];
        else if (!strcmp(argv[i], "--b")) knob_b = argv[i + 1];
        else fatal("unknown option %s", argv[i]);
    }
    Config c;
    if (config_preset("bench-infer", &c) < 0) fatal_last();
    if (layers > 0) c.num_hidden_layers = layers;
    char fl[8][16], tl[8][16];
    int nf = bench_parse_list(formats, fl, 8), nt = bench_parse_list(threads, tl, 8);
    printf("# bench-infer: D %d, L %d, H %d, q_lora %d, kv_lora %d, E %d (K %d) + %d shared, expert width %d, V %d\n",
           c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.q_lora_rank, c.kv_lora_rank, c.n_routed_experts,
           c.num_experts_per_tok, c.n_shared_experts, c.moe_intermediate_size, c.vocab_size);
    double bw[8], rd[8];
    for (int ti = 0; ti < nt; ti++) {
        bw[ti] = triad_gbs(atoi(tl[ti]));
        rd[ti] = read_gbs(atoi(tl[ti]));
        printf("# STREAM-style triad, %s thread(s): %.1f GB/s; streaming read: %.1f GB/s\n", tl[ti], bw[ti], rd[ti]);
    }
    printf("| format | threads | pp%d tok/s | tg%d tok/s | decode MB/token | decode GB/s | %% of triad | %% of read |\n", pp, tg);
    printf("|---|---|---|---|---|---|---|---|\n");
    fflush(stdout);
    InferModel m;
    memset(&m, 0, sizeof m);
    Rng r;
    rng_seed(&r, 42);
    int32_t *toks = xmalloc(sizeof(int32_t) * (size_t)(pp + tg));
    for (int i = 0; i < pp; i++) toks[i] = (int32_t)rng_below(&r, c.vocab_size);
    for (int f = 0; f < nf && hpab > 0; f++) {     // huge pages off / on: two models with the same weights
        QType t;
        if (qtype_parse(fl[f], &t) < 0) fatal_last();
        InferModel mm[2];
        Engine ee[2];
        KVCache kk[2];
        float *lg = xmalloc(sizeof(float) * c.vocab_size);
        for (int k = 0; k < 2; k++) {
            int old = ilab ? qmat_set_interleave(k) : huge_set_enabled(k);
            memset(&mm[k], 0, sizeof mm[k]);
            infer_model_random_as(&mm[k], &c, 1234, 0.02f, t);
            if (infer_model_convert(&mm[k], t) < 0) fatal_last();
            if (ilab) qmat_set_interleave(old);
            else huge_set_enabled(old);
            engine_init(&ee[k], &mm[k]);
            ee[k].kv_dtype = kvd;
        }
        for (int i = 0; i < tg; i++) toks[pp + i] = (int32_t)rng_below(&r, c.vocab_size);
        for (int ti = 0; ti < nt; ti++) {
            omp_set_num_threads(atoi(tl[ti]));
            for (int k = 0; k < 2; k++) {
                engine_kv_init(&ee[k], &kk[k], 0);
                SeqChunk ch = {&kk[k], toks, pp};
                if (engine_forward(&ee[k], &ch, 1, lg, 0, NULL) < 0) fatal_last();
            }
            const Engine *ep[2] = {&ee[0], &ee[1]};
            KVCache *kp[2] = {&kk[0], &kk[1]};
            double best[2], q[3];
            decode_ab(ep, kp, toks, pp, tg, hpab, NULL, NULL, lg, best, q);
            printf("# tg%d %s off/on %s, %s thread(s), %d pairs: off best %.2f ms/token, on best %.2f ms/token (%s); "
                   "median off/on %.3f (quartiles %.3f-%.3f)\n", tg, ilab ? "int4 decode layout" : "huge pages", fl[f], tl[ti],
                   hpab, 1e3 * best[0] / tg, 1e3 * best[1] / tg, ab_wall ? "wall" : "CPU", q[1], q[0], q[2]);
            fflush(stdout);
            for (int k = 0; k < 2; k++) kv_free(&kk[k]);
        }
        for (int k = 0; k < 2; k++) infer_model_free(&mm[k]);
        free(lg);
    }
    for (int f = 0; f < nf && hpab == 0; f++) {
        QType t;
        if (qtype_parse(fl[f], &t) < 0) fatal_last();
        double t0 = now_seconds();
        if (f == 0) infer_model_random_as(&m, &c, 1234, 0.02f, t);
        if (infer_model_convert(&m, t) < 0) fatal_last();
        fprintf(stderr, "# %s model ready in %.1f s (%.2f GB of projection weights)\n", fl[f], now_seconds() - t0,
                infer_model_bytes(&m) / 1e9);
        Engine e;
        engine_init(&e, &m);
        e.kv_dtype = kvd;
        float *lg = xmalloc(sizeof(float) * c.vocab_size);
        for (int ti = 0; ti < nt && ab != 0; ti++) {  // prefill A/B: older blocked kernel vs integer GEMM
            omp_set_num_threads(atoi(tl[ti]));
            double best[2] = {1e30, 1e30}, bcpu[2] = {1e30, 1e30};
            for (int rep = 0; rep < (ab > 0 ? ab : -ab); rep++)
                for (int on = ab > 0 ? 0 : 1; on < 2; on++) {
                    int old = qmat_set_lanegemm(on);
                    KVCache kv;
                    engine_kv_init(&e, &kv, 0);
                    SeqChunk ch = {&kv, toks, pp};
                    double a = now_seconds(), cpu0 = bench_process_cpu();
                    if (engine_forward(&e, &ch, 1, lg, 0, NULL) < 0) fatal_last();
                    double dt = now_seconds() - a, cpu = bench_process_cpu() - cpu0;
                    qmat_set_lanegemm(old);
                    kv_free(&kv);
                    if (dt < best[on]) best[on] = dt;
                    if (cpu < bcpu[on]) bcpu[on] = cpu;
                }
            if (ab > 0)
                printf("# pp%d A/B %s, %s thread(s), best of %d: blocked %.1f tok/s (CPU %.2f s), lane GEMM %.1f tok/s (CPU %.2f s): "
                       "%.2fx\n", pp, fl[f], tl[ti], ab, pp / best[0], bcpu[0], pp / best[1], bcpu[1], best[0] / best[1]);
            else
                printf("# pp%d %s, %s thread(s), best of %d: %.1f tok/s (CPU %.2f s)\n", pp, fl[f], tl[ti], -ab, pp / best[1], bcpu[1]);
            fflush(stdout);
        }
        for (int ti = 0; ti < nt && tgab > 0; ti++) {  // decode A/B from the same cache position
            omp_set_num_threads(atoi(tl[ti]));
            KVCache kv, kv2;
            engine_kv_init(&e, &kv, 0);
            SeqChunk ch = {&kv, toks, pp};
            if (engine_forward(&e, &ch, 1, lg, 0, NULL) < 0) fatal_last();
            if (kvab >= 0) {                           // side B: the same prefill into a cache of format kvab
                int d0 = e.kv_dtype;
                e.kv_dtype = kvab;
                engine_kv_init(&e, &kv2, 0);
                e.kv_dtype = d0;
                SeqChunk ch2 = {&kv2, toks, pp};
                if (engine_forward(&e, &ch2, 1, lg, 0, NULL) < 0) fatal_last();
            }
            for (int i = 0; i < tg; i++) toks[pp + i] = (int32_t)rng_below(&r, c.vocab_size);
            KnobAB kn = {.knobs = {knob_a, knob_b}};  // the settings before the A/B, restored before each run
            kn.def[0] = qmat_set_bf16_seq_max_c(0); kn.def[1] = qmat_set_prefetch(0); kn.def[2] = qmat_set_prefetch_align(0);
            kn.def[3] = qmat_set_lanegemm(0); kn.def[4] = qmat_set_gevm_prefetch(0); kn.def[5] = team_set_enabled(0);
            kn.def[6] = qmat_set_gevm_int4(1); kn.def[7] = qmat_set_streams(0);
            const Engine *ep[2] = {&e, &e};
            KVCache *kp[2] = {&kv, kvab >= 0 ? &kv2 : &kv};
            double best[2], q[3];
            decode_ab(ep, kp, toks, pp, tg, tgab, knob_side, &kn, lg, best, q);
            knob_side(-1, &kn);
            char ka[64], kb[64];
            snprintf(ka, sizeof ka, "%s%skv=%s", knob_a, *knob_a ? "," : "", kv_dtype_name(kvd));
            snprintf(kb, sizeof kb, "%s%skv=%s", knob_b, *knob_b ? "," : "", kv_dtype_name(kvab >= 0 ? kvab : kvd));
            printf("# tg%d A/B %s, %s thread(s), %d pairs: A {%s} best %.2f ms/token, B {%s} best %.2f ms/token (%s); "
                   "median A/B %.3f (quartiles %.3f-%.3f)\n", tg, fl[f], tl[ti], tgab, ka, 1e3 * best[0] / tg, kb,
                   1e3 * best[1] / tg, ab_wall ? "wall" : "CPU", q[1], q[0], q[2]);
            fflush(stdout);
            kv_free(&kv);
            if (kvab >= 0) kv_free(&kv2);
        }
        for (int ti = 0; ti < nt && ab == 0 && tgab == 0; ti++) {
            omp_set_num_threads(atoi(tl[ti]));
            KVCache kv;
            engine_kv_init(&e, &kv, 0);
            SeqChunk ch = {&kv, toks, pp};
            if (engine_forward(&e, &ch, 1, lg, 0, NULL) < 0) fatal_last();   // untimed warm-up, as on llama.cpp's side
            kv_free(&kv);
            engine_kv_init(&e, &kv, 0);
            double a = now_seconds();
            if (engine_forward(&e, &ch, 1, lg, 0, NULL) < 0) fatal_last();
            double tpp = now_seconds() - a;
            // tg_runs runs of tg tokens from the same cache position (greedy: the same tokens each time), the best
            // counts: the bandwidths it is held against are the best of several runs too (infer_llamacpp.py alike)
            float *lg0 = xmalloc(sizeof(float) * (size_t)c.vocab_size);   // the prefill's logits, for every run
            memcpy(lg0, lg, sizeof(float) * (size_t)c.vocab_size);
            double ttg = 1e30, cpu = 0;
            for (int run = 0; run < tg_runs; run++) {
                kv_truncate(&kv, pp);
                memcpy(lg, lg0, sizeof(float) * (size_t)c.vocab_size);
                a = now_seconds();
                double cpu0 = bench_process_cpu();
                for (int i = 0; i < tg; i++) {
                    int best = 0;
                    for (int v = 1; v < c.vocab_size; v++) if (lg[v] > lg[best]) best = v;
                    toks[pp + i] = best;
                    ch = (SeqChunk){&kv, &toks[pp + i], 1};
                    if (engine_forward(&e, &ch, 1, lg, 0, NULL) < 0) fatal_last();
                }
                double t = now_seconds() - a, cp = bench_process_cpu() - cpu0;
                if (t < ttg) { ttg = t; cpu = cp; }
            }
            free(lg0);
            double bpt = decode_bytes(&m, pp + tg / 2, kvd), gbs = bpt * tg / ttg / 1e9;
            // the bandwidth again right after the decode (this VM's speed moves between minutes): the
            // percentages are against the larger of the two measurements, i.e. the stricter figure
            double bw2 = triad_gbs(atoi(tl[ti])), rd2 = read_gbs(atoi(tl[ti]));
            double bwm = bw2 > bw[ti] ? bw2 : bw[ti], rdm = rd2 > rd[ti] ? rd2 : rd[ti];
            printf("| %s | %s | %.1f | %.2f | %.1f | %.1f | %.0f%% | %.0f%% |\n", fl[f], tl[ti], pp / tpp, tg / ttg, bpt / 1e6, gbs,
                   100 * gbs / bwm, 100 * gbs / rdm);
            printf("# %s, %s thread(s): bandwidth right after the decode: triad %.1f GB/s, streaming read %.1f GB/s "
                   "(%% of triad / read against %.1f / %.1f, the larger of this and the run's first measurement)\n",
                   fl[f], tl[ti], bw2, rd2, bwm, rdm);
            // CPU time is robust to other jobs on a shared machine (time spent descheduled does not count);
            // with 1 thread it is the decode time an idle machine would show, memory stalls included.
            printf("# %s, %s thread(s): decode wall %.1f ms/token, CPU %.1f ms/token (all threads); at 1 thread "
                   "bytes / CPU time = %.1f GB/s\n", fl[f], tl[ti], 1e3 * ttg / tg, 1e3 * cpu / tg, bpt * tg / cpu / 1e9);
            fflush(stdout);
            kv_free(&kv);
        }
        free(lg);
    }
    if (hpab == 0) {                                   // (the A/B modes build their own models, not m)
        KVCache kv;
        Engine e;
        engine_init(&e, &m);
        e.kv_dtype = kvd;
        engine_kv_init(&e, &kv, 0);
        int L = c.num_hidden_layers;
        printf("# KV cache per token: deepc %zu B (%s latent 576 x %d layers); llama.cpp MLA f16: %d B (K 576 + V 512) "
               "or %d B (V-less, llama.cpp#19067)\n", kv_bytes_per_token(&kv), kv_dtype_name(kvd), L, (576 + 512) * 2 * L,
               576 * 2 * L);
        kv_free(&kv);
    }
    infer_model_free(&m);
    free(toks);
    return 0;
}
