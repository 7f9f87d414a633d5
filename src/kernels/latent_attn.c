// latent_attn.c — one-pass absorbed decode attention (see latent_attn.h).
//
// Per block of rows and per group of lw heads (lanes):
//   scores  s [n, lw]  = rows [n, W] · qT [W, lw]          (a row value broadcast, times the lanes' queries)
//   online softmax     m' = max(m, max_j s_j); α = exp(m − m'); p_j = exp(s_j − m'); l = α·l + Σ_j p_j
//   values  oT [r, lw] = α·oT + c_kvᵀ [r, n] · p [n, lw]    (c_kv value broadcast, times the lanes' p_j)
// Register tiles: 6 rows (scores) or 6 latent columns (values) × 2 vectors for 16 lanes; 12 × 1 for 8.
#include "kernels/latent_attn.h"
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/check.h"
#include "base/scratch.h"
#include "kernels/vmath.h"
#include "kernels/transpose8.h"

// int8 rows (lattn_rows_i8) with integer products: AVX-512 VNNI's vpdpbusd on 256-bit vectors.
#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(VM_HAVE_AVX2)
#define LATTN_VNNI 1
#else
#define LATTN_VNNI 0
#endif

void lattn_init(LatAttn *a, int nh, int r, int W, int max_rows) {
    memset(a, 0, sizeof *a);
    a->nh = nh; a->r = r; a->W = W; a->max_rows = max_rows;
    a->lw = nh > 8 ? 16 : 8;
    a->ng = (nh + a->lw - 1) / a->lw;
    size_t lanes = (size_t)a->ng * a->lw;
    a->qT = xmalloc_aligned(sizeof(float) * (size_t)W * lanes);
    a->oT = xmalloc_aligned(sizeof(float) * (size_t)r * lanes);
    a->m = xmalloc_aligned(sizeof(float) * lanes);
    a->l = xmalloc_aligned(sizeof(float) * lanes);
    a->s = xmalloc_aligned(sizeof(float) * (size_t)(max_rows > 0 ? max_rows : 1) * a->lw);
    a->nkg = (r + 127) / 128 + (W - r + 127) / 128;
    a->q8 = xmalloc_aligned((size_t)W * lanes + 64);
    a->q8s = xmalloc_aligned(sizeof(float) * (size_t)a->nkg * lanes);
    a->q8z = xmalloc_aligned(sizeof(int) * (size_t)a->nkg * lanes);
    int mr = max_rows > 0 ? max_rows : 1;
#if LATTN_VNNI
    a->cv = xmalloc_aligned((size_t)(mr + 3) / 4 * 4 * r);
    a->pq = xmalloc_aligned((size_t)16 * a->lw * 4);
#else
    a->cf = xmalloc_aligned(sizeof(float) * (size_t)mr * r);
#endif
}

void lattn_free(LatAttn *a) {
    free(a->qT); free(a->oT); free(a->m); free(a->l); free(a->s);
    free(a->q8); free(a->q8s); free(a->q8z); free(a->cf); free(a->cv); free(a->pq);
    memset(a, 0, sizeof *a);
}

void lattn_reserve(LatAttn *a, int nh, int r, int W, int max_rows) {
    if (a->qT && a->nh == nh && a->r == r && a->W == W && a->max_rows == max_rows) return;
    if (a->qT) lattn_free(a);
    lattn_init(a, nh, r, W, max_rows);
}

void lattn_begin(LatAttn *a, const float *qa, int lda, const float *qb, int ldb, float scale) {
    int lw = a->lw, W = a->W, r = a->r;
    size_t lanes = (size_t)a->ng * lw;
    if ((size_t)a->nh < lanes) memset(a->qT, 0, sizeof(float) * (size_t)W * lanes);   // unused lanes: 0
    for (int h = 0; h < a->nh; h++) {
        float *dst = a->qT + (size_t)(h / lw) * W * lw + h % lw;   // [W] at stride lw
        const float *x = qa + (size_t)h * lda, *y = qb + (size_t)h * ldb;
        for (int k = 0; k < r; k++) dst[(size_t)k * lw] = x[k] * scale;
        for (int k = r; k < W; k++) dst[(size_t)k * lw] = y[k - r] * scale;
    }
    memset(a->oT, 0, sizeof(float) * (size_t)r * lanes);
    for (size_t i = 0; i < lanes; i++) { a->m[i] = -FLT_MAX; a->l[i] = 0.0f; }
    a->q8_ok = 0;
}

#ifdef VM_HAVE_AVX2
#define FMA(c, q, acc) acc = _mm256_fmadd_ps(c, q, acc)

