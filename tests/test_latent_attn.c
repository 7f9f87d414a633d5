// test_latent_attn.c — kernels/latent_attn (one-pass absorbed decode attention with an online
// softmax, heads in vector lanes) against its reference twin (two-pass softmax in double) on fresh
// random inputs: head counts that fill, split and pad the 8/16-lane groups, row counts that hit every
// register-tile remainder, rows fed in blocks of several sizes, strided inputs, and scores large enough
// that a softmax without the running max would overflow. The int8 form (lattn_rows_i8, rows in the KV_I8
// cache layout) against a twin of the integer math written here from latent_attn.h's description, and
// against the FP32 reference on the decoded rows.
#include "test.h"
#include "base/check.h"
#include "base/rng.h"
#include "kernels/latent_attn.h"
#include "infer/kvcache.h"
#include <time.h>

static Rng rng;

static float *randv(size_t n, float s) {
    float *x = xmalloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) x[i] = s * rng_normal(&rng);
    return x;
}

// One query of nh heads over n rows fed `blk` rows per lattn_rows call; returns the relative error
// against lattn_ref. Rows and queries at strides wider than their width.
static double run_case(int nh, int r, int W, int n, int blk, float qs) {
    int ldr = W + 3, lda = r + 5, ldb = (W - r) + 2, ldo = r + 1;
    float *rows = randv((size_t)n * ldr, 1.0f), *qa = randv((size_t)nh * lda, qs), *qb = randv((size_t)nh * ldb, qs);
    float *o = xmalloc(sizeof(float) * (size_t)nh * ldo), *ref = xmalloc(sizeof(float) * (size_t)nh * ldo);
    float scale = 1.0f / sqrtf((float)W);
    for (size_t i = 0; i < (size_t)nh * ldo; i++) o[i] = ref[i] = 0;
    LatAttn a;
    lattn_init(&a, nh, r, W, blk);
    lattn_begin(&a, qa, lda, qb, ldb, scale);
    for (int j = 0; j < n; j += blk) lattn_rows(&a, rows + (size_t)j * ldr, n - j < blk ? n - j : blk, ldr);
    lattn_end(&a, o, ldo);
    lattn_ref(qa, lda, qb, ldb, scale, nh, rows, n, ldr, r, W, ref, ldo);
    double e = rel_err(o, ref, (size_t)nh * ldo);
    lattn_free(&a);
    free(rows); free(qa); free(qb); free(o); free(ref);
    return e;
}

TEST(matches_reference_every_head_count) {
    static const int heads[] = {1, 3, 7, 8, 9, 15, 16, 17, 24, 33, 64};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        double e = run_case(heads[i], 512, 576, 131, 64, 1.0f);   // bench-infer's latent: r 512, rope 64
        CHECK(e < 1e-5, "nh %d: rel err %g", heads[i], e);
    }
}

TEST(matches_reference_every_row_tail) {
    for (int n = 1; n <= 27; n++)                                    // 6- and 12-row tiles and their tails
        for (int nh = 8; nh <= 16; nh += 8) {
            double e = run_case(nh, 64, 96, n, 64, 1.0f);
            CHECK(e < 1e-5, "n %d nh %d: rel err %g", n, nh, e);
        }
}

TEST(odd_widths_and_block_sizes) {
    // r not a multiple of the 6/12-column value tiles, rope part of odd width, blocks of 1..64 rows
    static const int blk[] = {1, 5, 13, 64};
    for (size_t b = 0; b < 4; b++) {
        double e = run_case(11, 70, 77, 150, blk[b], 1.0f);
        CHECK(e < 1e-5, "blocks of %d: rel err %g", blk[b], e);
        e = run_case(5, 33, 40, 97, blk[b], 1.0f);
        CHECK(e < 1e-5, "blocks of %d, nh 5: rel err %g", blk[b], e);
    }
}

