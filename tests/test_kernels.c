// test_kernels.c — the FP32 training kernels against plain references and
// finite differences on fresh random inputs: GEMM (every transpose), RMSNorm,
// SwiGLU, RoPE (rotation is orthogonal; YaRN constants of spec §13.4), softmax
// and cross-entropy.
#include "test.h"
#include "base/check.h"
#include "base/rng.h"
#include "kernels/gemm.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/softmax.h"
#include "kernels/swiglu.h"
#include <time.h>

static Rng rng;
static float *randv(size_t n) { float *x = xmalloc(sizeof(float) * n); for (size_t i = 0; i < n; i++) x[i] = rng_normal(&rng); return x; }

TEST(gemm_matches_reference_all_transposes) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int M = 37, N = 53, K = 29;
            float *A = randv(M * K), *B = randv(K * N), *C1 = randv(M * N), *C2 = xmalloc(sizeof(float) * M * N);
            memcpy(C2, C1, sizeof(float) * M * N);
            gemm(ta, tb, M, N, K, 0.7f, A, ta ? M : K, B, tb ? K : N, 0.5f, C1, N);
            gemm_ref(ta, tb, M, N, K, 0.7f, A, ta ? M : K, B, tb ? K : N, 0.5f, C2, N);
            CHECK(rel_err(C1, C2, M * N) < 1e-5, "ta=%d tb=%d rel err %g", ta, tb, rel_err(C1, C2, M * N));
            free(A); free(B); free(C1); free(C2);
        }
}

// Directional derivative of a scalar function f(x) = <g, y(x)> checked against backward.
TEST(rmsnorm_backward_matches_finite_differences) {
    int N = 5, C = 33;
    float *x = randv(N * C), *w = randv(C), *gy = randv(N * C), *y = xmalloc(4 * N * C), *r = xmalloc(4 * N);
    float *dx = xcalloc(N * C, 4), *dw = xcalloc(C, 4), *v = randv(N * C), *vw = randv(C);
    rmsnorm_fwd(y, C, r, x, C, w, N, C, 1e-6f);
    rmsnorm_bwd(dx, C, dw, gy, C, x, C, w, r, N, C);
    double an = 0, anw = 0;
    for (int i = 0; i < N * C; i++) an += (double)dx[i] * v[i];
    for (int i = 0; i < C; i++) anw += (double)dw[i] * vw[i];
    double eps = 1e-3, fp = 0, fm = 0, fpw = 0, fmw = 0;
    float *xp = xmalloc(4 * N * C), *wp = xmalloc(4 * C);
    for (int s = -1; s <= 1; s += 2) {
        for (int i = 0; i < N * C; i++) xp[i] = x[i] + s * eps * v[i];
        rmsnorm_fwd(y, C, NULL, xp, C, w, N, C, 1e-6f);
        double f = 0; for (int i = 0; i < N * C; i++) f += (double)gy[i] * y[i];
        if (s > 0) fp = f; else fm = f;
        for (int i = 0; i < C; i++) wp[i] = w[i] + s * eps * vw[i];
        rmsnorm_fwd(y, C, NULL, x, C, wp, N, C, 1e-6f);
        f = 0; for (int i = 0; i < N * C; i++) f += (double)gy[i] * y[i];
        if (s > 0) fpw = f; else fmw = f;
    }
    double fd = (fp - fm) / (2 * eps), fdw = (fpw - fmw) / (2 * eps);
    CHECK(fabs(fd - an) < 1e-2 * fmax(1, fabs(an)), "dx: fd %g vs %g", fd, an);
    CHECK(fabs(fdw - anw) < 1e-2 * fmax(1, fabs(anw)), "dw: fd %g vs %g", fdw, anw);
    free(x); free(w); free(gy); free(y); free(r); free(dx); free(dw); free(v); free(vw); free(xp); free(wp);
}

