// test_qmatmul.c — kernels/qmatmul: every fast path (matvec N <= 4, grouped small N, panel+sgemm)
// against the scalar reference, the reference against double-precision products of the dequantized
// weights, quantization error against FP32, shapes, sizes and refusals.
#include "test.h"
#include "base/check.h"
#include "base/rng.h"
#include "kernels/bf16.h"
#include "kernels/fp8.h"
#include "kernels/qmatmul.h"
#include "kernels/quant.h"
#include <omp.h>
#include <stdint.h>
#include <time.h>

static Rng rng;

static float *randn(size_t n, float scale) {
    float *x = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = rng_normal(&rng) * scale;
    return x;
}

// y = x·Wᵀ in double from the dequantized weights and (for int8/int4) the A8-quantized activations;
// also Σ|products| per element for an FP32 rounding bound.
static void exact_product(const QMatrix *W, const float *x, int N, double *y, double *mag) {
    int R = W->rows, C = W->cols;
    float *Wd = xmalloc((size_t)R * C * 4), *xa = xmalloc((size_t)C * 4);
    int8_t *aq = xmalloc((size_t)C); float *ad = xmalloc((size_t)C / 32 * 4 + 4);
    qmat_to_f32(W, Wd);
    for (int n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * C;
        if (W->type == QT_I8 || W->type == QT_I4) {
            a8_quantize_row_ref(xn, C, aq, ad);
            for (int k = 0; k < C; k++) xa[k] = ad[k / 32] * aq[k];
            xn = xa;
        }
        for (int r = 0; r < R; r++) {
            double acc = 0, m = 0;
            for (int k = 0; k < C; k++) { double p = (double)Wd[(size_t)r * C + k] * xn[k]; acc += p; m += fabs(p); }
            y[(size_t)n * R + r] = acc; mag[(size_t)n * R + r] = m;
        }
    }
    free(Wd); free(xa); free(aq); free(ad);
}

static int check_il = 0;   // 1: check_shape puts int4 matrices in the decode layout (qmat_interleave) first

static void check_shape(QType t, int R, int C, const int *Ns, int nN) {
    float *w = randn((size_t)R * C, 0.05f);
    QMatrix W;
    int rc = qmat_from_f32(&W, w, R, C, t);
    CHECK(rc == 0, "%s [%d,%d]: %s", qtype_name(t), R, C, last_error());
    if (rc) { free(w); return; }
    if (check_il) CHECK(qmat_interleave(&W) == 1 && W.il, "[%d,%d] not interleaved", R, C);
    for (int i = 0; i < nN; i++) {
        int N = Ns[i];
        float *x = randn((size_t)N * C, 1.0f);
        float *yr = xmalloc((size_t)N * R * 4), *yf = xmalloc((size_t)N * R * 4);
        double *ye = xmalloc((size_t)N * R * 8), *mag = xmalloc((size_t)N * R * 8);
        qmat_matmul_ref(&W, x, N, yr);
        qmat_matmul(&W, x, N, yf);
        exact_product(&W, x, N, ye, mag);
        double wr = 0, wf = 0;
        for (size_t j = 0; j < (size_t)N * R; j++) {
            double bound = (C + 64) * 0x1p-24 * mag[j] + 1e-30;   // FP32 accumulation + decode/scale roundings
            wr = fmax(wr, fabs(yr[j] - ye[j]) / bound);
            wf = fmax(wf, fabs(yf[j] - ye[j]) / bound);
        }
        CHECK(wr <= 1, "%s [%d,%d] N=%d: reference off the exact product by %.3g x bound", qtype_name(t), R, C, N, wr);
        CHECK(wf <= 1, "%s [%d,%d] N=%d: fast off the exact product by %.3g x bound", qtype_name(t), R, C, N, wf);
        CHECK(rel_err(yf, yr, (size_t)N * R) < 2e-5, "%s [%d,%d] N=%d: fast vs ref %g", qtype_name(t), R, C, N,
              rel_err(yf, yr, (size_t)N * R));
        free(x); free(yr); free(yf); free(ye); free(mag);
    }
    qmat_free(&W);
    free(w);
}

TEST(fast_matches_reference_all_formats) {
    int Ns[] = {1, 2, 3, 4, 5, 7, 16, 37};
    for (int t = QT_F32; t <= QT_I4; t++) {
        check_shape((QType)t, 37, 96, Ns, 8);        // C multiple of 32, not of 128
        check_shape((QType)t, 130, 256, Ns, 8);      // partial 128-row block
        check_shape((QType)t, 64, 2048 + 32, Ns, 4);
        check_shape((QType)t, 66, 704, Ns, 8);        // V2-Lite-bench expert down_proj width: 22 blocks
        check_shape((QType)t, 9, 224, Ns, 8);         // 7 blocks: odd leftover
    }
    for (int t = QT_F32; t <= QT_FP8; t++) {         // any C for the float formats
        check_shape((QType)t, 29, 203, Ns, 8);
        check_shape((QType)t, 31, 211, Ns, 8);        // bf16 one row at a time: 32-, 16- and 1-column steps
        check_shape((QType)t, 3, 5, Ns, 8);
    }
}