TEST(large_scores_stay_finite) {
    // |scores| in the hundreds: exp without the running max would overflow; later blocks raise the max
    double e = run_case(16, 512, 576, 300, 64, 40.0f);
    CHECK(e < 1e-4 && e == e, "large scores: rel err %g", e);
    e = run_case(8, 64, 96, 300, 7, 60.0f);
    CHECK(e < 1e-4 && e == e, "large scores, small blocks: rel err %g", e);
}

TEST(parts_over_disjoint_rows_combine) {
    // Rows split over np partial states (threads), some parts empty, heads gathered in two ranges.
    int r = 512, W = 576, n = 200, ldr = W, lda = r, ldb = W - r;
    for (int nh = 8; nh <= 24; nh += 16)
        for (int np = 1; np <= 4; np++) {
            float *rows = randv((size_t)n * ldr, 1.0f), *qa = randv((size_t)nh * lda, 3.0f), *qb = randv((size_t)nh * ldb, 3.0f);
            float *o = xcalloc((size_t)nh * r, sizeof(float)), *ref = xmalloc(sizeof(float) * (size_t)nh * r);
            LatAttn la[4];
            const LatAttn *pp[4];
            int cut[5] = {0, 0, 0, 0, n};                           // part p gets rows [cut[p], cut[p+1])
            for (int p = 1; p < np; p++) cut[p] = (int)rng_below(&rng, (uint64_t)n + 1);
            cut[np] = n;
            for (int p = 1; p < np; p++)                            // sorted; part 0 empty when np > 2
                for (int q = p + 1; q < np; q++) if (cut[q] < cut[p]) { int t = cut[p]; cut[p] = cut[q]; cut[q] = t; }
            if (np > 2) cut[1] = cut[0];
            for (int p = 0; p < np; p++) {
                lattn_init(&la[p], nh, r, W, 64);
                lattn_begin(&la[p], qa, lda, qb, ldb, 0.05f);
                for (int j = cut[p]; j < cut[p + 1]; j += 64)
                    lattn_rows(&la[p], rows + (size_t)j * ldr, cut[p + 1] - j < 64 ? cut[p + 1] - j : 64, ldr);
                pp[p] = &la[p];
            }
            lattn_end_parts(pp, np, 0, nh / 2, o, r);
            lattn_end_parts(pp, np, nh / 2, nh, o, r);
            lattn_ref(qa, lda, qb, ldb, 0.05f, nh, rows, n, ldr, r, W, ref, r);
            double e = rel_err(o, ref, (size_t)nh * r);
            CHECK(e < 1e-5, "nh %d, %d parts: rel err %g", nh, np, e);
            memset(o, 0, sizeof(float) * (size_t)nh * r);           // head ranges off the 8-lane boundaries
            lattn_end_parts(pp, np, 0, 5, o, r);
            lattn_end_parts(pp, np, 5, nh, o, r);
            e = rel_err(o, ref, (size_t)nh * r);
            CHECK(e < 1e-5, "nh %d, %d parts, heads split at 5: rel err %g", nh, np, e);
            for (int p = 0; p < np; p++) lattn_free(&la[p]);
            free(rows); free(qa); free(qb); free(o); free(ref);
        }
}

TEST(reference_is_a_softmax_average) {
    // Independent check of the twin: with q = 0 every weight is 1/n, so o is the mean of the c_kv rows.
    int nh = 3, r = 10, W = 14, n = 9;
    float *rows = randv((size_t)n * W, 1.0f), *q = xcalloc((size_t)nh * W, sizeof(float)), *o = xmalloc(sizeof(float) * nh * r);
    lattn_ref(q, W, q + r, W, 1.0f, nh, rows, n, W, r, W, o, r);
    double worst = 0;
    for (int h = 0; h < nh; h++)
        for (int d = 0; d < r; d++) {
            double mean = 0;
            for (int j = 0; j < n; j++) mean += rows[(size_t)j * W + d] / n;
            worst = fmax(worst, fabs(o[h * r + d] - mean));
        }
    CHECK(worst < 1e-6, "q = 0: differs from the mean by %g", worst);
    free(rows); free(q); free(o);
}