TEST(swiglu_backward_matches_finite_differences) {
    int n = 200;
    float *a = randv(n), *b = randv(n), *g = randv(n), *h = xmalloc(4 * n), *da = xmalloc(4 * n), *db = xmalloc(4 * n);
    swiglu_bwd(da, db, g, a, b, n);
    double eps = 1e-3;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        float a0 = a[i], b0 = b[i];
        a[i] = a0 + eps; swiglu_fwd(h + i, a + i, b + i, 1); double p = h[i];
        a[i] = a0 - eps; swiglu_fwd(h + i, a + i, b + i, 1); double m = h[i];
        a[i] = a0;
        bad += fabs((p - m) / (2 * eps) * g[i] - da[i]) > 1e-2 * fmax(1, fabs(da[i]));
        b[i] = b0 + eps; swiglu_fwd(h + i, a + i, b + i, 1); p = h[i];
        b[i] = b0 - eps; swiglu_fwd(h + i, a + i, b + i, 1); m = h[i];
        b[i] = b0;
        bad += fabs((p - m) / (2 * eps) * g[i] - db[i]) > 1e-2 * fmax(1, fabs(db[i]));
    }
    CHECK(bad == 0, "%d mismatches", bad);
    free(a); free(b); free(g); free(h); free(da); free(db);
}

TEST(rope_is_a_rotation_and_inverse_undoes_it) {
    RopeParams p = {64, 10000, 1, 40, 32, 1, 4096, 1.0f};
    int pos[3] = {0, 17, 4000};
    float c[3 * 32], s[3 * 32];
    rope_tables(&p, pos, 3, c, s);
    float *x = randv(64), y[64];
    memcpy(y, x, sizeof y);
    double n0 = 0, n1 = 0;
    for (int i = 0; i < 64; i++) n0 += x[i] * x[i];
    rope_rotate(y, c + 64, s + 64, 64, 0);
    for (int i = 0; i < 64; i++) n1 += y[i] * y[i];
    CHECK(fabs(n0 - n1) < 1e-4 * n0, "norm changed %g -> %g", n0, n1);
    rope_rotate(y, c + 64, s + 64, 64, 1);
    CHECK(rel_err(y, x, 64) < 1e-6, "inverse rotation error %g", rel_err(y, x, 64));
    // position 0 is the identity
    memcpy(y, x, sizeof y);
    rope_rotate(y, c, s, 64, 0);
    CHECK(rel_err(y, x, 64) < 1e-7, "position 0 must not rotate");
    free(x);
}

// Spec §13.4: low = 10, high = 23 for θ 10000, dim 64, L 4096, β 32/1, factor 40.
TEST(yarn_frequencies_follow_the_spec) {
    RopeParams p = {64, 10000, 1, 40, 32, 1, 4096, 1.0f}, q = p;
    q.yarn = 0;
    float f[32], f0[32];
    rope_inv_freq(&p, f);
    rope_inv_freq(&q, f0);
    int ok = 1;
    for (int i = 0; i <= 10; i++) ok &= fabsf(f[i] - f0[i]) <= 1e-6f * f0[i];
    for (int i = 23; i < 32; i++) ok &= fabsf(f[i] - f0[i] / 40) <= 1e-6f * f0[i];
    for (int i = 11; i < 23; i++) ok &= f[i] < f0[i] && f[i] > f0[i] / 40;
    CHECK(ok, "YaRN blend wrong");
}

TEST(cross_entropy_gradient_and_ignore) {
    int N = 4, V = 11;
    float *l = randv(N * V), d[44];
    int t[4] = {3, -1, 10, 0}, cnt;
    double sum = cross_entropy(l, t, N, V, d, 1.0f, &cnt);
    CHECK(cnt == 3, "count %d", cnt);
    double ref = 0;
    for (int n = 0; n < N; n++) {
        if (t[n] < 0) continue;
        double m = -1e30, s = 0;
        for (int i = 0; i < V; i++) m = fmax(m, l[n * V + i]);
        for (int i = 0; i < V; i++) s += exp(l[n * V + i] - m);
        ref += m + log(s) - l[n * V + t[n]];
    }
    CHECK(fabs(sum - ref) < 1e-5 * fabs(ref), "loss %g vs %g", sum, ref);
    double rowsum = 0;
    for (int i = 0; i < V; i++) { rowsum += d[i]; CHECK(d[V + i] == 0, "ignored row must have zero gradient"); }
    CHECK(fabs(rowsum) < 1e-6, "softmax - onehot rows sum to 0 (%g)", rowsum);
    free(l);
}

int main(void) {
    rng_seed(&rng, (uint64_t)time(NULL));
    RUN(gemm_matches_reference_all_transposes);
    RUN(rmsnorm_backward_matches_finite_differences);
    RUN(swiglu_backward_matches_finite_differences);
    RUN(rope_is_a_rotation_and_inverse_undoes_it);
    RUN(yarn_frequencies_follow_the_spec);
    RUN(cross_entropy_gradient_and_ignore);
    return test_summary();
}