// s [n, 16] = rows [n, W] · qT [W, 16]. The k loop runs in chunks of LATTN_KC so that the chunk of qT
// (KC × 64 bytes) stays in L1 next to the 6 rows' chunks; partial sums go through s. While a tile of 6
// rows is computed, the next tile's rows are prefetched, one line per two k steps.
#ifndef LATTN_KC
#define LATTN_KC 192
#endif
static void scores16(const float *qT, const float *rows, int n, int ldr, int W, float *s) {
    int j = 0;
    for (; j + 6 <= n; j += 6) {
        const float *r0 = rows + (size_t)j * ldr;
        const char *nx = (const char *)(r0 + 6 * (size_t)ldr);     // the next tile (prefetch never faults)
        for (int k0 = 0; k0 < W; k0 += LATTN_KC) {
            int k1 = k0 + LATTN_KC < W ? k0 + LATTN_KC : W;
            float *o = s + (size_t)j * 16;
            __m256 a0, b0, a1, b1, a2, b2, a3, b3, a4, b4, a5, b5;
            if (k0 == 0) { a0 = _mm256_setzero_ps(); b0 = a1 = b1 = a2 = b2 = a3 = b3 = a4 = b4 = a5 = b5 = a0; }
            else {
                a0 = _mm256_load_ps(o); b0 = _mm256_load_ps(o + 8); a1 = _mm256_load_ps(o + 16); b1 = _mm256_load_ps(o + 24);
                a2 = _mm256_load_ps(o + 32); b2 = _mm256_load_ps(o + 40); a3 = _mm256_load_ps(o + 48); b3 = _mm256_load_ps(o + 56);
                a4 = _mm256_load_ps(o + 64); b4 = _mm256_load_ps(o + 72); a5 = _mm256_load_ps(o + 80); b5 = _mm256_load_ps(o + 88);
            }
            for (int k = k0; k < k1; k++) {
                if (!(k & 1)) _mm_prefetch(nx + (size_t)(k >> 1) * 64, _MM_HINT_T0);
                __m256 q0 = _mm256_load_ps(qT + (size_t)k * 16), q1 = _mm256_load_ps(qT + (size_t)k * 16 + 8), c;
                c = _mm256_broadcast_ss(r0 + k);                        FMA(c, q0, a0); FMA(c, q1, b0);
                c = _mm256_broadcast_ss(r0 + (size_t)ldr + k);          FMA(c, q0, a1); FMA(c, q1, b1);
                c = _mm256_broadcast_ss(r0 + 2 * (size_t)ldr + k);      FMA(c, q0, a2); FMA(c, q1, b2);
                c = _mm256_broadcast_ss(r0 + 3 * (size_t)ldr + k);      FMA(c, q0, a3); FMA(c, q1, b3);
                c = _mm256_broadcast_ss(r0 + 4 * (size_t)ldr + k);      FMA(c, q0, a4); FMA(c, q1, b4);
                c = _mm256_broadcast_ss(r0 + 5 * (size_t)ldr + k);      FMA(c, q0, a5); FMA(c, q1, b5);
            }
            _mm256_store_ps(o, a0); _mm256_store_ps(o + 8, b0); _mm256_store_ps(o + 16, a1); _mm256_store_ps(o + 24, b1);
            _mm256_store_ps(o + 32, a2); _mm256_store_ps(o + 40, b2); _mm256_store_ps(o + 48, a3); _mm256_store_ps(o + 56, b3);
            _mm256_store_ps(o + 64, a4); _mm256_store_ps(o + 72, b4); _mm256_store_ps(o + 80, a5); _mm256_store_ps(o + 88, b5);
        }
    }
    for (; j < n; j++) {                                            // the last rows one at a time
        const float *r0 = rows + (size_t)j * ldr;
        __m256 a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0;
        int k = 0;
        for (; k + 2 <= W; k += 2) {
            __m256 c0 = _mm256_broadcast_ss(r0 + k), c1 = _mm256_broadcast_ss(r0 + k + 1);
            FMA(c0, _mm256_load_ps(qT + (size_t)k * 16), a0); FMA(c0, _mm256_load_ps(qT + (size_t)k * 16 + 8), b0);
            FMA(c1, _mm256_load_ps(qT + (size_t)k * 16 + 16), a1); FMA(c1, _mm256_load_ps(qT + (size_t)k * 16 + 24), b1);
        }
        for (; k < W; k++) {
            __m256 c0 = _mm256_broadcast_ss(r0 + k);
            FMA(c0, _mm256_load_ps(qT + (size_t)k * 16), a0); FMA(c0, _mm256_load_ps(qT + (size_t)k * 16 + 8), b0);
        }
        _mm256_store_ps(s + (size_t)j * 16, _mm256_add_ps(a0, a1));
        _mm256_store_ps(s + (size_t)j * 16 + 8, _mm256_add_ps(b0, b1));
    }
}