// Twin of lattn_rows_i8 from its description: per head and group of 128 query values (over c_kv, then k_pe)
// q8 = round(q·scale / s_q) with s_q = amax / 127 (FP32 arithmetic, as the header says); score = Σ_groups
// s_row · s_q · Σ (u8 − 128) · q8; softmax in double; then, with VNNI (quant_p), per call of blk rows split in
// 64s and per group of 128 latent columns p'_j = p_j · s_row quantized to u8 with scale max p' / 255 and
// o = Σ scale · u8(p') · (code − 128); without, o = Σ p · c_kv with c_kv decoded by kv_decode_row.
static void i8_twin(const float *qa, int lda, const float *qb, int ldb, float scale, int nh, const unsigned char *rows,
                    size_t rb, int n, int r, int W, int blk, int quant_p, float *o, int ldo) {
    int ng = (r + 127) / 128 + (W - r + 127) / 128, gc = (r + 127) / 128;
    float *dec = xmalloc(sizeof(float) * (size_t)n * W);
    for (int j = 0; j < n; j++) kv_decode_row(KV_I8, r, W - r, rows + (size_t)j * rb, dec + (size_t)j * W);
    double *sc = xmalloc(sizeof(double) * (size_t)n);
    float *qv = xmalloc(sizeof(float) * (size_t)W);
    int *q8 = xmalloc(sizeof(int) * (size_t)W);
    float *qs = xmalloc(sizeof(float) * (size_t)ng);
    for (int h = 0; h < nh; h++) {
        for (int k = 0; k < W; k++) qv[k] = (k < r ? qa[(size_t)h * lda + k] : qb[(size_t)h * ldb + k - r]) * scale;
        for (int gi = 0; gi < ng; gi++) {
            int k0 = gi < gc ? 128 * gi : r + 128 * (gi - gc), end = gi < gc ? r : W, k1 = k0 + 128 < end ? k0 + 128 : end;
            float amax = 0;
            for (int k = k0; k < k1; k++) amax = fmaxf(amax, fabsf(qv[k]));
            qs[gi] = amax > 0 ? amax / 127.0f : 1.0f;
            float inv = 1.0f / qs[gi];
            for (int k = k0; k < k1; k++) q8[k] = (int)fmaxf(-127.0f, fminf(127.0f, nearbyintf(qv[k] * inv)));
        }
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < n; j++) {
            const unsigned char *row = rows + (size_t)j * rb;
            double acc = 0;
            for (int gi = 0; gi < ng; gi++) {
                int k0 = gi < gc ? 128 * gi : r + 128 * (gi - gc), end = gi < gc ? r : W, k1 = k0 + 128 < end ? k0 + 128 : end;
                long dot = 0;
                for (int k = k0; k < k1; k++) dot += (long)((int)row[4 * ng + k] - 128) * q8[k];
                float rs;
                memcpy(&rs, row + 4 * gi, 4);
                acc += (double)dot * qs[gi] * rs;
            }
            sc[j] = acc;
            if (acc > mx) mx = acc;
        }
        for (int j = 0; j < n; j++) { sc[j] = exp(sc[j] - mx); sum += sc[j]; }
        for (int d = 0; d < r; d++) {
            double acc = 0;
            if (!quant_p)
                for (int j = 0; j < n; j++) acc += sc[j] * dec[(size_t)j * W + d];
            else
                for (int c0 = 0; c0 < n; c0 += blk)                 // the calls
                    for (int b0 = c0; b0 < n && b0 < c0 + blk; b0 += 64) {   // 64-row pieces of a call
                        int b1 = b0 + 64 < c0 + blk ? b0 + 64 : c0 + blk;
                        if (b1 > n) b1 = n;
                        double pm = 0;
                        float rs;
                        for (int j = b0; j < b1; j++) { memcpy(&rs, rows + (size_t)j * rb + 4 * (d / 128), 4); pm = fmax(pm, sc[j] * rs); }
                        double ps = pm > 0 ? pm / 255 : 1;
                        for (int j = b0; j < b1; j++) {
                            memcpy(&rs, rows + (size_t)j * rb + 4 * (d / 128), 4);
                            acc += nearbyint(sc[j] * rs / ps) * ps * ((int)rows[(size_t)j * rb + 4 * ng + d] - 128);
                        }
                    }
            o[(size_t)h * ldo + d] = (float)(acc / sum);
        }
    }
    free(dec); free(sc); free(qv); free(q8); free(qs);
}

