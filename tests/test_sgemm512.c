// test_sgemm512.c — the AVX-512 GEMM (kernels/sgemm512) against gemm_ref (double sums) on fresh random
// inputs: every transpose, sizes that hit every register-tile, packing, depth-slice and column-block remainder
// (tiles of 6 rows × 64 columns, 4 × 4 packing transposes, KC 256, NC 512), strides wider than the matrices, alpha
// and beta, beta = 0 never reading C (NaN there), and the threaded split (bit-identical to one thread).
// On a build without AVX-512 the kernel is absent: its tests say SKIP, and gemm() is checked to use OpenBLAS.
#include "test.h"
#include "base/check.h"
#include "base/rng.h"
#include "kernels/gemm.h"
#include "kernels/sgemm512.h"
#include <omp.h>
#include <time.h>

static Rng rng;
static float *randv(size_t n) { float *x = xmalloc(sizeof(float) * n); for (size_t i = 0; i < n; i++) x[i] = rng_normal(&rng); return x; }

// op(A) [M, K], op(B) [K, N], C [M, N], all at strides 3-5 wider than needed; returns the error of sgemm512 against
// gemm_ref relative to the size of the terms: max |difference| / max (|alpha|·|op(A)|·|op(B)| + |beta|·|C|) — not
// to max |result|, which cancellation can make far smaller than the terms (a 1x1x1 case with 0.7·a·b ≈ −0.5·c
// failed at 1.9e-5 that way). beta = 0: C starts as NaN (must not be read).
static double run_case(int ta, int tb, int M, int N, int K, float alpha, float beta) {
    int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 4, ldc = N + 5;
    float *A = randv((size_t)(ta ? K : M) * lda), *B = randv((size_t)(tb ? N : K) * ldb);
    float *C1 = randv((size_t)M * ldc), *C2 = xmalloc(sizeof(float) * (size_t)M * ldc);
    if (beta == 0) for (size_t i = 0; i < (size_t)M * ldc; i++) C1[i] = NAN;
    memcpy(C2, C1, sizeof(float) * (size_t)M * ldc);
    size_t na = (size_t)(ta ? K : M) * lda, nbb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *Aa = xmalloc(sizeof(float) * na), *Ba = xmalloc(sizeof(float) * nbb), *Ca = xmalloc(sizeof(float) * nc);
    for (size_t i = 0; i < na; i++) Aa[i] = fabsf(A[i]);
    for (size_t i = 0; i < nbb; i++) Ba[i] = fabsf(B[i]);
    for (size_t i = 0; i < nc; i++) Ca[i] = fabsf(C1[i]);
    sgemm512(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C1, ldc);
    gemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C2, ldc);
    gemm_ref(ta, tb, M, N, K, fabsf(alpha), Aa, lda, Ba, ldb, fabsf(beta), Ca, ldc);   // the terms' size
    double num = 0, den = 1e-30;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double d = fabs((double)C1[(size_t)i * ldc + j] - C2[(size_t)i * ldc + j]);
            if (!(d <= num)) num = d;                 // NaN propagates
            den = fmax(den, Ca[(size_t)i * ldc + j]);
        }
    free(Aa); free(Ba); free(Ca);
    double e = num / den;
    int pad_ok = 1;                                   // the columns between N and ldc untouched
    for (int i = 0; i < M; i++)
        for (int j = N; j < ldc; j++) {
            float a = C1[(size_t)i * ldc + j], b = C2[(size_t)i * ldc + j];
            if (!(a == b || (a != a && b != b))) pad_ok = 0;
        }
    free(A); free(B); free(C1); free(C2);
    return pad_ok ? e : 1e30;
}

TEST(matches_reference_every_transpose_and_remainder) {
    static const int sz[][3] = {{1, 1, 1}, {6, 64, 4}, {7, 65, 5}, {5, 63, 3}, {12, 32, 8}, {13, 33, 9}, {37, 53, 29},
                                {24, 128, 16}, {144, 64, 256}, {150, 70, 257}, {157, 97, 600}, {5, 200, 530},
                                {300, 17, 40}, {20, 520, 12}, {1, 20000, 3}, {20000, 1, 5}};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++) {
                double e = run_case(ta, tb, sz[s][0], sz[s][1], sz[s][2], 0.7f, 0.5f);
                CHECK(e < 1e-5, "ta %d tb %d %dx%dx%d: rel err %g", ta, tb, sz[s][0], sz[s][1], sz[s][2], e);
            }
}

