// bench/qmatmul.c — y = x·Wᵀ per weight format at decode (N = 1) and prefill (N = 512), against the
// machine's measured streaming-read bandwidth and OpenBLAS sgemm/sgemv measured in the same run.
//
//   build/bench/qmatmul [--threads T] [--quick] [--sweep]
//   --sweep: only the crossover table: GFLOP/s of both strategies at N = 1 … 128 on W [1408, 2048]
//   --decode: only N = 1 on bench-infer's shapes, software prefetch off vs on at a few distances
//   --streams-ab: the same shapes, bf16 / int8 / int4 (decode layout) with each thread's rows read as 1, 2, 4, 8
//              distant streams (qmat_set_streams)
//   --smalln-ab [--pairs P] [--variants A,B] [--int4-only] [--dram]: paired A/B of the int8/int4 kernels for N = 1-4 x
//              rows (qmat_set_smalln A / B; default 0 = row_int, 1 = the small-N kernel), W in cache or (--dram) from DRAM
//   --il-ab [--pairs P] [--dram]: the same pairing for int4 at N = 1-4: plain layout against the decode layout
//              (qmat_interleave, rows interleaved by 8), W in cache or from DRAM
//   --prefill-n N: the same with N rows for every shape (e.g. 8: a batched decode step of 8 sequences)
//   --prefill: bf16/fp8/int8/int4 prefill on bench-infer's shapes (N = 48: a routed expert's share of a 512-token
//              prompt; N = 512 otherwise): lane GEMM (lanegemm.c) / blocked row kernel / decode-panel + sgemm (the
//              defaults before the lane GEMM: int8/int4 blocked, bf16/fp8 panels from N = 32), and FP32 sgemm on the
//              same shape, GFLOP/s, variants interleaved
//
// Prefill is measured both ways: "panel" = W decoded to FP32 panels once + OpenBLAS sgemm (FP32: sgemm
// itself), "block" = cache-blocked in-register kernels (int8/int4: integer dot products with int8
// activations). qmat_matmul picks per format the one that wins (see qmatmul.c panel_min_default).
// Decode rotates over enough copies of the matrix (> 4x the last-level cache) that weights come from
// DRAM, as in a real model. Figures: best of several repetitions (the machine is shared).
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "base/check.h"
#include "base/rng.h"
#include "kernels/qmatmul.h"

#define ROTATE_BYTES ((size_t)160 << 20)     // decode working set: > 4x a 32 MiB L3

// With one thread: the thread's CPU time (robust on a shared machine: time spent descheduled does not
// count; memory stalls do). With more: wall-clock time.
static int use_cpu_clock;
static double now(void) {
    if (use_cpu_clock) {
        struct timespec t;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
        return (double)t.tv_sec + t.tv_nsec * 1e-9;
    }
    return omp_get_wtime();
}

// Streaming read bandwidth (GB/s): sum a 256 MiB buffer with all threads, best of 5.
static double stream_read_gbs(void) {
    size_t n = ((size_t)256 << 20) / sizeof(float);
    float *a = xmalloc_aligned(n * sizeof(float));
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = (float)(i & 7);
    double best = 1e30, sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now(), total = 0;
        #pragma omp parallel for schedule(static) reduction(+ : total)
        for (size_t blk = 0; blk < n / 4096; blk++) {
#if defined(__AVX2__)
            __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
            const float *p = a + blk * 4096;
            for (int i = 0; i < 4096; i += 32) {
                s0 = _mm256_add_ps(s0, _mm256_load_ps(p + i));
                s1 = _mm256_add_ps(s1, _mm256_load_ps(p + i + 8));
                s2 = _mm256_add_ps(s2, _mm256_load_ps(p + i + 16));
                s3 = _mm256_add_ps(s3, _mm256_load_ps(p + i + 24));
            }
            float t[8];
            _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
            total += t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
#else
            float s = 0;
            for (int i = 0; i < 4096; i++) s += a[blk * 4096 + i];
            total += s;
#endif
        }
        double dt = now() - t0;
        sink += total;
        if (dt < best) best = dt;
    }
    if (sink == 42) printf(" ");
    free(a);
    return (double)n * sizeof(float) / best / 1e9;
}

typedef struct { double decode_gbs, decode_ms, prefill_panel_gflops, prefill_blocked_gflops; } Result;