// s [n, 8] = rows [n, W] · qT [W, 8]: tiles of 12 rows, k in chunks, the next tile prefetched (as scores16).
static void scores8(const float *qT, const float *rows, int n, int ldr, int W, float *s) {
    int j = 0;
    for (; j + 12 <= n; j += 12) {
        const float *r0 = rows + (size_t)j * ldr;
        const char *nx = (const char *)(r0 + 12 * (size_t)ldr);
        for (int k0 = 0; k0 < W; k0 += LATTN_KC) {
            int k1 = k0 + LATTN_KC < W ? k0 + LATTN_KC : W;
            __m256 acc[12];
            for (int i = 0; i < 12; i++) acc[i] = k0 ? _mm256_load_ps(s + (size_t)(j + i) * 8) : _mm256_setzero_ps();
            for (int k = k0; k < k1; k++) {
                _mm_prefetch(nx + (size_t)k * 64, _MM_HINT_T0);
                __m256 q = _mm256_load_ps(qT + (size_t)k * 8);
                for (int i = 0; i < 12; i++) FMA(_mm256_broadcast_ss(r0 + (size_t)i * ldr + k), q, acc[i]);
            }
            for (int i = 0; i < 12; i++) _mm256_store_ps(s + (size_t)(j + i) * 8, acc[i]);
        }
    }
    for (; j < n; j++) {
        const float *r0 = rows + (size_t)j * ldr;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int k = 0;
        for (; k + 4 <= W; k += 4) {
            FMA(_mm256_broadcast_ss(r0 + k), _mm256_load_ps(qT + (size_t)k * 8), a0);
            FMA(_mm256_broadcast_ss(r0 + k + 1), _mm256_load_ps(qT + (size_t)k * 8 + 8), a1);
            FMA(_mm256_broadcast_ss(r0 + k + 2), _mm256_load_ps(qT + (size_t)k * 8 + 16), a2);
            FMA(_mm256_broadcast_ss(r0 + k + 3), _mm256_load_ps(qT + (size_t)k * 8 + 24), a3);
        }
        for (; k < W; k++) FMA(_mm256_broadcast_ss(r0 + k), _mm256_load_ps(qT + (size_t)k * 8), a0);
        _mm256_store_ps(s + (size_t)j * 8, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    }
}

// oT [r, 16] += c_kvᵀ · p: for each latent column d, Σ_j rows[j][d] · p [j, 16]
static void values16(const float *p, const float *rows, int n, int ldr, int r, float *oT) {
    int d = 0;
    for (; d + 6 <= r; d += 6) {
        float *o = oT + (size_t)d * 16;
        __m256 a0 = _mm256_load_ps(o), b0 = _mm256_load_ps(o + 8), a1 = _mm256_load_ps(o + 16), b1 = _mm256_load_ps(o + 24);
        __m256 a2 = _mm256_load_ps(o + 32), b2 = _mm256_load_ps(o + 40), a3 = _mm256_load_ps(o + 48), b3 = _mm256_load_ps(o + 56);
        __m256 a4 = _mm256_load_ps(o + 64), b4 = _mm256_load_ps(o + 72), a5 = _mm256_load_ps(o + 80), b5 = _mm256_load_ps(o + 88);
        const float *c = rows + d;
        for (int j = 0; j < n; j++, c += ldr) {
            __m256 p0 = _mm256_load_ps(p + (size_t)j * 16), p1 = _mm256_load_ps(p + (size_t)j * 16 + 8), x;
            x = _mm256_broadcast_ss(c);     FMA(x, p0, a0); FMA(x, p1, b0);
            x = _mm256_broadcast_ss(c + 1); FMA(x, p0, a1); FMA(x, p1, b1);
            x = _mm256_broadcast_ss(c + 2); FMA(x, p0, a2); FMA(x, p1, b2);
            x = _mm256_broadcast_ss(c + 3); FMA(x, p0, a3); FMA(x, p1, b3);
            x = _mm256_broadcast_ss(c + 4); FMA(x, p0, a4); FMA(x, p1, b4);
            x = _mm256_broadcast_ss(c + 5); FMA(x, p0, a5); FMA(x, p1, b5);
        }
        _mm256_store_ps(o, a0); _mm256_store_ps(o + 8, b0); _mm256_store_ps(o + 16, a1); _mm256_store_ps(o + 24, b1);
        _mm256_store_ps(o + 32, a2); _mm256_store_ps(o + 40, b2); _mm256_store_ps(o + 48, a3); _mm256_store_ps(o + 56, b3);
        _mm256_store_ps(o + 64, a4); _mm256_store_ps(o + 72, b4); _mm256_store_ps(o + 80, a5); _mm256_store_ps(o + 88, b5);
    }
    for (; d < r; d++) {
        float *o = oT + (size_t)d * 16;
        __m256 a0 = _mm256_load_ps(o), b0 = _mm256_load_ps(o + 8);
        for (int j = 0; j < n; j++) {
            __m256 x = _mm256_broadcast_ss(rows + (size_t)j * ldr + d);
            FMA(x, _mm256_load_ps(p + (size_t)j * 16), a0); FMA(x, _mm256_load_ps(p + (size_t)j * 16 + 8), b0);
        }
        _mm256_store_ps(o, a0); _mm256_store_ps(o + 8, b0);
    }
}

// oT [r, 8] += c_kvᵀ · p [n, 8]
static void values8(const float *p, const float *rows, int n, int ldr, int r, float *oT) {
    int d = 0;
    for (; d + 12 <= r; d += 12) {
        float *o = oT + (size_t)d * 8;
        __m256 acc[12];
        for (int i = 0; i < 12; i++) acc[i] = _mm256_load_ps(o + (size_t)i * 8);
        const float *c = rows + d;
        for (int j = 0; j < n; j++, c += ldr) {
            __m256 pj = _mm256_load_ps(p + (size_t)j * 8);
            for (int i = 0; i < 12; i++) FMA(_mm256_broadcast_ss(c + i), pj, acc[i]);
        }
        for (int i = 0; i < 12; i++) _mm256_store_ps(o + (size_t)i * 8, acc[i]);
    }
    for (; d < r; d++) {
        float *o = oT + (size_t)d * 8;
        __m256 a0 = _mm256_load_ps(o);
        for (int j = 0; j < n; j++) FMA(_mm256_broadcast_ss(rows + (size_t)j * ldr + d), _mm256_load_ps(p + (size_t)j * 8), a0);
        _mm256_store_ps(o, a0);
    }
}

// The online softmax over n new scores s [n, lw] (replaced by p = exp(s − m)): m and l updated, and the running
// sums oT [r, lw] scaled by alpha = exp(m_old − m_new) per lane — or, with oT NULL, alpha stored in alpha_out [lw]
// for the values step to apply as it passes over oT anyway (values_i8: o · alpha, then + p·c, the same roundings).
static void softmax_step(float *s, int n, int lw, int r, float *m, float *l, float *oT, float *alpha_out) {
    __m256 alpha[2];
    for (int v = 0; v < lw / 8; v++) {
        __m256 bm = _mm256_set1_ps(-FLT_MAX);
        for (int j = 0; j < n; j++) bm = _mm256_max_ps(bm, _mm256_load_ps(s + (size_t)j * lw + 8 * v));
        __m256 mo = _mm256_load_ps(m + 8 * v), mn = _mm256_max_ps(mo, bm), sum = _mm256_setzero_ps();
        alpha[v] = vm_exp8(_mm256_sub_ps(mo, mn));
        _mm256_store_ps(m + 8 * v, mn);
        for (int j = 0; j < n; j++) {
            __m256 e = vm_exp8(_mm256_sub_ps(_mm256_load_ps(s + (size_t)j * lw + 8 * v), mn));
            _mm256_store_ps(s + (size_t)j * lw + 8 * v, e);
            sum = _mm256_add_ps(sum, e);
        }
        _mm256_store_ps(l + 8 * v, _mm256_fmadd_ps(_mm256_load_ps(l + 8 * v), alpha[v], sum));
        if (!oT) _mm256_storeu_ps(alpha_out + 8 * v, alpha[v]);
    }
    if (!oT) return;
    for (int d = 0; d < r; d++)
        for (int v = 0; v < lw / 8; v++) {
            float *o = oT + (size_t)d * lw + 8 * v;
            _mm256_store_ps(o, _mm256_mul_ps(_mm256_load_ps(o), alpha[v]));
        }
}
#else
// Portable build: the same steps in plain loops.
static void scores_plain(const float *qT, const float *rows, int n, int ldr, int W, int lw, float *s) {
    for (int j = 0; j < n; j++)
        for (int h = 0; h < lw; h++) {
            float acc = 0;
            for (int k = 0; k < W; k++) acc += rows[(size_t)j * ldr + k] * qT[(size_t)k * lw + h];
            s[(size_t)j * lw + h] = acc;
        }
}

static void values_plain(const float *p, const float *rows, int n, int ldr, int r, int lw, float *oT) {
    for (int d = 0; d < r; d++)
        for (int j = 0; j < n; j++)
            for (int h = 0; h < lw; h++) oT[(size_t)d * lw + h] += rows[(size_t)j * ldr + d] * p[(size_t)j * lw + h];
}

static void softmax_step(float *s, int n, int lw, int r, float *m, float *l, float *oT, float *alpha_out) {
    (void)alpha_out;                                  // oT is never NULL here: values_i8 needs VNNI, so the AVX2 path
    float alpha[16];
    for (int h = 0; h < lw; h++) {
        float mn = m[h], sum = 0;
        for (int j = 0; j < n; j++) mn = fmaxf(mn, s[(size_t)j * lw + h]);
        alpha[h] = vm_expf(m[h] - mn);
        m[h] = mn;
        for (int j = 0; j < n; j++) { float e = vm_expf(s[(size_t)j * lw + h] - mn); s[(size_t)j * lw + h] = e; sum += e; }
        l[h] = l[h] * alpha[h] + sum;
    }
    for (int d = 0; d < r; d++)
        for (int h = 0; h < lw; h++) oT[(size_t)d * lw + h] *= alpha[h];
}
#endif

void lattn_rows(LatAttn *a, const float *rows, int n, int ldr) {
    int lw = a->lw, W = a->W, r = a->r;
    for (int j0 = 0; j0 < n; j0 += a->max_rows) {                   // (callers stay within max_rows)
        int nj = n - j0 < a->max_rows ? n - j0 : a->max_rows;
        const float *rw = rows + (size_t)j0 * ldr;
        for (int g = 0; g < a->ng; g++) {
            const float *qT = a->qT + (size_t)g * W * lw;
            float *oT = a->oT + (size_t)g * r * lw, *m = a->m + (size_t)g * lw, *l = a->l + (size_t)g * lw;
#ifdef VM_HAVE_AVX2
            if (lw == 16) scores16(qT, rw, nj, ldr, W, a->s); else scores8(qT, rw, nj, ldr, W, a->s);
            softmax_step(a->s, nj, lw, r, m, l, oT, NULL);
            if (lw == 16) values16(a->s, rw, nj, ldr, r, oT); else values8(a->s, rw, nj, ldr, r, oT);
#else
            scores_plain(qT, rw, nj, ldr, W, lw, a->s);
            softmax_step(a->s, nj, lw, r, m, l, oT, NULL);
            values_plain(a->s, rw, nj, ldr, r, lw, oT);
#endif
        }
    }
}

// ---- int8 rows (lattn_rows_i8) ----

static inline int32_t ld32(const unsigned char *p) { int32_t w; memcpy(&w, p, 4); return w; }
static inline float ldf(const unsigned char *p) { float w; memcpy(&w, p, 4); return w; }

// Group gi's value range [k0, k1) in a row of W values whose first r are c_kv.
static void kgroup(const LatAttn *a, int gi, int *k0, int *k1) {
    int gc = (a->r + 127) / 128;
    int base = gi < gc ? 0 : a->r, end = gi < gc ? a->r : a->W, g = gi < gc ? gi : gi - gc;
    *k0 = base + 128 * g;
    *k1 = *k0 + 128 < end ? *k0 + 128 : end;
}

// qT -> q8, q8s, q8z (see latent_attn.h). The lanes are contiguous in qT, so with AVX2 a group's amax, scale,
// codes and sum are whole-vector operations (the same IEEE operations as the scalar loop: identical results).
static void quantize_queries(LatAttn *a) {
    int lw = a->lw, W = a->W;
    for (int g = 0; g < a->ng; g++) {
        const float *qT = a->qT + (size_t)g * W * lw;
        signed char *q8 = a->q8 + (size_t)g * W * lw;
        for (int gi = 0; gi < a->nkg; gi++) {
            int k0, k1;
            kgroup(a, gi, &k0, &k1);
            float *qs = a->q8s + ((size_t)g * a->nkg + gi) * lw;
            int *qz = a->q8z + ((size_t)g * a->nkg + gi) * lw;
#ifdef VM_HAVE_AVX2
            if ((k1 - k0) % 4 == 0 && k0 % 4 == 0) {
                const __m256 sign = _mm256_set1_ps(-0.0f);
                for (int v = 0; v < lw / 8; v++) {
                    __m256 amax = _mm256_setzero_ps(), bad = amax;   // bad: lanes with a NaN or an infinity
                    for (int k = k0; k < k1; k++) {
                        __m256 x = _mm256_andnot_ps(sign, _mm256_load_ps(qT + (size_t)k * lw + 8 * v));
                        amax = _mm256_max_ps(amax, x);
                        bad = _mm256_or_ps(bad, _mm256_cmp_ps(x, _mm256_set1_ps(FLT_MAX), _CMP_NLE_UQ));
                    }
                    __m256 nz = _mm256_cmp_ps(amax, _mm256_setzero_ps(), _CMP_GT_OQ);
                    __m256 sc = _mm256_blendv_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(amax, _mm256_set1_ps(127.0f)), nz);
                    __m256 inv = _mm256_andnot_ps(bad, _mm256_div_ps(_mm256_set1_ps(1.0f), sc));   // bad lanes: codes 0
                    sc = _mm256_blendv_ps(sc, _mm256_set1_ps(NAN), bad);                            // and scale NaN
                    _mm256_store_ps(qs + 8 * v, sc);
                    __m256i sum = _mm256_setzero_si256(), lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
                    for (int k = k0; k < k1; k += 4) {               // 4 values of a lane -> one dword of bytes
                        __m256i d = _mm256_setzero_si256();
                        for (int i = 0; i < 4; i++) {
                            __m256i q = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_load_ps(qT + (size_t)(k + i) * lw + 8 * v), inv));
                            q = _mm256_max_epi32(lo, _mm256_min_epi32(hi, q));
                            sum = _mm256_add_epi32(sum, q);
                            d = _mm256_or_si256(d, _mm256_slli_epi32(_mm256_and_si256(q, _mm256_set1_epi32(0xff)), 8 * i));
                        }
                        _mm256_store_si256((__m256i *)(q8 + (size_t)k * lw + 32 * v), d);
                    }
                    _mm256_store_si256((__m256i *)(qz + 8 * v), _mm256_slli_epi32(sum, 7));   // 128 · Σ q
                }
                continue;
            }
#endif
            for (int h = 0; h < lw; h++) {
                float amax = 0.0f;
                int finite = 1;
                for (int k = k0; k < k1; k++) { amax = fmaxf(amax, fabsf(qT[(size_t)k * lw + h])); finite &= isfinite(qT[(size_t)k * lw + h]) != 0; }
                float sc = amax > 0.0f ? amax / 127.0f : 1.0f, inv = finite ? 1.0f / sc : 0.0f;   // non-finite: codes 0,
                if (!finite) sc = NAN;                                                            // scale NaN
                int sum = 0;
                for (int k = k0; k < k1; k++) {
                    float v = nearbyintf(qT[(size_t)k * lw + h] * inv);
                    if (v != v) v = 0.0f;                                  // (inf · 0)
                    int q = (int)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
                    q8[((size_t)(k / 4) * lw + h) * 4 + k % 4] = (signed char)q;
                    sum += q;
                }
                qs[h] = sc;
                qz[h] = 128 * sum;
            }
        }
    }
    a->q8_ok = 1;
}

