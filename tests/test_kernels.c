// test_kernels.c — the FP32 training kernels against plain references and
// finite differences on fresh random inputs: GEMM (every transpose), RMSNorm,
// SwiGLU, RoPE (rotation is orthogonal; YaRN constants of spec §13.4), softmax
// and cross-entropy; the fast exp of vmath.h against libm (double exp) over
// every class of float input.
#include "test.h"
#include "base/check.h"
#include "base/rng.h"
#include "kernels/gemm.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/softmax.h"
#include "kernels/swiglu.h"
#include "kernels/vmath.h"
#include <float.h>
#include <stdint.h>
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
    int n = 203;   // not a multiple of 8: vector body and scalar tail
    float *a = randv(n), *b = randv(n), *g = randv(n), *h = xmalloc(4 * n), *da = xmalloc(4 * n), *db = xmalloc(4 * n);
    float *hb = xmalloc(4 * n), *hf = xmalloc(4 * n);
    for (int i = 0; i < n; i++) a[i] *= 4;
    swiglu_bwd(da, db, hb, g, a, b, n);
    swiglu_fwd(hf, a, b, n);
    double he = 0;   // both forwards against silu(a)·b in double
    for (int i = 0; i < n; i++) {
        double ref = a[i] / (1.0 + exp(-(double)a[i])) * b[i];
        he = fmax(he, fmax(fabs(hb[i] - ref), fabs(hf[i] - ref)) / fmax(fabs(ref), 1e-3));
    }
    CHECK(he < 1e-6, "swiglu forward relative error %g", he);
    free(hb); free(hf);
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

// Distance in units in the last place between two non-negative floats (or both NaN).
static long ulps(float a, float b) {
    if (a != a || b != b) return (a != a && b != b) ? 0 : 1L << 40;
    int32_t ia, ib;
    memcpy(&ia, &a, 4); memcpy(&ib, &b, 4);
    return labs((long)ia - (long)ib);
}

// exp correctly rounded to float via double (libm's double exp is ~0.5 ulp in double).
static float ref_exp(float x) { return (float)exp((double)x); }

TEST(vm_exp_matches_libm_everywhere) {
    // inputs: a sweep over bit patterns of every float (both signs, all exponents),
    // random values in the range where exp neither overflows nor underflows,
    // the edges of overflow / subnormal / zero results, and the specials.
    enum { NX = 1 << 20 };
    float *x = xmalloc(sizeof(float) * NX), *y = xmalloc(sizeof(float) * NX);
    int n = 0;
    for (uint64_t b = rng_below(&rng, 4093); b < 0x100000000ULL && n < NX / 2; b += 8191) {
        uint32_t u = (uint32_t)b; float f; memcpy(&f, &u, 4); x[n++] = f;
    }
    while (n < NX - 64) x[n++] = (float)(rng_uniform(&rng) * 200.0 - 110.0);
    float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 88.7228f, 88.72283f, 88.72284f, 89.0f, 1000.0f,
                        -87.3365f, -87.34f, -100.0f, -103.27893f, -103.97f, -104.0f, -110.0f, -1e30f,
                        FLT_MIN, -FLT_MIN, 1e-30f, -1e-30f, 0.34657359f, -0.34657359f, 1.0f, -1.0f};
    for (size_t i = 0; i < sizeof specials / sizeof *specials; i++) x[n++] = specials[i];
    // vector path (y = exp(x - 0)) and scalar path must agree bit for bit, and with libm
    vm_exp_shift(y, x, 0.0f, n);
    long worst = 0; float wx = 0;
    int same = 1;
    for (int i = 0; i < n; i++) {
        float s = vm_expf(x[i]);
        if (ulps(s, y[i]) != 0) same = 0;
        long u = ulps(y[i], ref_exp(x[i]));
        if (u > worst) { worst = u; wx = x[i]; }
    }
    CHECK(same, "vector and scalar exp differ");
    CHECK(worst <= 2, "exp off by %ld ulp at x = %.9g (got %.9g, libm %.9g)", worst, wx, vm_expf(wx), ref_exp(wx));
    CHECK(vm_expf(-INFINITY) == 0 && vm_expf(INFINITY) == INFINITY && vm_expf(1000) == INFINITY, "exp of ±inf / huge");
    CHECK(isnan(vm_expf(NAN)) && vm_expf(-1e30f) == 0 && vm_expf(0) == 1, "exp of NaN / -1e30 / 0");
    // the shifted sum agrees with a double reference
    double s = vm_exp_shift(y, x + NX / 2, 3.0f, 1000), r = 0;
    for (int i = 0; i < 1000; i++) r += exp((double)x[NX / 2 + i] - 3.0);
    CHECK(fabs(s - r) <= 1e-6 * r, "exp_shift sum %.9g vs %.9g", s, r);
    // sigmoid against 1 / (1 + exp(-x)) in double
    vm_sigmoid(y, x + NX / 2, 1003);
    double we = 0;
    for (int i = 0; i < 1003; i++) {
        double ref = 1.0 / (1.0 + exp(-(double)x[NX / 2 + i]));
        // relative where exp(-x) is a finite float; below that 1/(1+inf) = 0, as with libm
        double e = x[NX / 2 + i] > -88 ? fabs(y[i] - ref) / ref : fabs(y[i] - ref);
        if (e > we) we = e;
    }
    CHECK(we < 3e-7, "sigmoid relative error %g", we);
    free(x); free(y);
}

int main(void) {
    rng_seed(&rng, (uint64_t)time(NULL));
    RUN(gemm_matches_reference_all_transposes);
    RUN(rmsnorm_backward_matches_finite_differences);
    RUN(swiglu_backward_matches_finite_differences);
    RUN(rope_is_a_rotation_and_inverse_undoes_it);
    RUN(yarn_frequencies_follow_the_spec);
    RUN(cross_entropy_gradient_and_ignore);
    RUN(vm_exp_matches_libm_everywhere);
    return test_summary();
}