static Result bench_one(const float *W, int R, int C, QType t, const float *x1, const float *xp, int NP, int quick) {
    Result res = {0};
    QMatrix base;
    if (qmat_from_f32(&base, W, R, C, t) < 0) fatal_last();
    size_t bytes = qmat_bytes(&base);
    int ncopy = (int)((ROTATE_BYTES + bytes - 1) / bytes);
    if (ncopy < 2) ncopy = 2;
    QMatrix *cp = xmalloc((size_t)ncopy * sizeof(QMatrix));
    size_t db = qmat_data_bytes(t, R, C), sb = qmat_scale_bytes(t, R, C);
    char *store = xmalloc_aligned((size_t)ncopy * (db + sb + 128));
    for (int i = 0; i < ncopy; i++) {
        char *d = store + (size_t)i * (db + sb + 128), *s = d + ((db + 63) / 64) * 64;
        memcpy(d, base.data, db);
        if (sb) memcpy(s, base.scale, sb);
        if (qmat_view(&cp[i], t, R, C, d, sb ? s : NULL) < 0) fatal_last();
    }
    float *y = xmalloc_aligned((size_t)NP * R * sizeof(float));
    // decode: one call per copy, cycling; best pass of all copies
    int passes = quick ? 3 : 8;
    double best = 1e30;
    for (int p = 0; p < passes; p++) {
        double t0 = now();
        for (int i = 0; i < ncopy; i++) qmat_matmul(&cp[i], x1, 1, y);
        double dt = (now() - t0) / ncopy;
        if (dt < best) best = dt;
    }
    res.decode_ms = best * 1e3;
    res.decode_gbs = (double)bytes / best / 1e9;
    // prefill: N = NP rows, both strategies: W decoded to FP32 panels + sgemm, and the cache-blocked
    // in-register kernels (integer dot products for int8/int4)
    int reps = quick ? 2 : 3;
    for (int strat = 0; strat < 2; strat++) {
        int old = qmat_set_panel_min_n(strat == 0 ? 1 : 1 << 30);
        best = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            qmat_matmul(&base, xp, NP, y);
            double dt = now() - t0;
            if (dt < best) best = dt;
        }
        qmat_set_panel_min_n(old);
        if (strat == 0) res.prefill_panel_gflops = 2.0 * NP * R * C / best / 1e9;
        else res.prefill_blocked_gflops = 2.0 * NP * R * C / best / 1e9;
    }
    free(y); free(store); free(cp);
    qmat_free(&base);
    return res;
}

// GFLOP/s of one strategy (knob: qmat_set_panel_min_n value) for N rows, best of a few runs.
static double gflops_at(const QMatrix *W, const float *x, int N, float *y, int knob, int quick) {
    int old = qmat_set_panel_min_n(knob);
    double best = 1e30;
    for (int r = 0; r < (quick ? 3 : 7); r++) {
        double t0 = now(), dt;
        int it = 0;
        do { qmat_matmul(W, x, N, y); it++; } while ((dt = now() - t0) < 0.02);
        dt /= it;
        if (dt < best) best = dt;
    }
    qmat_set_panel_min_n(old);
    return 2.0 * N * W->rows * W->cols / best / 1e9;
}

// Crossover table: the blocked / matvec kernels vs decode-panel + sgemm for N = 1 … 128 (W in cache).
static int run_sweep(int quick) {
    int R = 1408, C = 2048, Ns[] = {1, 2, 4, 8, 16, 32, 64, 128};
    Rng rng;
    rng_seed(&rng, 99);
    float *W = xmalloc((size_t)R * C * 4), *x = xmalloc((size_t)128 * C * 4), *y = xmalloc((size_t)128 * R * 4);
    for (size_t i = 0; i < (size_t)R * C; i++) W[i] = rng_normal(&rng) * 0.02f;
    for (size_t i = 0; i < (size_t)128 * C; i++) x[i] = rng_normal(&rng);
    printf("# crossover, W [%d, %d], GFLOP/s as block-kernel / panel+sgemm (%s clock)\n%-5s", R, C,
           use_cpu_clock ? "thread-CPU-time" : "wall", "fmt");
    for (int i = 0; i < 8; i++) printf(" %13s%d", "N=", Ns[i]);
    printf("\n");
    for (int t = QT_F32; t <= QT_I4; t++) {
        QMatrix m;
        if (qmat_from_f32(&m, W, R, C, (QType)t) < 0) fatal_last();
        printf("%-5s", qtype_name((QType)t));
        for (int i = 0; i < 8; i++)
            printf(" %7.1f/%-7.1f", gflops_at(&m, x, Ns[i], y, 1 << 30, quick), gflops_at(&m, x, Ns[i], y, 1, quick));
        printf("\n");
        fflush(stdout);
        qmat_free(&m);
    }
    free(W); free(x); free(y);
    return 0;
}