#if LATTN_VNNI
int lattn_i8_fast(void) { return 1; }

// Per group of 128 values: int32 sums of u8 codes × int8 queries (vpdpbusd: 4 consecutive values of a row
// broadcast, times 4 values of each lane), then the offset 128 · Σq taken off and the two scales applied in
// FP32 (row scale × query scale). Written out for 6 rows × 16 lanes (12 accumulators), so the compiler keeps
// them in registers; other shapes go through the 1-row loop.
// GCC 12 copies every accumulator of _mm256_dpbusd_epi32 to another register and back once per use (24 extra
// moves per 12 products here); the asm form accumulates in place.
#if defined(__GNUC__) && !defined(__clang__)
#define DP(acc, b, q) __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(b), "v"(q))
#else
#define DP(acc, b, q) acc = _mm256_dpbusd_epi32(acc, b, q)
#endif
#define BC(i) _mm256_set1_epi32(ld32(c + (size_t)(i) * rb + k))

// s[i] (16 lanes, FP32, in memory: the group sums of 8 rows fill the registers) += scaled group sums of row i
#define FIN(acc0, acc1, i) do { \
        __m256 sc_ = _mm256_set1_ps(ldf(rows + (size_t)(i) * rb + 4 * (size_t)gi)); \
        float *o_ = s + 16 * (i); \
        _mm256_store_ps(o_, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc0, z0)), _mm256_mul_ps(s0, sc_), _mm256_load_ps(o_))); \
        _mm256_store_ps(o_ + 8, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc1, z1)), _mm256_mul_ps(s1, sc_), _mm256_load_ps(o_ + 8))); \
    } while (0)