TEST(every_path_matches_reference) {
    // force each strategy: decode-panel + sgemm from N = 1, and the blocked in-register kernels at every N
    int Ns[] = {1, 4, 6, 33};
    // (kk = 2: int8/int4 through the older blocked row kernel instead of the integer GEMM, and bf16 decode in
    // 4-row groups instead of one row at a time)
    int knobs[] = {1, 1 << 30, 1 << 30};
    for (int kk = 0; kk < 3; kk++) {
        int old = qmat_set_panel_min_n(knobs[kk]), oldi = qmat_set_lanegemm(kk != 2);
        int oldb = qmat_set_bf16_seq_max_c(kk == 2 ? 0 : 1 << 30);
        for (int t = QT_F32; t <= QT_I4; t++) {
            check_shape((QType)t, 200, 160, Ns, 4);
            check_shape((QType)t, 33, 64, Ns, 4);
        }
        check_shape(QT_FP8, 257, 300, Ns, 4);
        qmat_set_panel_min_n(old);
        qmat_set_lanegemm(oldi);
        qmat_set_bf16_seq_max_c(oldb);
    }
}

TEST(quantization_error_vs_fp32) {
    int R = 256, C = 1024, N = 4;
    float *w = randn((size_t)R * C, 0.03f), *x = randn((size_t)N * C, 1.0f);
    float *y0 = xmalloc((size_t)N * R * 4), *y = xmalloc((size_t)N * R * 4);
    QMatrix W;
    qmat_from_f32(&W, w, R, C, QT_F32);
    qmat_matmul(&W, x, N, y0);
    qmat_free(&W);
    // relative RMS error bounds: bf16 ~0.2%, fp8 e4m3 ~3%, int8 ~0.5-1%, int4 ~10%
    double lim[] = {0, 0.01, 0.06, 0.02, 0.2};
    for (int t = QT_BF16; t <= QT_I4; t++) {
        CHECK(qmat_from_f32(&W, w, R, C, (QType)t) == 0, "%s", last_error());
        qmat_matmul(&W, x, N, y);
        double num = 0, den = 0;
        for (int i = 0; i < N * R; i++) { num += (y[i] - y0[i]) * (double)(y[i] - y0[i]); den += (double)y0[i] * y0[i]; }
        double rel = sqrt(num / den);
        CHECK(rel < lim[t] && rel > 1e-6, "%s: relative RMS error %.4f (limit %.2f)", qtype_name((QType)t), rel, lim[t]);
        qmat_free(&W);
    }
    free(w); free(x); free(y0); free(y);
}

TEST(sizes_and_shapes) {
    int R = 300, C = 4096;
    CHECK(qmat_data_bytes(QT_F32, R, C) == (size_t)R * C * 4, "f32 bytes");
    CHECK(qmat_data_bytes(QT_BF16, R, C) == (size_t)R * C * 2, "bf16 bytes");
    CHECK(qmat_data_bytes(QT_FP8, R, C) == (size_t)R * C && qmat_scale_bytes(QT_FP8, R, C) == 3 * 32 * 4, "fp8: scales [3, 32]");
    CHECK(qmat_data_bytes(QT_I8, R, C) + qmat_scale_bytes(QT_I8, R, C) == (size_t)R * C / 32 * 34, "int8: 34 bytes per 32");
    CHECK(qmat_data_bytes(QT_I4, R, C) + qmat_scale_bytes(QT_I4, R, C) == (size_t)R * C / 32 * 18, "int4: 18 bytes per 32");
    // DeepSeek-V3 shapes from the spec: kv_a_proj_with_mqa [576, 7168] -> scale [5, 56]
    CHECK(qmat_scale_bytes(QT_FP8, 576, 7168) == 5 * 56 * 4, "kv_a_proj scale shape");
    CHECK(qmat_scale_bytes(QT_FP8, 24576, 1536) == 192 * 12 * 4, "q_b_proj scale shape");
}

TEST(from_fp8_blocks_equals_quantized) {
    int R = 200, C = 384;
    float *w = randn((size_t)R * C, 0.1f);
    uint8_t *q = xmalloc((size_t)R * C);
    float s[2 * 3];
    fp8_quant_weight(w, R, C, q, s, 0);
    QMatrix A, B, V;
    CHECK(qmat_from_fp8_blocks(&A, q, s, R, C) == 0, "%s", last_error());
    CHECK(qmat_from_f32(&B, w, R, C, QT_FP8) == 0, "%s", last_error());
    CHECK(!memcmp(A.data, B.data, (size_t)R * C) && !memcmp(A.scale, B.scale, sizeof s), "same codes and scales");
    CHECK(qmat_view(&V, QT_FP8, R, C, q, s) == 0 && V.owns == 0 && V.data == q, "view");
    float *d = xmalloc((size_t)C * 4);
    qmat_dequant_row(&V, 150, d);
    for (int c = 0; c < C; c++) CHECK(d[c] == fp8_e4m3_to_f32(q[150 * C + c]) * s[1 * 3 + c / 128], "dequant row at %d", c);
    float bad[6] = {1, 1, NAN, 1, 1, 1};
    CHECK(qmat_from_fp8_blocks(&V, q, bad, R, C) < 0 && strstr(last_error(), "non-finite"), "NaN scale refused: %s", last_error());
    qmat_free(&A); qmat_free(&B); qmat_free(&V);
    free(w); free(q); free(d);
}