// Decode only, bench-infer's matrix shapes: GB/s of N = 1 per format with the software prefetch off and at a
// few distances (streams = 0), or (streams = 1) bf16 / int8 / int4 in the decode layout read as 1, 2, 4, 8 distant
// streams per thread (qmat_set_streams); passes interleaved so that load changes hit every variant alike.
static int run_decode(int streams) {
    int shapes[][2] = {{704, 1024}, {1024, 704}, {1408, 1024}, {3072, 512}, {1024, 2048}, {32000, 1024}};
    const char *names[] = {"expert gate/up", "expert down", "shared gate/up", "q_b", "o", "lm_head"};
    int dists[] = {0, 4096, 4096, 8192};   // weights ahead per row stream
    int align[] = {0, 0, 1, 1};            // rounded up to whole row groups
    int nstreams[] = {1, 2, 4, 8};
    enum { ND = 4, NS = 6 };
    Rng rng;
    rng_seed(&rng, 7);
    if (streams)
        printf("# decode N=1 GB/s (%s clock), %d thread(s), each thread's rows read as 1 / 2 / 4 / 8 distant streams; "
               "streaming read %.1f GB/s (1 stream per thread)\n", use_cpu_clock ? "thread-CPU-time" : "wall",
               omp_get_max_threads(), stream_read_gbs());
    else
        printf("# decode N=1 GB/s (%s clock), software prefetch 0 (off) / 4096 weights ahead / 4096 and 8192 rounded "
               "up to whole row groups; "
               "streaming read %.1f GB/s\n", use_cpu_clock ? "thread-CPU-time" : "wall", stream_read_gbs());
    for (int t = QT_F32; t <= QT_I4; t++)
        for (int si = 0; si < NS; si++) {
            if (streams && t != QT_BF16 && t != QT_I8 && t != QT_I4) continue;
            int R = shapes[si][0], C = shapes[si][1];
            float *W = xmalloc((size_t)R * C * 4), *x = xmalloc((size_t)C * 4), *y = xmalloc((size_t)R * 4);
            for (size_t i = 0; i < (size_t)R * C; i++) W[i] = rng_normal(&rng) * 0.02f;
            for (int i = 0; i < C; i++) x[i] = rng_normal(&rng);
            QMatrix base;
            if (qmat_from_f32(&base, W, R, C, (QType)t) < 0) fatal_last();
            if (streams && t == QT_I4 && qmat_interleave(&base) != 1) fatal("int4 [%d, %d]: no decode layout", R, C);
            size_t db = qmat_data_bytes(base.type, R, C), sb = qmat_scale_bytes(base.type, R, C), bytes = db + sb;
            int ncopy = (int)(ROTATE_BYTES / bytes) + 2;
            char *store = xmalloc_aligned((size_t)ncopy * (db + sb + 128));
            QMatrix *cp = xmalloc(sizeof(QMatrix) * (size_t)ncopy);
            for (int i = 0; i < ncopy; i++) {
                char *d = store + (size_t)i * (db + sb + 128), *sc = d + ((db + 63) / 64) * 64;
                memcpy(d, base.data, db);
                if (sb) memcpy(sc, base.scale, sb);
                if (qmat_view(&cp[i], base.type, R, C, d, sb ? sc : NULL) < 0) fatal_last();
                cp[i].il = base.il;                    // the same bytes, in the same layout
            }
            double best[ND];
            for (int d = 0; d < ND; d++) best[d] = 1e30;
            for (int p = 0; p < 5; p++)
                for (int d = 0; d < ND; d++) {
                    int old = streams ? 0 : qmat_set_prefetch(dists[d]), olda = streams ? 0 : qmat_set_prefetch_align(align[d]);
                    int olds = streams ? qmat_set_streams(nstreams[d]) : 0;
                    double t0 = now();
                    for (int i = 0; i < ncopy; i++) qmat_matmul(&cp[i], x, 1, y);
                    double dt = (now() - t0) / ncopy;
                    if (streams) qmat_set_streams(olds);
                    else { qmat_set_prefetch(old); qmat_set_prefetch_align(olda); }
                    if (dt < best[d]) best[d] = dt;
                }
            printf("%-5s %-15s [%5d, %4d] %6.2f MiB:", qtype_name((QType)t), names[si], R, C, bytes / 1048576.0);
            for (int d = 0; d < ND; d++) printf(" %6.1f", bytes / best[d] / 1e9);
            printf("\n");
            fflush(stdout);
            free(W); free(x); free(y); free(store); free(cp);
            qmat_free(&base);
        }
    return 0;
}