// 8 rows × 16 lanes (16 int32 accumulators; a 64-row cache block is 8 tiles, no tail).
static void scores_i8_8x16(const LatAttn *a, const signed char *q8, const float *q8s, const int *q8z,
                           const unsigned char *rows, size_t rb, float *s) {
    const unsigned char *c = rows + 4 * a->nkg;
    memset(s, 0, sizeof(float) * 8 * 16);
    for (int gi = 0; gi < a->nkg; gi++) {
        int k0, k1;
        kgroup(a, gi, &k0, &k1);
        __m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        __m256i a40 = a00, a41 = a00, a50 = a00, a51 = a00, a60 = a00, a61 = a00, a70 = a00, a71 = a00;
        for (int k = k0; k < k1; k += 4) {
            const signed char *qk = q8 + (size_t)k * 16;
            __m256i q0 = _mm256_load_si256((const __m256i *)qk), q1 = _mm256_load_si256((const __m256i *)(qk + 32)), b;
            b = BC(0); DP(a00, b, q0); DP(a01, b, q1);
            b = BC(1); DP(a10, b, q0); DP(a11, b, q1);
            b = BC(2); DP(a20, b, q0); DP(a21, b, q1);
            b = BC(3); DP(a30, b, q0); DP(a31, b, q1);
            b = BC(4); DP(a40, b, q0); DP(a41, b, q1);
            b = BC(5); DP(a50, b, q0); DP(a51, b, q1);
            b = BC(6); DP(a60, b, q0); DP(a61, b, q1);
            b = BC(7); DP(a70, b, q0); DP(a71, b, q1);
        }
        __m256i z0 = _mm256_load_si256((const __m256i *)(q8z + gi * 16)), z1 = _mm256_load_si256((const __m256i *)(q8z + gi * 16 + 8));
        __m256 s0 = _mm256_load_ps(q8s + gi * 16), s1 = _mm256_load_ps(q8s + gi * 16 + 8);
        FIN(a00, a01, 0); FIN(a10, a11, 1); FIN(a20, a21, 2); FIN(a30, a31, 3);
        FIN(a40, a41, 4); FIN(a50, a51, 5); FIN(a60, a61, 6); FIN(a70, a71, 7);
    }
}

// One row, lw lanes (8 or 16).
static void scores_i8_row(const LatAttn *a, const signed char *q8, const float *q8s, const int *q8z,
                          const unsigned char *rows, float *s) {
    int lw = a->lw, nv = lw / 8;
    const unsigned char *c = rows + 4 * a->nkg;
    for (int v = 0; v < nv; v++) {
        __m256 f = _mm256_setzero_ps();
        for (int gi = 0; gi < a->nkg; gi++) {
            int k0, k1;
            kgroup(a, gi, &k0, &k1);
            __m256i acc = _mm256_setzero_si256(), acc2 = acc;    // two chains: vpdpbusd's latency, not its rate
            int k = k0;
            for (; k + 8 <= k1; k += 8) {
                DP(acc, _mm256_set1_epi32(ld32(c + k)), _mm256_load_si256((const __m256i *)(q8 + (size_t)k * lw + 8 * v * 4)));
                DP(acc2, _mm256_set1_epi32(ld32(c + k + 4)), _mm256_load_si256((const __m256i *)(q8 + (size_t)(k + 4) * lw + 8 * v * 4)));
            }
            for (; k < k1; k += 4)
                DP(acc, _mm256_set1_epi32(ld32(c + k)), _mm256_load_si256((const __m256i *)(q8 + (size_t)k * lw + 8 * v * 4)));
            acc = _mm256_add_epi32(acc, acc2);
            __m256 sc = _mm256_set1_ps(ldf(rows + 4 * (size_t)gi));
            __m256 x = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc, _mm256_load_si256((const __m256i *)(q8z + gi * lw + 8 * v))));
            f = _mm256_fmadd_ps(x, _mm256_mul_ps(_mm256_load_ps(q8s + gi * lw + 8 * v), sc), f);
        }
        _mm256_store_ps(s + 8 * v, f);
    }
}