TEST(beta_zero_never_reads_c_and_beta_one_accumulates) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            double e0 = run_case(ta, tb, 45, 70, 300, 1.0f, 0.0f);   // two depth slices: the second adds
            double e1 = run_case(ta, tb, 45, 70, 33, -1.5f, 1.0f);
            CHECK(e0 < 1e-5, "ta %d tb %d beta 0: rel err %g (NaN: C was read)", ta, tb, e0);
            CHECK(e1 < 1e-5, "ta %d tb %d beta 1: rel err %g", ta, tb, e1);
        }
}

TEST(large_c_many_blocks_matches_reference) {
    double e = run_case(0, 1, 1100, 2000, 20, 1.0f, 0.0f);     // 8 MB of C in 4 column blocks, 8 row blocks
    CHECK(e < 1e-5, "1100x2000x20 NT: rel err %g", e);
    e = run_case(1, 0, 1030, 2100, 9, 0.5f, 2.0f);
    CHECK(e < 1e-5, "1030x2100x9 TN beta 2: rel err %g", e);
}

TEST(threads_split_bit_identical) {
    // rows split (M >= N) and columns split (M < N), two threads against one; then inside a parallel region
    static const int sz[][3] = {{257, 100, 130}, {40, 611, 150}};
    for (size_t s = 0; s < 2; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int M = sz[s][0], N = sz[s][1], K = sz[s][2];
                float *A = randv((size_t)M * K), *B = randv((size_t)K * N);
                float *C1 = xmalloc(sizeof(float) * (size_t)M * N), *C2 = xmalloc(sizeof(float) * (size_t)M * N);
                float *C3 = xmalloc(sizeof(float) * (size_t)M * N);
                int old = omp_get_max_threads();
                omp_set_num_threads(1);
                sgemm512(ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.0f, C1, N);
                omp_set_num_threads(2);
                sgemm512(ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.0f, C2, N);
                #pragma omp parallel num_threads(2)
                {
                    #pragma omp single
                    sgemm512(ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.0f, C3, N);
                }
                omp_set_num_threads(old);
                CHECK(!memcmp(C1, C2, sizeof(float) * (size_t)M * N), "%dx%dx%d ta %d tb %d: 2 threads differ", M, N, K, ta, tb);
                CHECK(!memcmp(C1, C3, sizeof(float) * (size_t)M * N), "%dx%dx%d ta %d tb %d: in a parallel region differs", M, N, K, ta, tb);
                free(A); free(B); free(C1); free(C2); free(C3);
            }
}

TEST(gemm_dispatch_agrees_with_openblas) {
    // gemm() on our kernel and on OpenBLAS: same products within FP32 rounding (on builds without AVX-512 both
    // settings run OpenBLAS, and gemm_own_active says so).
    int M = 70, N = 90, K = 300;
    float *A = randv((size_t)M * K), *B = randv((size_t)N * K), *C1 = randv((size_t)M * N), *C2 = xmalloc(sizeof(float) * (size_t)M * N);
    memcpy(C2, C1, sizeof(float) * (size_t)M * N);
    int old = gemm_set_own(1);
    CHECK(gemm_own_active() == sgemm512_available(), "gemm_own_active %d, sgemm512_available %d", gemm_own_active(), sgemm512_available());
    gemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.25f, C1, N);
    gemm_set_own(0);
    CHECK(!gemm_own_active(), "gemm_set_own(0) left our kernel on");
    gemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.25f, C2, N);
    gemm_set_own(old);
    CHECK(rel_err(C1, C2, (size_t)M * N) < 1e-5, "own vs OpenBLAS: rel err %g", rel_err(C1, C2, (size_t)M * N));
    free(A); free(B); free(C1); free(C2);
}

int main(void) {
    uint64_t seed = test_seed();
    rng_seed(&rng, seed);
    if (sgemm512_available()) {
        RUN(matches_reference_every_transpose_and_remainder);
        RUN(beta_zero_never_reads_c_and_beta_one_accumulates);
        RUN(large_c_many_blocks_matches_reference);
        RUN(threads_split_bit_identical);
    } else {
        printf("SKIP sgemm512 kernel tests: built without AVX-512 (gemm() uses OpenBLAS here)\n");
    }
    RUN(gemm_dispatch_agrees_with_openblas);
    return test_summary();
}