// One strategy at N rows: 0 lane GEMM, 1 blocked row kernel, 2 decode-panel + sgemm.
static double once(const QMatrix *W, const float *x, int N, float *y, int strat) {
    int oldp = qmat_set_panel_min_n(strat == 2 ? 1 : 1 << 30), oldi = qmat_set_lanegemm(strat == 0);
    double t0 = now(), dt;
    int it = 0;
    do { qmat_matmul(W, x, N, y); it++; } while ((dt = now() - t0) < 0.05);
    qmat_set_panel_min_n(oldp);
    qmat_set_lanegemm(oldi);
    return dt / it;
}

static int run_prefill(int quick, int n_override) {
    int shapes[][3] = {{704, 1024, 48}, {1024, 704, 48}, {1408, 1024, 512}, {1024, 1408, 512}, {3072, 512, 512},
                       {1024, 2048, 512}, {4096, 512, 512}};
    const char *names[] = {"expert gate/up", "expert down", "shared gate/up", "shared down", "q_b", "o", "kv_b"};
    Rng rng;
    rng_seed(&rng, 11);
    printf("# prefill GFLOP/s (%s clock), best of %d interleaved passes: lane GEMM / blocked row kernel / "
           "decode-panel + sgemm | FP32 sgemm on the same shape\n", use_cpu_clock ? "thread-CPU-time" : "wall", quick ? 3 : 7);
    for (int t = QT_BF16; t <= QT_I4; t++)
        for (int si = 0; si < 7; si++) {
            int R = shapes[si][0], C = shapes[si][1], N = n_override > 0 ? n_override : shapes[si][2];
            float *W = xmalloc((size_t)R * C * 4), *x = xmalloc((size_t)N * C * 4), *y = xmalloc((size_t)N * R * 4);
            for (size_t i = 0; i < (size_t)R * C; i++) W[i] = rng_normal(&rng) * 0.02f;
            for (size_t i = 0; i < (size_t)N * C; i++) x[i] = rng_normal(&rng);
            QMatrix m, f;
            if (qmat_from_f32(&m, W, R, C, (QType)t) < 0 || qmat_from_f32(&f, W, R, C, QT_F32) < 0) fatal_last();
            double best[4] = {1e30, 1e30, 1e30, 1e30};
            for (int p = 0; p < (quick ? 3 : 7); p++) {
                for (int s = 0; s < 3; s++) { double dt = once(&m, x, N, y, s); if (dt < best[s]) best[s] = dt; }
                double dt = once(&f, x, N, y, 2);
                if (dt < best[3]) best[3] = dt;
            }
            double fl = 2.0 * N * R * C / 1e9;
            printf("%-5s %-15s [%5d, %4d] N=%3d: %6.1f / %6.1f / %6.1f | %6.1f   lane/sgemm %.2f\n", qtype_name((QType)t), names[si], R, C,
                   N, fl / best[0], fl / best[1], fl / best[2], fl / best[3], best[3] / best[0]);
            fflush(stdout);
            free(W); free(x); free(y);
            qmat_free(&m); qmat_free(&f);
        }
    return 0;
}