TEST(refusals_have_messages) {
    float w[64 * 100];
    for (int i = 0; i < 64 * 100; i++) w[i] = 0.01f * (i % 7);
    QMatrix m;
    CHECK(qmat_from_f32(&m, w, 64, 100, QT_I8) < 0 && strstr(last_error(), "multiple of 32"), "int8 cols 100: %s", last_error());
    CHECK(qmat_from_f32(&m, w, 64, 100, QT_I4) < 0 && strstr(last_error(), "multiple of 32"), "int4 cols 100: %s", last_error());
    CHECK(qmat_from_f32(&m, w, 0, 100, QT_F32) < 0, "zero rows");
    CHECK(qmat_from_f32(&m, w, 64, 100, QT_FP8) == 0, "fp8 any cols: %s", last_error());
    qmat_free(&m);
    w[517] = NAN;
    CHECK(qmat_from_f32(&m, w, 64, 100, QT_BF16) < 0 && strstr(last_error(), "row 5, column 17"), "NaN weight: %s", last_error());
    w[517] = 1e9f;
    CHECK(qmat_from_f32(&m, w, 64, 96, QT_I8) < 0 && strstr(last_error(), "too large"), "huge weight: %s", last_error());
    QType t;
    CHECK(qtype_parse("int4", &t) == 0 && t == QT_I4 && qtype_parse("q4_0", &t) < 0 && strstr(last_error(), "q4_0"),
          "qtype_parse: %s", last_error());
    for (int i = 0; i < 5; i++) CHECK(qtype_parse(qtype_name((QType)i), &t) == 0 && t == (QType)i, "name round trip %d", i);
}

TEST(fuzz_parse_and_view) {
    // random and mutated format names: a clear error or the right type, never a crash
    const char *names[] = {"f32", "bf16", "fp8", "int8", "int4"};
    char buf[16];
    for (int it = 0; it < 20000; it++) {
        const char *base = names[rng_below(&rng, 5)];
        size_t len = strlen(base);
        memcpy(buf, base, len + 1);
        int kind = (int)rng_below(&rng, 3);
        if (kind == 0) buf[rng_below(&rng, len)] = (char)(1 + rng_below(&rng, 255));          // mutate a byte
        else if (kind == 1) buf[rng_below(&rng, len + 1)] = 0;                                 // truncate
        else for (int i = 0; i < 15; i++) buf[i] = (char)(1 + rng_below(&rng, 255)), buf[15] = 0;
        QType t;
        int rc = qtype_parse(buf, &t);
        int known = 0;
        for (int i = 0; i < 5; i++) if (!strcmp(buf, names[i])) { known = 1; CHECK(rc == 0 && t == (QType)i, "'%s'", buf); }
        if (!known) CHECK(rc < 0 && strstr(last_error(), "unknown weight format"), "'%s' accepted", buf);
    }
    // views: missing data or scales, bad shapes
    uint8_t data[64 * 64];
    float s[1] = {1};
    QMatrix m;
    CHECK(qmat_view(&m, QT_I8, 64, 64, data, NULL) < 0 && strstr(last_error(), "scales missing"), "%s", last_error());
    CHECK(qmat_view(&m, QT_FP8, 64, 64, NULL, s) < 0 && strstr(last_error(), "no data"), "%s", last_error());
    CHECK(qmat_view(&m, QT_I4, 64, 48, data, s) < 0 && strstr(last_error(), "multiple of 32"), "%s", last_error());
    CHECK(qmat_view(&m, (QType)9, 64, 64, data, s) < 0, "unknown type id");
    CHECK(qmat_view(&m, QT_BF16, -1, 64, data, NULL) < 0, "negative rows");
    CHECK(qmat_view(&m, QT_FP8, 64, 64, data, s) == 0 && qmat_bytes(&m) == 64 * 64 + 4, "fp8 view bytes");
    qmat_free(&m);                                     // a view frees nothing
    CHECK(data[0] == data[0] && s[0] == 1, "view buffers untouched");
}

TEST(nested_in_parallel_region) {
    // experts run side by side: calls from inside a parallel region give the same results
    int R = 96, C = 256, E = 4, N = 3;
    QMatrix W[4];
    float *w = randn((size_t)E * R * C, 0.05f), *x = randn((size_t)N * C, 1.0f);
    float *y1 = xmalloc((size_t)E * N * R * 4), *y2 = xmalloc((size_t)E * N * R * 4);
    for (int e = 0; e < E; e++) qmat_from_f32(&W[e], w + (size_t)e * R * C, R, C, (QType)(QT_BF16 + e % 4));
    for (int e = 0; e < E; e++) qmat_matmul(&W[e], x, N, y1 + (size_t)e * N * R);
    #pragma omp parallel for num_threads(2)
    for (int e = 0; e < E; e++) qmat_matmul(&W[e], x, N, y2 + (size_t)e * N * R);
    CHECK(!memcmp(y1, y2, (size_t)E * N * R * 4), "results differ inside a parallel region");
    for (int e = 0; e < E; e++) qmat_free(&W[e]);
    free(w); free(x); free(y1); free(y2);
}