// int8 rows fed blk per call: the kernel against the twin (same integer math: FP32 rounding, and with VNNI now and
// then a p' on the other side of a rounding tie) and against the FP32 reference on the decoded rows (the int8
// queries' and p's own rounding).
static void run_i8(int nh, int r, int W, int n, int blk, double *e_twin, double *e_f32) {
    int lda = r + 5, ldb = (W - r) + 2, ldo = r + 1;
    size_t rb = kv_row_bytes(KV_I8, r, W - r);
    float *src = randv((size_t)n * W, 1.0f), *qa = randv((size_t)nh * lda, 1.0f), *qb = randv((size_t)nh * ldb, 1.0f);
    for (int j = 0; j < n; j++)                                      // groups of different sizes
        for (int k = 0; k < W; k++) src[(size_t)j * W + k] *= 1.0f + (float)((k / 128 + j) % 3);
    unsigned char *rows = xmalloc(rb * (size_t)n);
    float *dec = xmalloc(sizeof(float) * (size_t)n * W);
    for (int j = 0; j < n; j++) {
        kv_encode_row(KV_I8, r, W - r, src + (size_t)j * W, rows + (size_t)j * rb);
        kv_decode_row(KV_I8, r, W - r, rows + (size_t)j * rb, dec + (size_t)j * W);
    }
    float *o = xcalloc((size_t)nh * ldo, sizeof(float)), *tw = xcalloc((size_t)nh * ldo, sizeof(float));
    float *ref = xcalloc((size_t)nh * ldo, sizeof(float));
    float scale = 1.0f / sqrtf((float)W);
    LatAttn a;
    lattn_init(&a, nh, r, W, blk);
    lattn_begin(&a, qa, lda, qb, ldb, scale);
    for (int j = 0; j < n; j += blk) lattn_rows_i8(&a, rows + (size_t)j * rb, rb, n - j < blk ? n - j : blk);
    lattn_end(&a, o, ldo);
    i8_twin(qa, lda, qb, ldb, scale, nh, rows, rb, n, r, W, blk, lattn_i8_fast(), tw, ldo);
    lattn_ref(qa, lda, qb, ldb, scale, nh, dec, n, W, r, W, ref, ldo);
    *e_twin = rel_err(o, tw, (size_t)nh * ldo);
    *e_f32 = rel_err(o, ref, (size_t)nh * ldo);
    lattn_free(&a);
    free(src); free(qa); free(qb); free(rows); free(dec); free(o); free(tw); free(ref);
}

// FP32 rounding (~5e-7 here), and with VNNI a p' that lands on the other side of a rounding tie (the kernel's p comes
// from its online softmax in FP32): that moves o by up to 1/255 of the piece's largest p', which with 2-3 rows is
// ~2e-3 of o (seen in 9 of 51 seeds). Layout, scale or offset mistakes give errors of 0.1 and more.
#define TWIN_TOL 5e-3