// Paired A/B of the int8/int4 small-N kernels (qmat_set_smalln 0 = row_int, 1 = row_i4n / row_i8n) at N = 1-4, W in
// cache: per pair each variant runs >= 2 ms of back-to-back calls, in alternating order; the median of the per-pair
// time ratios old / new, and GFLOP/s from each variant's median time. N = 1 does not depend on the knob (a control:
// its ratio should be 1.00).
static int cmp_dbl(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

static QMatrix *ab_copies;    // --dram: views of ab_ncopy copies of W (>= 160 MiB together), cycled so W comes from DRAM
static int ab_ncopy, ab_next;
static int il_ab;             // --il-ab: variant 0 = W in the plain int4 layout, 1 = the decode layout (qmat_interleave)
static QMatrix ab_il, *ab_copies_il;   // --il-ab: W and its DRAM copies in the decode layout

static double timed_calls(const QMatrix *W, const float *x, int N, float *y, int variant, double min_s) {
    int old = il_ab ? 0 : qmat_set_smalln(variant);
    QMatrix *copies = il_ab && variant ? ab_copies_il : ab_copies;
    if (il_ab && variant) W = &ab_il;
    double t0 = now(), dt;
    int it = 0;
    do {
        qmat_matmul(copies ? &copies[ab_next++ % ab_ncopy] : W, x, N, y);
        it++;
    } while ((dt = now() - t0) < min_s);
    if (!il_ab) qmat_set_smalln(old);
    return dt / it;
}

static int va = 0, vb = 1;   // --variants A,B
static int fmt_lo = QT_I8;   // --int4-only: QT_I4
static int dram_ab;          // --dram: W from DRAM

static int run_smalln_ab(int pairs) {
    int shapes[][2] = {{1408, 2048}, {704, 1024}, {1024, 704}, {3072, 512}, {1024, 2048}, {1024, 1408}};
    const char *names[] = {"sweep", "expert gate/up", "expert down", "q_b", "o", "shared down"};
    enum { NSH = 6 };
    Rng rng;
    rng_seed(&rng, 5);
    if (il_ab)
        printf("# int4 layout A/B (%s clock), W %s, %d pairs: GFLOP/s with the plain layout / the decode layout "
               "(qmat_interleave), median ratio of the times plain/decode (> 1: decode layout faster)\n",
               use_cpu_clock ? "thread-CPU-time" : "wall", dram_ab ? "from DRAM (copies rotated)" : "in cache", pairs);
    else
        printf("# small-N A/B (%s clock), W %s, %d pairs: GFLOP/s with qmat_set_smalln(%d) / (%d), median ratio of the "
               "times A/B (> 1: B faster)\n", use_cpu_clock ? "thread-CPU-time" : "wall",
               dram_ab ? "from DRAM (copies rotated)" : "in cache", pairs, va, vb);
    if (il_ab) { va = 0; vb = 1; fmt_lo = QT_I4; }
    double *rat = xmalloc(sizeof(double) * (size_t)pairs), *ta = xmalloc(sizeof(double) * (size_t)pairs),
           *tb = xmalloc(sizeof(double) * (size_t)pairs);
    for (int t = fmt_lo; t <= QT_I4; t++) {
        double lg[5] = {0};
        for (int si = 0; si < NSH; si++) {
            int R = shapes[si][0], C = shapes[si][1];
            float *w = xmalloc((size_t)R * C * 4), *x = xmalloc((size_t)4 * C * 4), *y = xmalloc((size_t)4 * R * 4);
            float *y2 = xmalloc((size_t)4 * R * 4);
            for (size_t i = 0; i < (size_t)R * C; i++) w[i] = rng_normal(&rng) * 0.02f;
            for (size_t i = 0; i < (size_t)4 * C; i++) x[i] = rng_normal(&rng);
            QMatrix m;
            if (qmat_from_f32(&m, w, R, C, (QType)t) < 0) fatal_last();
            char *store = NULL;
            if (dram_ab) {
                size_t db = qmat_data_bytes(m.type, R, C), sb = qmat_scale_bytes(m.type, R, C);
                ab_ncopy = (int)(ROTATE_BYTES / (db + sb)) + 2;
                store = xmalloc_aligned((size_t)ab_ncopy * (db + sb + 128));
                ab_copies = xmalloc(sizeof(QMatrix) * (size_t)ab_ncopy);
                for (int i = 0; i < ab_ncopy; i++) {
                    char *d = store + (size_t)i * (db + sb + 128), *sc = d + ((db + 63) / 64) * 64;
                    memcpy(d, m.data, db);
                    memcpy(sc, m.scale, sb);
                    if (qmat_view(&ab_copies[i], m.type, R, C, d, sc) < 0) fatal_last();
                }
                if (il_ab) {                           // owned decode-layout copies of the same bytes
                    ab_copies_il = xmalloc(sizeof(QMatrix) * (size_t)ab_ncopy);
                    for (int i = 0; i < ab_ncopy; i++) {
                        ab_copies_il[i] = ab_copies[i];
                        if (qmat_interleave(&ab_copies_il[i]) != 1) fatal("qmat_interleave refused [%d, %d]", R, C);
                    }
                }
            }
            if (il_ab) {
                ab_il = m;
                ab_il.owns = 0;                       // m keeps its buffers; ab_il gets its own re-laid copy
                if (qmat_interleave(&ab_il) != 1) fatal("qmat_interleave refused [%d, %d]", R, C);
            }
            printf("%-5s %-15s [%4d, %4d]", qtype_name((QType)t), names[si], R, C);
            for (int N = 1; N <= 4; N++) {
                timed_calls(&m, x, N, y, va, 0.01); timed_calls(&m, x, N, y2, vb, 0.01);   // warm; results compared
                double md = 0, my = 1e-30;
                for (size_t i = 0; i < (size_t)N * R; i++) {
                    md = fmax(md, fabs((double)y[i] - y2[i]));
                    my = fmax(my, fabs((double)y[i]));
                }
                md /= my;                              // largest difference relative to the largest output
                if (md > 1e-5) fatal("%s N=%d: old and new kernels differ by %.3g (relative)", qtype_name((QType)t), N, md);
                for (int p = 0; p < pairs; p++) {
                    if (p & 1) { tb[p] = timed_calls(&m, x, N, y, vb, 0.002); ta[p] = timed_calls(&m, x, N, y, va, 0.002); }
                    else { ta[p] = timed_calls(&m, x, N, y, va, 0.002); tb[p] = timed_calls(&m, x, N, y, vb, 0.002); }
                    rat[p] = ta[p] / tb[p];
                }
                qsort(rat, (size_t)pairs, sizeof(double), cmp_dbl);
                qsort(ta, (size_t)pairs, sizeof(double), cmp_dbl);
                qsort(tb, (size_t)pairs, sizeof(double), cmp_dbl);
                double fl = 2.0 * N * R * C / 1e9, r = rat[pairs / 2];
                lg[N] += log(r);
                printf("  N=%d %5.1f/%5.1f %.3f", N, fl / ta[pairs / 2], fl / tb[pairs / 2], r);
                fflush(stdout);
            }
            printf("\n");
            qmat_free(&m);
            if (il_ab) {
                qmat_free(&ab_il);
                for (int i = 0; ab_copies_il && i < ab_ncopy; i++) qmat_free(&ab_copies_il[i]);
                free(ab_copies_il);
                ab_copies_il = NULL;
            }
            free(w); free(x); free(y); free(y2); free(store); free(ab_copies);
            ab_copies = NULL;
        }
        printf("%-5s geomean ratio over the shapes: N=1 %.3f  N=2 %.3f  N=3 %.3f  N=4 %.3f\n", qtype_name((QType)t),
               exp(lg[1] / NSH), exp(lg[2] / NSH), exp(lg[3] / NSH), exp(lg[4] / NSH));
    }
    free(rat); free(ta); free(tb);
    return 0;
}

int main(int argc, char **argv) {
    int threads = omp_get_max_threads(), quick = 0, sweep = 0, decode = 0, prefill = 0, prefill_n = 0, smalln = 0, pairs = 41;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--sweep")) sweep = 1;
        else if (!strcmp(argv[i], "--decode")) decode = 1;
        else if (!strcmp(argv[i], "--streams-ab")) decode = 2;
        else if (!strcmp(argv[i], "--prefill")) prefill = 1;
        else if (!strcmp(argv[i], "--smalln-ab")) smalln = 1;
        else if (!strcmp(argv[i], "--il-ab")) { smalln = 1; il_ab = 1; }
        else if (!strcmp(argv[i], "--int4-only")) fmt_lo = QT_I4;
        else if (!strcmp(argv[i], "--dram")) dram_ab = 1;
        else if (!strcmp(argv[i], "--pairs") && i + 1 < argc) pairs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--variants") && i + 1 < argc) {
            if (sscanf(argv[++i], "%d,%d", &va, &vb) != 2) fatal("--variants wants two knob values A,B (e.g. 0,1)");
        }
        else if (!strcmp(argv[i], "--prefill-n") && i + 1 < argc) { prefill = 1; prefill_n = atoi(argv[++i]); }
        else fatal("usage: qmatmul [--threads T] [--quick] [--sweep] [--decode] [--streams-ab] [--prefill] [--prefill-n N] [--smalln-ab [--pairs P] [--variants A,B] [--int4-only] [--dram]] [--il-ab [--pairs P] [--dram]]");
    }
    if (threads < 1) fatal("--threads must be at least 1");
    omp_set_num_threads(threads);
    use_cpu_clock = threads == 1;
    openblas_set_num_threads(threads);
    if (pairs < 1) fatal("--pairs must be at least 1");
    if (smalln) return run_smalln_ab(pairs);
    if (sweep) return run_sweep(quick);
    if (prefill) return run_prefill(quick, prefill_n);
    if (decode) return run_decode(decode == 2);
    int NP = 512;
    double bw = stream_read_gbs();
    printf("# qmatmul benchmark: %d thread(s), %s clock, streaming read bandwidth %.1f GB/s\n", threads,
           use_cpu_clock ? "thread-CPU-time" : "wall", bw);
    int shapes[2][2] = {{1408, 2048}, {4096, 4096}};
    Rng rng;
    rng_seed(&rng, 1234);
    for (int s = 0; s < 2; s++) {
        int R = shapes[s][0], C = shapes[s][1];
        float *W = xmalloc((size_t)R * C * 4), *x1 = xmalloc((size_t)C * 4), *xp = xmalloc((size_t)NP * C * 4);
        for (size_t i = 0; i < (size_t)R * C; i++) W[i] = rng_normal(&rng) * 0.02f;
        for (int i = 0; i < C; i++) x1[i] = rng_normal(&rng);
        for (size_t i = 0; i < (size_t)NP * C; i++) xp[i] = rng_normal(&rng);
        // peers: OpenBLAS sgemv (decode) and sgemm (prefill) on the FP32 matrix
        float *y = xmalloc((size_t)NP * R * 4);
        int ncopy = (int)(ROTATE_BYTES / ((size_t)R * C * 4)) + 2;
        float *Wc = xmalloc_aligned((size_t)ncopy * R * C * 4);
        for (int i = 0; i < ncopy; i++) memcpy(Wc + (size_t)i * R * C, W, (size_t)R * C * 4);
        double best = 1e30;
        for (int p = 0; p < (quick ? 3 : 8); p++) {
            double t0 = now();
            for (int i = 0; i < ncopy; i++) cblas_sgemv(CblasRowMajor, CblasNoTrans, R, C, 1.0f, Wc + (size_t)i * R * C, C, x1, 1, 0.0f, y, 1);
            double dt = (now() - t0) / ncopy;
            if (dt < best) best = dt;
        }
        free(Wc);
        double sgemv_gbs = (double)R * C * 4 / best / 1e9;
        best = 1e30;
        for (int r = 0; r < (quick ? 2 : 4); r++) {
            double t0 = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, NP, R, C, 1.0f, xp, C, W, C, 0.0f, y, R);
            double dt = now() - t0;
            if (dt < best) best = dt;
        }
        double sgemm_gflops = 2.0 * NP * R * C / best / 1e9;
        printf("\n## W [%d, %d] (rows = out, cols = in)\n", R, C);
        printf("peer OpenBLAS sgemv N=1: %.1f GB/s (%.2f of stream)   sgemm N=%d: %.1f GFLOP/s\n", sgemv_gbs, sgemv_gbs / bw, NP, sgemm_gflops);
        printf("%-5s %8s | %8s %7s %7s %7s | %13s %7s | %13s %7s\n", "fmt", "MiB", "N=1 ms", "GB/s", "/stream", "/sgemv",
               "panel GFLOP/s", "/sgemm", "block GFLOP/s", "/sgemm");
        for (int t = QT_F32; t <= QT_I4; t++) {
            QMatrix tmp;
            if (qmat_from_f32(&tmp, W, R, C, (QType)t) < 0) fatal_last();
            double mib = qmat_bytes(&tmp) / 1048576.0;
            qmat_free(&tmp);
            Result r = bench_one(W, R, C, (QType)t, x1, xp, NP, quick);
            printf("%-5s %8.2f | %8.3f %7.1f %7.2f %7.2f | %13.1f %7.2f | %13.1f %7.2f\n", qtype_name((QType)t), mib,
                   r.decode_ms, r.decode_gbs, r.decode_gbs / bw, r.decode_gbs / sgemv_gbs, r.prefill_panel_gflops,
                   r.prefill_panel_gflops / sgemm_gflops, r.prefill_blocked_gflops, r.prefill_blocked_gflops / sgemm_gflops);
            fflush(stdout);
        }
        free(W); free(x1); free(xp); free(y);
    }
    return 0;
}