// Row ranges (absorbed MLA decode): y = W[r0..r0+n)·x and y = Σ x[i]·W[r0+i, :], fast and reference,
// against double-precision products of the dequantized weights (A8 activations for int8/int4 gemv; int4 gevm:
// its int8 factors, within half a quantization step per product, and fast equal to reference bit for bit).
static void check_rows(QType t, int R, int C, int r0, int n) {
    float *w = randn((size_t)R * C, 0.05f), *x = randn((size_t)C, 1.0f), *xv = randn((size_t)n, 1.0f);
    QMatrix W;
    int rc = qmat_from_f32(&W, w, R, C, t);
    CHECK(rc == 0, "%s [%d,%d]: %s", qtype_name(t), R, C, last_error());
    if (rc) { free(w); free(x); free(xv); return; }
    float *Wd = xmalloc((size_t)R * C * 4), *xa = xmalloc((size_t)C * 4);
    qmat_to_f32(&W, Wd);
    memcpy(xa, x, (size_t)C * 4);
    if (t == QT_I8 || t == QT_I4) {
        int8_t *aq = xmalloc((size_t)C); float *ad = xmalloc((size_t)C / 32 * 4 + 4);
        a8_quantize_row_ref(x, C, aq, ad);
        for (int k = 0; k < C; k++) xa[k] = ad[k / 32] * aq[k];
        free(aq); free(ad);
    }
    float *yv = xmalloc((size_t)n * 4), *yt = xmalloc((size_t)C * 4), *ytr = xmalloc((size_t)C * 4);
    qmat_gemv_rows(&W, r0, n, x, yv);
    qmat_gevm_rows(&W, r0, n, xv, yt);
    qmat_gevm_rows_ref(&W, r0, n, xv, ytr);
    double wv = 0, wt = 0, wtr = 0;
    for (int i = 0; i < n; i++) {
        double acc = 0, m = 0;
        for (int k = 0; k < C; k++) { double p = (double)Wd[(size_t)(r0 + i) * C + k] * xa[k]; acc += p; m += fabs(p); }
        wv = fmax(wv, fabs(yv[i] - acc) / ((C + 64) * 0x1p-24 * m + 1e-30));
    }
    for (int k = 0; k < C; k++) {
        double acc = 0, m = 0;
        for (int i = 0; i < n; i++) { double p = (double)Wd[(size_t)(r0 + i) * C + k] * xv[i]; acc += p; m += fabs(p); }
        double bound = (n + 64) * 0x1p-24 * m + 1e-30;
        if (t == QT_I4) {                              // factors x[i]·s[i, b] quantized to int8 over the rows (qmatmul.h)
            const uint16_t *sc = (const uint16_t *)W.scale;
            int nb = C / 32, b = k / 32;
            double amax = 0, uabs = 0;
            for (int i = 0; i < n; i++) {
                double si = f16_to_f32(sc[(size_t)(r0 + i) * nb + b]);
                amax = fmax(amax, fabs(xv[i] * si));
                if (si != 0) uabs += fabs(Wd[(size_t)(r0 + i) * C + k] / si);   // |u - 8| (scales carry a sign)
            }
            bound += 0.51 * amax / 127 * uabs;
        }
        wt = fmax(wt, fabs(yt[k] - acc) / bound);
        wtr = fmax(wtr, fabs(ytr[k] - acc) / bound);
    }
    if (t == QT_I4) CHECK(!memcmp(yt, ytr, (size_t)C * 4), "int4 [%d,%d] rows %d+%d: gevm differs from its reference", R, C, r0, n);
    CHECK(wv <= 1, "%s [%d,%d] rows %d+%d: gemv off the exact product by %.3g x bound", qtype_name(t), R, C, r0, n, wv);
    CHECK(wt <= 1, "%s [%d,%d] rows %d+%d: gevm off the exact product by %.3g x bound", qtype_name(t), R, C, r0, n, wt);
    CHECK(wtr <= 1, "%s [%d,%d] rows %d+%d: gevm ref off by %.3g x bound", qtype_name(t), R, C, r0, n, wtr);
    qmat_free(&W);
    free(w); free(x); free(xv); free(Wd); free(xa); free(yv); free(yt); free(ytr);
}

TEST(row_ranges_match_exact) {
    for (int t = QT_F32; t <= QT_I4; t++) {
        check_rows((QType)t, 512, 512, 128, 128);     // V2-Lite kv_b head slices: W_UK rows, W_UV rows
        check_rows((QType)t, 512, 512, 256 + 128, 128);
        check_rows((QType)t, 300, 96, 37, 7);         // odd offsets and counts (FP8: rows off its 128-blocks)
        check_rows((QType)t, 260, 160, 0, 260);
        if (t <= QT_FP8) check_rows((QType)t, 70, 45, 3, 61);   // C % 32 != 0 (float formats only)
    }
}