static void scores_i8(const LatAttn *a, int g, const unsigned char *rows, size_t rb, int n, float *s) {
    int j = 0, lw = a->lw;
    const signed char *q8 = a->q8 + (size_t)g * a->W * lw;
    const float *q8s = a->q8s + (size_t)g * a->nkg * lw;
    const int *q8z = a->q8z + (size_t)g * a->nkg * lw;
    if (lw == 16)
        for (; j + 8 <= n; j += 8) scores_i8_8x16(a, q8, q8s, q8z, rows + (size_t)j * rb, rb, s + (size_t)j * lw);
    for (; j < n; j++) scores_i8_row(a, q8, q8s, q8z, rows + (size_t)j * rb, s + (size_t)j * lw);
}

// cv [ceil(n/4), r, 4] = the rows' c_kv codes as signed bytes (u8 − 128, i.e. u8 ^ 0x80), rows 4t..4t+3 of each
// column side by side (what vpdpbusd sums); rows past n are 0.
static void interleave_codes(const LatAttn *a, const unsigned char *rows, size_t rb, int n, signed char *cv) {
    int r = a->r, hdr = 4 * a->nkg;
    const __m128i flip = _mm_set1_epi8((char)0x80);
    for (int t = 0; 4 * t < n; t++) {
        const unsigned char *u[4];
        static const unsigned char zero_row[1] = {128};
        int pad[4];
        for (int i = 0; i < 4; i++) { pad[i] = 4 * t + i >= n; u[i] = pad[i] ? zero_row : rows + (size_t)(4 * t + i) * rb + hdr; }
        signed char *o = cv + (size_t)t * r * 4;
        int d = 0;
        if (!pad[1] && !pad[2] && !pad[3])
            for (; d + 16 <= r; d += 16) {
                __m128i x0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(u[0] + d)), flip);
                __m128i x1 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(u[1] + d)), flip);
                __m128i x2 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(u[2] + d)), flip);
                __m128i x3 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(u[3] + d)), flip);
                __m128i l01 = _mm_unpacklo_epi8(x0, x1), h01 = _mm_unpackhi_epi8(x0, x1);
                __m128i l23 = _mm_unpacklo_epi8(x2, x3), h23 = _mm_unpackhi_epi8(x2, x3);
                _mm_storeu_si128((__m128i *)(o + 4 * d), _mm_unpacklo_epi16(l01, l23));
                _mm_storeu_si128((__m128i *)(o + 4 * d + 16), _mm_unpackhi_epi16(l01, l23));
                _mm_storeu_si128((__m128i *)(o + 4 * d + 32), _mm_unpacklo_epi16(h01, h23));
                _mm_storeu_si128((__m128i *)(o + 4 * d + 48), _mm_unpackhi_epi16(h01, h23));
            }
        for (; d < r; d++)
            for (int i = 0; i < 4; i++) o[4 * d + i] = pad[i] ? 0 : (signed char)(u[i][d] ^ 0x80);
    }
}