TEST(int8_rows_match_twin_and_reference) {
    static const int heads[] = {1, 7, 8, 9, 16, 17, 33};
    double worst_f32 = 0, worst_twin = 0;
    printf("# lattn_rows_i8 with %s\n", lattn_i8_fast() ? "VNNI (vpdpbusd)" : "plain loops (no AVX-512 VNNI in this build)");
#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX2__)
    CHECK(lattn_i8_fast(), "this build targets AVX-512 VNNI but lattn_rows_i8 runs its plain loops");
#endif
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        double et, ef;
        run_i8(heads[i], 512, 576, 131, i % 2 ? 64 : 100, &et, &ef);  // bench-infer's latent: r 512, rope 64; calls of
        CHECK(et < TWIN_TOL, "nh %d: rel err vs twin %g", heads[i], et); // 64 rows, or 100 (two pieces of p scales)
        CHECK(ef < 0.05, "nh %d: rel err vs FP32 attention %g", heads[i], ef);
        worst_f32 = fmax(worst_f32, ef); worst_twin = fmax(worst_twin, et);
    }
    for (int n = 1; n <= 14; n++)                                    // the 6-row tile and its tails, odd group ends
        for (int nh = 8; nh <= 16; nh += 8) {
            double et, ef;
            run_i8(nh, 196, 196 + 20, n, n > 7 ? 5 : 64, &et, &ef);
            CHECK(et < TWIN_TOL, "n %d nh %d: rel err vs twin %g", n, nh, et);
            CHECK(ef < 0.05, "n %d nh %d: rel err vs FP32 attention %g", n, nh, ef);
            worst_f32 = fmax(worst_f32, ef); worst_twin = fmax(worst_twin, et);
        }
    // The int8 queries round to half a step of amax / 127 (under 0.4 % of a group's largest value): a kernel that
    // used a wrong scale or group, or the codes without their offset, is off by O(1).
    printf("# int8 attention vs its twin: worst rel err %.2g; vs FP32 attention on the same rows: %.2g\n", worst_twin, worst_f32);
    CHECK(worst_f32 > 0, "int8 scores equal FP32 scores exactly: the queries were not quantized?");
}

// A query with a NaN gives NaN outputs for its head (as the FP32 kernel does), not numbers, with int8 rows too.
TEST(int8_nan_query_propagates) {
    int nh = 16, r = 128, W = 160, n = 70;
    size_t rb = kv_row_bytes(KV_I8, r, W - r);
    float *src = randv((size_t)n * W, 1.0f), *q = randv((size_t)nh * W, 1.0f), *o = xmalloc(sizeof(float) * (size_t)nh * r);
    unsigned char *rows = xmalloc(rb * (size_t)n);
    for (int j = 0; j < n; j++) kv_encode_row(KV_I8, r, W - r, src + (size_t)j * W, rows + (size_t)j * rb);
    q[3 * W + 7] = NAN;                                              // head 3
    LatAttn a;
    lattn_init(&a, nh, r, W, 64);
    lattn_begin(&a, q, W, q + r, W, 0.1f);
    for (int j = 0; j < n; j += 64) lattn_rows_i8(&a, rows + (size_t)j * rb, rb, n - j < 64 ? n - j : 64);
    lattn_end(&a, o, r);
    int nan3 = 0, nan_other = 0;
    for (int h = 0; h < nh; h++)
        for (int d = 0; d < r; d++) { if (h == 3) nan3 += isnan(o[h * r + d]) != 0; else nan_other += isnan(o[h * r + d]) != 0; }
    CHECK(nan3 == r, "head 3: %d of %d outputs NaN", nan3, r);
    CHECK(nan_other == 0, "%d outputs of the other heads NaN", nan_other);
    lattn_free(&a);
    free(src); free(q); free(o); free(rows);
}

int main(void) {
    uint64_t seed = test_seed();
    rng_seed(&rng, seed);
    RUN(matches_reference_every_head_count);
    RUN(matches_reference_every_row_tail);
    RUN(odd_widths_and_block_sizes);
    RUN(large_scores_stay_finite);
    RUN(parts_over_disjoint_rows_combine);
    RUN(reference_is_a_softmax_average);
    RUN(int8_rows_match_twin_and_reference);
    RUN(int8_nan_query_propagates);
    return test_summary();
}