// The lane GEMM with several matrices of one format sharing x (x quantized / packed once): equal to single calls
// bit for bit, at row counts around its tile sizes (8-row groups, 3- and 6-row tiles, 24-row panels).
TEST(lanegemm_multi_equals_single_calls) {
    int C = 192, rows[4] = {24, 7, 50, 1};
    int Ns[] = {5, 8, 9, 16, 17, 40};
    for (int t = QT_BF16; t <= QT_I4; t++)
        for (int ni = 0; ni < 6; ni++) {
            int N = Ns[ni];
            QMatrix W[4];
            const QMatrix *Wp[4];
            float *y1[4], *y2[4];
            float *x = randn((size_t)N * C, 1.0f);
            for (int i = 0; i < 4; i++) {
                float *w = randn((size_t)rows[i] * C, 0.05f);
                CHECK(qmat_from_f32(&W[i], w, rows[i], C, (QType)t) == 0, "%s", last_error());
                free(w);
                Wp[i] = &W[i];
                y1[i] = xmalloc((size_t)N * rows[i] * 4); y2[i] = xmalloc((size_t)N * rows[i] * 4);
                qmat_matmul(&W[i], x, N, y1[i]);
            }
            qmat_matmul_multi(Wp, 4, x, N, y2);
            for (int i = 0; i < 4; i++) {
                CHECK(!memcmp(y1[i], y2[i], (size_t)N * rows[i] * 4), "%s N=%d matrix %d: multi differs from a single call",
                      qtype_name((QType)t), N, i);
                qmat_free(&W[i]); free(y1[i]); free(y2[i]);
            }
            free(x);
        }
}

TEST(multi_equals_single_calls) {
    // several matrices sharing x (MLA q_a + kv_a, expert gate + up), mixed formats, in one call
    int C = 256, rows[5] = {96, 37, 130, 4, 260};
    for (int N = 1; N <= 6; N++) {
        QMatrix W[5];
        const QMatrix *Wp[5];
        float *y1[5], *y2[5];
        float *x = randn((size_t)N * C, 1.0f);
        for (int i = 0; i < 5; i++) {
            float *w = randn((size_t)rows[i] * C, 0.05f);
            CHECK(qmat_from_f32(&W[i], w, rows[i], C, (QType)((i + N) % 5)) == 0, "%s", last_error());
            free(w);
            Wp[i] = &W[i];
            y1[i] = xmalloc((size_t)N * rows[i] * 4); y2[i] = xmalloc((size_t)N * rows[i] * 4);
            qmat_matmul(&W[i], x, N, y1[i]);
        }
        qmat_matmul_multi(Wp, 5, x, N, y2);
        for (int i = 0; i < 5; i++) {
            CHECK(!memcmp(y1[i], y2[i], (size_t)N * rows[i] * 4), "N=%d matrix %d (%s): multi differs from a single call", N, i,
                  qtype_name(W[i].type));
            qmat_free(&W[i]); free(y1[i]); free(y2[i]);
        }
        free(x);
    }
}

// int4 (and int8) with 2-4 x rows: every row grouping of the small-N kernel (qmat_set_smalln 1-3) and the old row
// kernel (0) against the scalar reference, on row counts that leave partial groups (R % 4 = 1, 2, 3), and on widths
// with whole 8-block groups, leftover block pairs and an odd last block; single matrices and the fused
// multi-matrix call (int4 next to int8 and bf16: each matrix's rows grouped by its own format).
TEST(small_n_kernels_match_reference) {
    int Ns[] = {2, 3, 4};
    int shapes[][2] = {{37, 256}, {66, 704}, {9, 224}, {13, 288}, {7, 96}, {130, 2080}, {1, 512}, {6, 1024}};
    for (int v = 0; v <= 3; v++) {
        int old = qmat_set_smalln(v);
        for (int t = QT_I8; t <= QT_I4; t++)
            for (int si = 0; si < 8; si++) check_shape((QType)t, shapes[si][0], shapes[si][1], Ns, 3);
        for (int N = 2; N <= 4; N++) {                // fused call: y equal to single calls bit for bit
            int C = 352, rows[4] = {45, 7, 64, 130};  // 11 blocks: one 8-block group, a pair, an odd block
            QType types[4] = {QT_I4, QT_I8, QT_I4, QT_BF16};
            QMatrix W[4];
            const QMatrix *Wp[4];
            float *y1[4], *y2[4], *yr[4];
            float *x = randn((size_t)N * C, 1.0f);
            for (int i = 0; i < 4; i++) {
                float *w = randn((size_t)rows[i] * C, 0.05f);
                CHECK(qmat_from_f32(&W[i], w, rows[i], C, types[i]) == 0, "%s", last_error());
                free(w);
                Wp[i] = &W[i];
                y1[i] = xmalloc((size_t)N * rows[i] * 4); y2[i] = xmalloc((size_t)N * rows[i] * 4);
                yr[i] = xmalloc((size_t)N * rows[i] * 4);
                qmat_matmul(&W[i], x, N, y1[i]);
                qmat_matmul_ref(&W[i], x, N, yr[i]);
            }
            qmat_matmul_multi(Wp, 4, x, N, y2);
            for (int i = 0; i < 4; i++) {
                CHECK(!memcmp(y1[i], y2[i], (size_t)N * rows[i] * 4), "variant %d N=%d matrix %d (%s): multi differs from a single call",
                      v, N, i, qtype_name(types[i]));
                CHECK(rel_err(y2[i], yr[i], (size_t)N * rows[i]) < 2e-5, "variant %d N=%d matrix %d (%s): multi vs ref %g", v, N, i,
                      qtype_name(types[i]), rel_err(y2[i], yr[i], (size_t)N * rows[i]));
                qmat_free(&W[i]); free(y1[i]); free(y2[i]); free(yr[i]);
            }
            free(x);
        }
        qmat_set_smalln(old);
    }
}