// oT [r, lw] += Σ_j p_j · c_kv_j for rows [0, n) with integer products: per 64 rows and group of 128 latent
// columns, p'_j = p_j · (row j's scale of the group) per lane, quantized to u8 with scale max_j p'_j / 255 (round
// to nearest even), times the signed codes (vpdpbusd over 4 rows at a time), then scaled back in FP32. oT is first
// multiplied by alpha [lw] (the online softmax's rescaling, as softmax_step would: one pass over oT instead of two).
static void values_i8(LatAttn *a, const unsigned char *rows, size_t rb, int n, const float *p, const float *alpha, float *oT) {
    int lw = a->lw, r = a->r, nv = lw / 8;
    unsigned char *pq = a->pq;                                       // [16 steps, lw, 4]
    float ps[16];                                                    // [lw] the lanes' p' scales
    const __m256 one = _mm256_set1_ps(1.0f);
    for (int j0 = 0; j0 < n; j0 += 64) {
        int nj = n - j0 < 64 ? n - j0 : 64, ns = (nj + 3) / 4;
        const signed char *cv = a->cv + (size_t)(j0 / 4) * r * 4;
        __m256 al0 = j0 ? one : _mm256_loadu_ps(alpha), al1 = j0 || nv < 2 ? one : _mm256_loadu_ps(alpha + 8);
        for (int c0 = 0; c0 < r; c0 += 128) {
            int c1 = c0 + 128 < r ? c0 + 128 : r;
            __m256 pm[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};    // max_j p'_j per lane
            for (int j = 0; j < nj; j++) {
                __m256 rs = _mm256_set1_ps(ldf(rows + (size_t)(j0 + j) * rb + 4 * (size_t)(c0 / 128)));
                for (int v = 0; v < nv; v++) pm[v] = _mm256_max_ps(pm[v], _mm256_mul_ps(_mm256_loadu_ps(p + (size_t)(j0 + j) * lw + 8 * v), rs));
            }
            __m256 inv[2];
            for (int v = 0; v < nv; v++) {                           // scale max / 255, 1 for a lane of zeros
                __m256 z = _mm256_cmp_ps(pm[v], _mm256_setzero_ps(), _CMP_GT_OQ);
                __m256 sc = _mm256_blendv_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(pm[v], _mm256_set1_ps(255.0f)), z);
                _mm256_storeu_ps(ps + 8 * v, sc);
                inv[v] = _mm256_div_ps(_mm256_set1_ps(1.0f), sc);
            }
            for (int t = 0; t < ns; t++)                             // 4 rows -> one dword per lane: bytes q0 q1 q2 q3
                for (int v = 0; v < nv; v++) {
                    __m256i d = _mm256_setzero_si256();
                    for (int i = 0; i < 4 && 4 * t + i < nj; i++) {
                        int j = j0 + 4 * t + i;
                        __m256 rs = _mm256_set1_ps(ldf(rows + (size_t)j * rb + 4 * (size_t)(c0 / 128)));
                        __m256 x = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(p + (size_t)j * lw + 8 * v), rs), inv[v]);
                        __m256i q = _mm256_min_epi32(_mm256_cvtps_epi32(x), _mm256_set1_epi32(255));   // round to nearest even
                        d = _mm256_or_si256(d, _mm256_slli_epi32(q, 8 * i));
                    }
                    _mm256_store_si256((__m256i *)(pq + (size_t)t * lw * 4 + 32 * v), d);
                }
            int d = c0;
            for (; d + 8 <= c1; d += 8) {                            // 8 columns × lw lanes in registers
                __m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
                __m256i a40 = a00, a41 = a00, a50 = a00, a51 = a00, a60 = a00, a61 = a00, a70 = a00, a71 = a00;
                for (int t = 0; t < ns; t++) {
                    __m256i p0 = _mm256_load_si256((const __m256i *)(pq + (size_t)t * lw * 4));
                    __m256i p1 = nv > 1 ? _mm256_load_si256((const __m256i *)(pq + (size_t)t * lw * 4 + 32)) : p0;
                    const unsigned char *c = (const unsigned char *)(cv + ((size_t)t * r + d) * 4);
                    __m256i b;
#define COL(i, x0, x1) b = _mm256_set1_epi32(ld32(c + 4 * (i))); DP(x0, p0, b); if (nv > 1) DP(x1, p1, b)
                    COL(0, a00, a01); COL(1, a10, a11); COL(2, a20, a21); COL(3, a30, a31);
                    COL(4, a40, a41); COL(5, a50, a51); COL(6, a60, a61); COL(7, a70, a71);
#undef COL
                }
                __m256 s0 = _mm256_loadu_ps(ps), s1 = nv > 1 ? _mm256_loadu_ps(ps + 8) : s0;
                float *o = oT + (size_t)d * lw;
#define FL(i, x0, x1) do { \
        _mm256_store_ps(o + (i) * lw, _mm256_fmadd_ps(_mm256_cvtepi32_ps(x0), s0, _mm256_mul_ps(_mm256_load_ps(o + (i) * lw), al0))); \
        if (nv > 1) _mm256_store_ps(o + (i) * lw + 8, _mm256_fmadd_ps(_mm256_cvtepi32_ps(x1), s1, _mm256_mul_ps(_mm256_load_ps(o + (i) * lw + 8), al1))); \
    } while (0)
                FL(0, a00, a01); FL(1, a10, a11); FL(2, a20, a21); FL(3, a30, a31);
                FL(4, a40, a41); FL(5, a50, a51); FL(6, a60, a61); FL(7, a70, a71);
#undef FL
            }
            for (; d < c1; d++)                                      // the group's last columns one at a time
                for (int v = 0; v < nv; v++) {
                    __m256i acc = _mm256_setzero_si256();
                    for (int t = 0; t < ns; t++) {
                        __m256i pv = _mm256_load_si256((const __m256i *)(pq + (size_t)t * lw * 4 + 32 * v));
                        __m256i b = _mm256_set1_epi32(ld32((const unsigned char *)(cv + ((size_t)t * r + d) * 4)));
                        DP(acc, pv, b);
                    }
                    float *o = oT + (size_t)d * lw + 8 * v;
                    __m256 ov = _mm256_mul_ps(_mm256_load_ps(o), v ? al1 : al0);
                    _mm256_store_ps(o, _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), _mm256_loadu_ps(ps + 8 * v), ov));
                }
        }
    }
}
#else
int lattn_i8_fast(void) { return 0; }

static void scores_i8(const LatAttn *a, int g, const unsigned char *rows, size_t rb, int n, float *s) {
    int lw = a->lw, hdr = 4 * a->nkg;
    const signed char *q8 = a->q8 + (size_t)g * a->W * lw;
    for (int j = 0; j < n; j++) {
        const unsigned char *row = rows + (size_t)j * rb;
        for (int h = 0; h < lw; h++) {
            float acc = 0.0f;
            for (int gi = 0; gi < a->nkg; gi++) {
                int k0, k1, dot = 0;
                kgroup(a, gi, &k0, &k1);
                for (int k = k0; k < k1; k++) dot += (int)row[hdr + k] * q8[((size_t)(k / 4) * lw + h) * 4 + k % 4];
                float rs;
                memcpy(&rs, row + 4 * (size_t)gi, 4);
                size_t qi = ((size_t)g * a->nkg + gi) * lw + h;
                acc = fmaf((float)(dot - a->q8z[qi]), a->q8s[qi] * rs, acc);
            }
            s[(size_t)j * lw + h] = acc;
        }
    }
}
#endif

#if !LATTN_VNNI
// cf [n, r] = the rows' c_kv decoded: (u8 − 128) · scale, as u8 · scale − 128 · scale in one FMA (exact
// before its one rounding, so equal to kv_decode_row's (u8 − 128) · scale).
static void decode_ckv(const LatAttn *a, const unsigned char *rows, size_t rb, int n, float *cf) {
    int r = a->r, hdr = 4 * a->nkg;
    for (int j = 0; j < n; j++) {
        const unsigned char *u = rows + (size_t)j * rb + hdr;
        float *x = cf + (size_t)j * r;
        for (int k0 = 0; k0 < r; k0 += 128) {
            int k1 = k0 + 128 < r ? k0 + 128 : r, k = k0;
            float sc = ldf(rows + (size_t)j * rb + 4 * (size_t)(k0 / 128));
#ifdef VM_HAVE_AVX2
            __m256 vs = _mm256_set1_ps(sc), vo = _mm256_set1_ps(-128.0f * sc);
            for (; k + 16 <= k1; k += 16) {
                __m128i b = _mm_loadu_si128((const __m128i *)(u + k));
                _mm256_storeu_ps(x + k, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)), vs, vo));
                _mm256_storeu_ps(x + k + 8, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8))), vs, vo));
            }
