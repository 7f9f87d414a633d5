// test_latent_attn.c — kernels/latent_attn (one-pass absorbed decode attention with an online
// softmax, heads in vector lanes) against its reference twin (two-pass softmax in double) on fresh
// random inputs: head counts that fill, split and pad the 8/16-lane groups, row counts that hit every
// register-tile remainder, rows fed in blocks of several sizes, strided inputs, and scores large enough
// that a softmax without the running max would overflow.
#include "test.h"
#include "base/check.h"
#include "base/rng.h"
#include "kernels/latent_attn.h"
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

int main(void) {
    const char *s = getenv("DEEPC_TEST_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL);
    printf("# test_latent_attn seed %llu\n", (unsigned long long)seed);
    rng_seed(&rng, seed);
    RUN(matches_reference_every_head_count);
    RUN(matches_reference_every_row_tail);
    RUN(odd_widths_and_block_sizes);
    RUN(large_scores_stay_finite);
    RUN(parts_over_disjoint_rows_combine);
    RUN(reference_is_a_softmax_average);
    return test_summary();
}