// The int16 partial sums of the int4 kernels at their bound: nibbles 15 (value +7) nearly everywhere and activation
// codes +-127 give |lo + hi| = 7620 per lane and 30480 after the two unpack-adds; any overflow (a wrong bound, one
// level too many) shows as a wrapped block sum, far off the reference.
TEST(int4_small_n_extreme_codes) {
    int R = 12, C = 448;                               // 14 blocks: a whole group, a leftover quad and pair
    float *w = xmalloc((size_t)R * C * 4);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            float sgn = r % 3 == 2 ? -1.0f : 1.0f;    // rows 2, 5, ...: all codes 0 (value -8) but one
            w[(size_t)r * C + c] = c % 32 == (r * 7) % 32 ? -sgn : 0.875f * sgn;   // one -1 per block: d = 1/8, rest 15
        }
    QMatrix W;
    CHECK(qmat_from_f32(&W, w, R, C, QT_I4) == 0, "%s", last_error());
    for (int N = 2; N <= 4; N++)
        for (int pat = 0; pat < 3; pat++) {
            float *x = xmalloc((size_t)N * C * 4), *y = xmalloc((size_t)N * R * 4), *yr = xmalloc((size_t)N * R * 4);
            for (int i = 0; i < N * C; i++)
                x[i] = pat == 0 ? 1.0f : pat == 1 ? -1.0f : (rng_below(&rng, 2) ? 1.0f : -1.0f);   // A8 codes +-127
            for (int v = 0; v <= 1; v++) {
                int old = qmat_set_smalln(v);
                qmat_matmul(&W, x, N, y);
                qmat_set_smalln(old);
                qmat_matmul_ref(&W, x, N, yr);
                CHECK(rel_err(y, yr, (size_t)N * R) < 1e-6, "variant %d N=%d pattern %d: %g off the reference", v, N, pat,
                      rel_err(y, yr, (size_t)N * R));
            }
            free(x); free(y); free(yr);
        }
    qmat_free(&W);
    free(w);
}