#endif
            for (; k < k1; k++) x[k] = (float)((int)u[k] - 128) * sc;
        }
    }
}
#endif

void lattn_rows_i8(LatAttn *a, const unsigned char *rows, size_t rb, int n) {
    int lw = a->lw, r = a->r;
    if (!a->q8_ok) quantize_queries(a);
    for (int j0 = 0; j0 < n; j0 += a->max_rows) {                   // (callers stay within max_rows)
        int nj = n - j0 < a->max_rows ? n - j0 : a->max_rows;
        const unsigned char *rw = rows + (size_t)j0 * rb;
#if LATTN_VNNI
        interleave_codes(a, rw, rb, nj, a->cv);
#else
        decode_ckv(a, rw, rb, nj, a->cf);
#endif
        for (int g = 0; g < a->ng; g++) {
            float *oT = a->oT + (size_t)g * r * lw, *m = a->m + (size_t)g * lw, *l = a->l + (size_t)g * lw;
            scores_i8(a, g, rw, rb, nj, a->s);
#if LATTN_VNNI
            float alpha[16];                                         // oT's rescaling, applied by values_i8
            softmax_step(a->s, nj, lw, r, m, l, NULL, alpha);
            values_i8(a, rw, rb, nj, a->s, alpha, oT);
#else
            softmax_step(a->s, nj, lw, r, m, l, oT, NULL);
#if defined(VM_HAVE_AVX2)
            if (lw == 16) values16(a->s, a->cf, nj, r, r, oT); else values8(a->s, a->cf, nj, r, r, oT);
#else
            values_plain(a->s, a->cf, nj, r, r, lw, oT);
#endif
#endif
        }
    }
}

void lattn_end_parts(const LatAttn *const *parts, int np, int h0, int h1, float *o, int ldo) {
    const LatAttn *a = parts[0];
    int lw = a->lw, r = a->r, nh = h1 - h0 > 0 ? h1 - h0 : 1;
    static _Thread_local Scratch ws;                                 // once per layer and thread in decode
    float *w = scratch_get(&ws, sizeof(float) * (size_t)(np + 1) * nh);   // [np, h1 - h0] each part's weight per head
    float *inv = w + (size_t)np * nh;                               // [h1 - h0] 1 / Σ_p weight · l
    for (int h = h0; h < h1; h++) {
        size_t li = (size_t)(h / lw) * lw + h % lw;
        float mx = -FLT_MAX;
        for (int p = 0; p < np; p++) if (parts[p]->m[li] > mx) mx = parts[p]->m[li];
        double l = 0;
        for (int p = 0; p < np; p++) {                              // a part that saw no rows has l = 0
            float wp = parts[p]->l[li] > 0 ? vm_expf(parts[p]->m[li] - mx) : 0.0f;
            w[(size_t)p * nh + h - h0] = wp;
            l += (double)wp * parts[p]->l[li];
        }
        inv[h - h0] = (float)(1.0 / l);
    }
    int h = h0;
#ifdef VM_HAVE_AVX2
    // 8 heads of one lane group at a time (their lanes are side by side in every oT row): per 8 latent columns,
    // 8 vectors of lanes summed over the parts, then an 8 x 8 transpose into the heads' rows of o
    for (; h + 8 <= h1 && h % lw + 8 <= lw && r % 8 == 0; h += 8) {
        size_t oi = (size_t)(h / lw) * r * lw + h % lw;
        __m256 iv = _mm256_loadu_ps(inv + h - h0);
        for (int d0 = 0; d0 < r; d0 += 8) {
            __m256 v[8];
            for (int k = 0; k < 8; k++) v[k] = _mm256_setzero_ps();
            for (int p = 0; p < np; p++) {
                __m256 wp = _mm256_loadu_ps(w + (size_t)p * nh + h - h0);
                const float *src = parts[p]->oT + oi + (size_t)d0 * lw;   // [8 columns, lw lanes]
                for (int k = 0; k < 8; k++) v[k] = _mm256_fmadd_ps(wp, _mm256_loadu_ps(src + (size_t)k * lw), v[k]);
            }
            for (int k = 0; k < 8; k++) v[k] = _mm256_mul_ps(v[k], iv);
            tr8(v);
            for (int i = 0; i < 8; i++) _mm256_storeu_ps(o + (size_t)(h + i) * ldo + d0, v[i]);
        }
    }
#endif
    for (; h < h1; h++) {                                           // the rest one head at a time
        size_t oi = (size_t)(h / lw) * r * lw + h % lw;
        for (int d = 0; d < r; d++) {
            float acc = 0;
            for (int p = 0; p < np; p++) acc += w[(size_t)p * nh + h - h0] * parts[p]->oT[oi + (size_t)d * lw];
            o[(size_t)h * ldo + d] = acc * inv[h - h0];
        }
    }
}

void lattn_end(const LatAttn *a, float *o, int ldo) { lattn_end_parts(&a, 1, 0, a->nh, o, ldo); }

void lattn_ref(const float *qa, int lda, const float *qb, int ldb, float scale, int nh, const float *rows, int n,
               int ldr, int r, int W, float *o, int ldo) {
    double *sc = xmalloc(sizeof(double) * (size_t)n);
    for (int h = 0; h < nh; h++) {
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < n; j++) {
            const float *row = rows + (size_t)j * ldr;
            double acc = 0;
            for (int k = 0; k < r; k++) acc += (double)qa[(size_t)h * lda + k] * row[k];
            for (int k = r; k < W; k++) acc += (double)qb[(size_t)h * ldb + k - r] * row[k];
            sc[j] = acc * scale;
            if (sc[j] > mx) mx = sc[j];
        }
        for (int j = 0; j < n; j++) { sc[j] = exp(sc[j] - mx); sum += sc[j]; }
        for (int d = 0; d < r; d++) {
            double acc = 0;
            for (int j = 0; j < n; j++) acc += sc[j] * rows[(size_t)j * ldr + d];
            o[(size_t)h * ldo + d] = (float)(acc / sum);
        }
    }
    free(sc);
}