// The int4 decode layout (qmat_interleave, rows in lanes): every path (matvec N = 1-4, 5-7 in passes of 4, lane GEMM
// from 8, decode + sgemm) within the FP32 bound of the exact product and equal to the plain layout's results; the
// layout itself round-trips (dequantized rows, plain rows); batched rows equal single rows bit for bit; row ranges
// on and off whole groups; fused calls mixing layouts equal single calls; refusals.
TEST(int4_decode_layout) {
    int Ns[] = {1, 2, 3, 4, 5, 7, 8, 16, 48};
    int shapes[][2] = {{8, 32}, {16, 96}, {64, 704}, {48, 1024}, {24, 2080}, {40, 224}};
    check_il = 1;
    for (int si = 0; si < 6; si++) check_shape(QT_I4, shapes[si][0], shapes[si][1], Ns, 9);
    int oldp = qmat_set_panel_min_n(8);                // the decode + sgemm path reads rows through qmat_dequant_row
    check_shape(QT_I4, 32, 160, Ns + 6, 2);
    qmat_set_panel_min_n(oldp);
    check_il = 0;
    for (int si = 0; si < 6; si++) {
        int R = shapes[si][0], C = shapes[si][1], nb = C / 32;
        float *w = randn((size_t)R * C, 0.05f);
        QMatrix P, I;
        CHECK(qmat_from_f32(&P, w, R, C, QT_I4) == 0 && qmat_from_f32(&I, w, R, C, QT_I4) == 0, "%s", last_error());
        CHECK(qmat_interleave(&I) == 1 && qmat_interleave(&I) == 0, "[%d,%d]: interleave twice", R, C);
        CHECK(qmat_bytes(&I) == qmat_bytes(&P), "sizes differ");
        float *wp = xmalloc((size_t)R * C * 4), *wi = xmalloc((size_t)R * C * 4);
        qmat_to_f32(&P, wp); qmat_to_f32(&I, wi);
        CHECK(!memcmp(wp, wi, (size_t)R * C * 4), "[%d,%d]: dequantized matrices differ", R, C);
        uint8_t *q = xmalloc((size_t)C / 2); uint16_t *d = xmalloc((size_t)nb * 2);
        for (int r = 0; r < R; r++) {
            qmat_i4_plain_row(&I, r, q, d);
            CHECK(!memcmp(q, (uint8_t *)P.data + (size_t)r * C / 2, (size_t)C / 2) && !memcmp(d, (uint16_t *)P.scale + (size_t)r * nb, (size_t)nb * 2),
                  "[%d,%d] row %d: plain bytes differ", R, C, r);
        }
        int N = 4;
        float *x = randn((size_t)N * C, 1.0f), *y = xmalloc((size_t)N * R * 4), *y1 = xmalloc((size_t)R * 4);
        float *yp = xmalloc((size_t)N * R * 4), *yr = xmalloc((size_t)R * 4), *yq = xmalloc((size_t)R * 4);
        for (int n = 1; n <= N; n++) {
            qmat_matmul(&I, x, n, y);
            qmat_matmul(&P, x, n, yp);
            CHECK(rel_err(y, yp, (size_t)n * R) < 2e-5, "[%d,%d] N=%d: decode layout vs plain %g", R, C, n, rel_err(y, yp, (size_t)n * R));
            for (int k = 0; k < n; k++) {              // bit for bit in the AVX2 kernel; the portable build (decode +
                qmat_matmul(&I, x + (size_t)k * C, 1, y1);   // sgemm, e.g. DEBUG=1) only to rounding
#if defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
                CHECK(!memcmp(y1, y + (size_t)k * R, (size_t)R * 4), "[%d,%d] N=%d: row %d differs from a single call", R, C, n, k);
#else
                CHECK(rel_err(y1, y + (size_t)k * R, (size_t)R) < 2e-6, "[%d,%d] N=%d: row %d off a single call", R, C, n, k);
#endif
            }
        }
        int ranges[][2] = {{0, R}, {8, R - 8}, {3, 5}, {R - 1, 1}};  // whole groups (a view) and not (row by row)
        for (int i = 0; i < 4; i++) {
            int r0 = ranges[i][0], n = ranges[i][1];
            if (n <= 0) continue;
            qmat_gemv_rows(&I, r0, n, x, yr);
            qmat_gemv_rows(&P, r0, n, x, yq);
            CHECK(rel_err(yr, yq, (size_t)n) < 2e-5, "[%d,%d] rows %d+%d: gemv %g", R, C, r0, n, rel_err(yr, yq, (size_t)n));
        }
        float *g1 = xmalloc((size_t)C * 4), *g2 = xmalloc((size_t)C * 4);
        qmat_gevm_rows(&I, 0, R, x, g1);
        qmat_gevm_rows(&P, 0, R, x, g2);
        CHECK(rel_err(g1, g2, (size_t)C) < 2e-5, "[%d,%d]: gevm %g", R, C, rel_err(g1, g2, (size_t)C));
        for (int n = 1; n <= 16; n *= 4) {            // fused calls with a plain int4, an int8 and a decode-layout matrix
            QMatrix J, K;
            CHECK(qmat_from_f32(&J, w, R, C, QT_I8) == 0 && qmat_from_f32(&K, w, R, C, QT_I4) == 0, "%s", last_error());
            const QMatrix *Ws[3] = {&K, &I, &I};
            float *xs = randn((size_t)n * C, 1.0f), *ys[3], *ys1 = xmalloc((size_t)n * R * 4);
            for (int i = 0; i < 3; i++) ys[i] = xmalloc((size_t)n * R * 4);
            qmat_matmul_multi(Ws, 3, xs, n, ys);
            for (int i = 0; i < 3; i++) {
                qmat_matmul(Ws[i], xs, n, ys1);
                CHECK(!memcmp(ys1, ys[i], (size_t)n * R * 4), "[%d,%d] N=%d: multi matrix %d differs from a single call", R, C, n, i);
            }
            const QMatrix *Wm[2] = {&J, &I};            // mixed types: one call each
            qmat_matmul_multi(Wm, 2, xs, n, ys);
            qmat_matmul(&I, xs, n, ys1);
            CHECK(!memcmp(ys1, ys[1], (size_t)n * R * 4), "[%d,%d] N=%d: mixed multi differs", R, C, n);
            for (int i = 0; i < 3; i++) free(ys[i]);
            free(xs); free(ys1); qmat_free(&J); qmat_free(&K);
        }
        qmat_free(&P); qmat_free(&I);
        free(w); free(wp); free(wi); free(q); free(d); free(x); free(y); free(y1); free(yp); free(yr); free(yq); free(g1); free(g2);
    }
    float *w = randn(12 * 64, 0.05f);
    QMatrix A, B;
    CHECK(qmat_from_f32(&A, w, 12, 64, QT_I4) == 0 && qmat_from_f32(&B, w, 8, 64, QT_I8) == 0, "%s", last_error());
    CHECK(qmat_interleave(&A) == 0 && !A.il, "12 rows (not a multiple of 8) must stay plain");
    CHECK(qmat_interleave(&B) == 0 && !B.il, "int8 must stay plain");
    qmat_free(&A); qmat_free(&B);
    CHECK(qmat_from_f32(&A, w, 8, 64, QT_I4) == 0, "%s", last_error());
    int old = qmat_set_interleave(0);
    CHECK(qmat_interleave(&A) == 0 && !A.il, "turned off, but interleaved");
    qmat_set_interleave(old);
    qmat_free(&A);
    free(w);
}

// N = 1 on bf16, fp8 and int8 rows and int4 decode-layout groups: each thread reads its share as 1-8 distant streams
// (qmat_set_streams). Every stream count and thread count gives the same bits, in single and fused calls whose
// parts cross matrix boundaries and end short (row counts not multiples of the streams).
TEST(matvec_streams_same_bits) {
    int C = 288, rows[3] = {37, 8 * 13, 1000};         // 9 blocks: int8's 8-block loop and a leftover block
    static const char *kind[4] = {"bf16", "int8", "int4 decode layout", "fp8"};   // fp8: parts in different 128-row blocks
    static const QType type[4] = {QT_BF16, QT_I8, QT_I4, QT_FP8};
    for (int k = 0; k < 4; k++) {
        QMatrix W[3];
        const QMatrix *Wp[3];
        float *x = randn((size_t)C, 1.0f), *ref[3], *y[3];
        for (int i = 0; i < 3; i++) {
            int R = k == 2 ? 8 * (rows[i] / 8 + 1) : rows[i];
            float *w = randn((size_t)R * C, 0.05f);
            CHECK(qmat_from_f32(&W[i], w, R, C, type[k]) == 0, "%s", last_error());
            if (k == 2) CHECK(qmat_interleave(&W[i]) == 1, "[%d,%d] not interleaved", R, C);
            free(w);
            Wp[i] = &W[i];
            ref[i] = xmalloc((size_t)R * 4); y[i] = xmalloc((size_t)R * 4);
        }
        int olds = qmat_set_streams(1), oldt = omp_get_max_threads();
        omp_set_num_threads(1);
        for (int i = 0; i < 3; i++) qmat_matmul(&W[i], x, 1, ref[i]);
        for (int s = 0; s <= 8; s++)
            for (int nt = 1; nt <= 3; nt++) {
                qmat_set_streams(s);
                omp_set_num_threads(nt);
                for (int i = 0; i < 3; i++) {
                    memset(y[i], 0xff, (size_t)W[i].rows * 4);
                    qmat_matmul(&W[i], x, 1, y[i]);
                    CHECK(!memcmp(y[i], ref[i], (size_t)W[i].rows * 4), "%s [%d,%d] streams %d threads %d: differs",
                          kind[k], W[i].rows, C, s, nt);
                    memset(y[i], 0xff, (size_t)W[i].rows * 4);
                }
                qmat_matmul_multi(Wp, 3, x, 1, y);
                for (int i = 0; i < 3; i++)
                    CHECK(!memcmp(y[i], ref[i], (size_t)W[i].rows * 4), "%s fused, matrix %d, streams %d threads %d: differs",
                          kind[k], i, s, nt);
            }
        qmat_set_streams(olds);
        omp_set_num_threads(oldt);
        for (int i = 0; i < 3; i++) { qmat_free(&W[i]); free(ref[i]); free(y[i]); }
        free(x);
    }
}

// The int16 partial sums of the decode-layout kernel at their bound (8 vpmaddubsw lanes of 3810 = 30480): nibbles 15
// nearly everywhere and activation codes +-127, for 1-4 x rows.
TEST(int4_decode_layout_extreme_codes) {
    int R = 16, C = 448;
    float *w = xmalloc((size_t)R * C * 4);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            float sgn = r % 3 == 2 ? -1.0f : 1.0f;
            w[(size_t)r * C + c] = c % 32 == (r * 7) % 32 ? -sgn : 0.875f * sgn;
        }
    QMatrix W;
    CHECK(qmat_from_f32(&W, w, R, C, QT_I4) == 0 && qmat_interleave(&W) == 1, "%s", last_error());
    for (int N = 1; N <= 4; N++)
        for (int pat = 0; pat < 3; pat++) {
            float *x = xmalloc((size_t)N * C * 4), *y = xmalloc((size_t)N * R * 4), *yr = xmalloc((size_t)N * R * 4);
            for (int i = 0; i < N * C; i++) x[i] = pat == 0 ? 1.0f : pat == 1 ? -1.0f : (rng_below(&rng, 2) ? 1.0f : -1.0f);
            qmat_matmul(&W, x, N, y);
            qmat_matmul_ref(&W, x, N, yr);
            CHECK(rel_err(y, yr, (size_t)N * R) < 1e-6, "N=%d pattern %d: %g off the reference", N, pat, rel_err(y, yr, (size_t)N * R));
            free(x); free(y); free(yr);
        }
    qmat_free(&W);
    free(w);
}

int main(void) {
    uint64_t seed = (uint64_t)time(NULL) ^ (uint64_t)clock() << 20;
    printf("# seed %llu\n", (unsigned long long)seed);
    rng_seed(&rng, seed);
    RUN(fast_matches_reference_all_formats);
    RUN(every_path_matches_reference);
    RUN(quantization_error_vs_fp32);
    RUN(sizes_and_shapes);
    RUN(from_fp8_blocks_equals_quantized);
    RUN(refusals_have_messages);
    RUN(fuzz_parse_and_view);
    RUN(nested_in_parallel_region);
    RUN(row_ranges_match_exact);
    RUN(multi_equals_single_calls);
    RUN(lanegemm_multi_equals_single_calls);
    RUN(small_n_kernels_match_reference);
    RUN(int4_small_n_extreme_codes);
    RUN(int4_decode_layout);
    RUN(int4_decode_layout_extreme_codes);
    RUN(matvec_streams_same_bits);
    return test_summary();
}
