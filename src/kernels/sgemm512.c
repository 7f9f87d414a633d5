// sgemm512.c — FP32 GEMM for AVX-512 CPUs (see sgemm512.h).
//
// Blocked the usual way (Goto / BLIS): for each NC-column block of C and KC-deep slice of K, op(B) is packed into
// panels of NR = 16·NV columns [kc][NR]; for each MC-row block, op(A) into panels of MR rows [kc][MR]; a register
// tile of MR rows × NR columns of C (NV·MR zmm accumulators) then runs over kc: per k NV 16-lane loads of the B
// panel, MR broadcasts from the A panel, NV·MR FMAs. Packing transposes 8 × 8 (4 × 4) blocks in registers.
//
// Tile and depth measured on an Ice Lake Xeon (1 thread, the training step's ten largest shapes, best of 3, weighted
// by their share of the step; in-L1 kernel alone 150-172 GFLOP/s for every choice, the 512-bit FMA peak 187). With
// B panels outer (the first version): MR 6 × NV 4 (24 accumulators, 10 loads per 24 FMAs) with KC 256 weighted time
// 3.79, KC 384 3.77, 192 3.94, 128 4.03, MR 4 × NV 4 3.81, 8 × 3 3.97, 12 × 2 4.04-4.07, 8 × 2 4.02 (lower is
// better). With A panels outer (now; bench/gemm, own / OpenBLAS weighted, three alternated runs): 6 × 4 1.09-1.15,
// 8 × 3 1.12-1.17, 14 × 2 1.09-1.15, 4 × 4 1.06-1.11, 12 × 2 1.02-1.07; KC 256 / 384 / 512 within noise.
#include "kernels/sgemm512.h"

#if defined(__AVX512F__) && !defined(SGEMM512_OFF)
#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "base/check.h"
#include "base/scratch.h"
#include "kernels/transpose8.h"

#ifndef MR
#define MR 6             // rows of the register tile (4 <= MR <= 16; NV · MR accumulators of 32 registers)
#endif
#ifndef NV
#define NV 4             // 16-lane vectors across the register tile
#endif
#define NR (16 * NV)     // columns of the register tile
#ifndef KC
#define KC 256           // depth of a packed slice: an A panel is KC × MR × 4 bytes (L1), a B panel KC × NR × 4
#endif
#ifndef MC
#define MC (144 / MR * MR)  // rows of a packed A block
#endif
#ifndef NC
#define NC 512           // columns of a packed B block: KC × NC × 4 bytes (L2)
#endif
#define AI static inline __attribute__((always_inline))

int sgemm512_available(void) { return 1; }

// Per-thread packing buffers, grown as needed and kept (a GEMM of the training step packs up to KC × NC floats).
static _Thread_local Scratch pack[2];
static float *scratch(int which, size_t bytes) { return scratch_get(&pack[which], bytes); }

// Lane masks for the first n (<= NR) columns of a tile, one per vector.
AI void col_masks(int n, __mmask16 *m) {
    for (int v = 0; v < NV; v++) {
        int c = n - 16 * v;
        m[v] = (__mmask16)(c >= 16 ? 0xFFFF : c > 0 ? (1u << c) - 1 : 0);
    }
}

// dst [kc][w] = the first kc values of n <= w rows of src (row i at src + i·ld), transposed; columns past n zero.
// Full panels go through 8 × 8 register transposes (w a multiple of 8) or 4 × 4 ones (the last 4 rows overlapping
// the previous group when w is not a multiple of 4); the rest value by value.
static void pack_transposed(const float *src, int ld, int n, int w, int kc, float *dst) {
    int k = 0;
    if (n == w && w % 8 == 0)
        for (; k + 8 <= kc; k += 8)
            for (int g = 0; g < w; g += 8) tr8_copy(src + (size_t)g * ld + k, (size_t)ld, dst + (size_t)k * w + g, (size_t)w);
    else if (n == w && w >= 4)
        for (; k + 4 <= kc; k += 4)
            for (int g = 0; g < w; g += 4) {
                int g4 = g + 4 <= w ? g : w - 4;
                tr4_copy(src + (size_t)g4 * ld + k, (size_t)ld, dst + (size_t)k * w + g4, (size_t)w);
            }
    if (k == kc) return;
    if (n < w) memset(dst + (size_t)k * w, 0, sizeof(float) * (size_t)(kc - k) * w);
    for (int i = 0; i < n; i++)
        for (int kk = k; kk < kc; kk++) dst[(size_t)kk * w + i] = src[(size_t)i * ld + kk];
}

// Bp [ceil(n / NR)][kc][NR] = op(B) [k0 .. k0 + kc, j0 .. j0 + n), columns past n zero.
static void pack_b(int tb, const float *B, int ldb, int k0, int kc, int j0, int n, float *Bp) {
    for (int p = 0; p * NR < n; p++) {
        float *dst = Bp + (size_t)p * kc * NR;
        int jn = n - p * NR < NR ? n - p * NR : NR, jb = j0 + p * NR;
        if (!tb) {                                   // B [K, N]: rows of NR contiguous values
            __mmask16 mv[NV];
            col_masks(jn, mv);
            for (int k = 0; k < kc; k++) {
                const float *src = B + (size_t)(k0 + k) * ldb + jb;
                for (int v = 0; v < NV; v++)
                    _mm512_store_ps(dst + (size_t)k * NR + 16 * v, _mm512_maskz_loadu_ps(mv[v], src + 16 * v));
            }
        } else {                                     // B [N, K]: column j of op(B) is row j of B
            pack_transposed(B + (size_t)jb * ldb + k0, ldb, jn, NR, kc, dst);
        }
    }
}

// Ap [ceil(m / MR)][kc][MR] = op(A) [i0 .. i0 + m, k0 .. k0 + kc), rows past m zero.
static void pack_a(int ta, const float *A, int lda, int i0, int m, int k0, int kc, float *Ap) {
    if (ta) {                                        // A [K, M]: row k of A holds column k of op(A); each row read
        for (int k = 0; k < kc; k++) {               // once, MR values (masked: zeros past m) to every panel
            const float *src = A + (size_t)(k0 + k) * lda + i0;
            for (int p = 0; p * MR < m; p++) {
                int im = m - p * MR < MR ? m - p * MR : MR;
                __mmask16 mk = (__mmask16)((1u << im) - 1), ms = (__mmask16)((1u << MR) - 1);
                _mm512_mask_storeu_ps(Ap + ((size_t)p * kc + k) * MR, ms, _mm512_maskz_loadu_ps(mk, src + p * MR));
            }
        }
        return;
    }
    for (int p = 0; p * MR < m; p++) {              // A [M, K]: row i of op(A) is row i of A
        int im = m - p * MR < MR ? m - p * MR : MR;
        pack_transposed(A + (size_t)(i0 + p * MR) * lda + k0, lda, im, MR, kc, Ap + (size_t)p * kc * MR);
    }
}

// C [m ≤ MR, n ≤ NR] (ldc) = alpha · Ap · Bp + beta · C, beta = 0 meaning C is not read.
AI void tile(int kc, const float *Ap, const float *Bp, float *C, int ldc, int m, int n, float alpha, float beta) {
    __m512 acc[NV * MR];
    for (int i = 0; i < NV * MR; i++) acc[i] = _mm512_setzero_ps();
    for (int i = 0; i < m; i++)                      // C's lines on their way (for writing) while the tile computes
        for (int v = 0; v < NV; v++) __builtin_prefetch(C + (size_t)i * ldc + 16 * v, 1, 3);
    for (int k = 0; k < kc; k++) {
        __m512 b[NV];
        for (int v = 0; v < NV; v++) b[v] = _mm512_load_ps(Bp + (size_t)k * NR + 16 * v);
        const float *a = Ap + (size_t)k * MR;
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(a[i]);
            for (int v = 0; v < NV; v++) acc[NV * i + v] = _mm512_fmadd_ps(av, b[v], acc[NV * i + v]);
        }
    }
    __mmask16 mv[NV];
    col_masks(n, mv);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int i = 0; i < m; i++)
        for (int v = 0; v < NV; v++) {
            float *c = C + (size_t)i * ldc + 16 * v;
            __m512 r = _mm512_mul_ps(va, acc[NV * i + v]);
            if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mv[v], c), r);
            _mm512_mask_storeu_ps(c, mv[v], r);
        }
}

// C [m, n] (ldc) = alpha · Ap · Bp + beta · C over packed panels: A panels outer (see sgemm_st).
static void tiles(int kc, const float *Ap, const float *Bp, int m, int n, float *C, int ldc, float alpha, float beta) {
    for (int ir = 0; ir < m; ir += MR)
        for (int jr = 0; jr < n; jr += NR)
            tile(kc, Ap + (size_t)(ir / MR) * kc * MR, Bp + (size_t)(jr / NR) * kc * NR, C + (size_t)ir * ldc + jr, ldc,
                 m - ir < MR ? m - ir : MR, n - jr < NR ? n - jr : NR, alpha, beta);
}

// One thread's GEMM. Per block, the tile loop runs A panels outer: an A panel (KC × MR floats) stays in L1 while the
// block's B panels (KC × NC floats, in L2) go by, and C is written row-wise in runs of NC. Measured with MR 6 × NV 4
// (same shapes as above): B panels outer instead was 0.72-0.79× on 256 × 8192 × 256 and 0.86-0.89× on
// 4096 × 512 × 128, within ±4 % on the rest; NC 512 against 256 / 1024 / 2048: best or within noise everywhere, 2048
// 0.5× on 256 × 8192 × 256.
static void sgemm_st(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                     float beta, float *C, int ldc) {
    int nc_max = N < NC ? N : NC, kc_max = K < KC ? K : KC, mp = (M + MR - 1) / MR * MR;
    // Several column blocks and a small op(A) (<= 1 MB per slice, e.g. the LM head's 256-row chunks against 8192
    // columns): op(A) packed once per slice for all of them instead of once per block (256 × 8192 × 256: 1.06-1.08×
    // OpenBLAS before, 1.17-1.18× after). The same sums in the same order either way.
    int hoist = N > NC && (size_t)mp * kc_max * sizeof(float) <= (1u << 20);
    float *Bp = scratch(0, sizeof(float) * (size_t)kc_max * ((nc_max + NR - 1) / NR * NR));
    float *Ap = scratch(1, sizeof(float) * (size_t)kc_max * (hoist ? mp : MC + MR));
    if (hoist) {
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            float be = k0 == 0 ? beta : 1.0f;
            pack_a(ta, A, lda, 0, M, k0, kc, Ap);
            for (int j0 = 0; j0 < N; j0 += NC) {
                int nc = N - j0 < NC ? N - j0 : NC;
                pack_b(tb, B, ldb, k0, kc, j0, nc, Bp);
                tiles(kc, Ap, Bp, M, nc, C + j0, ldc, alpha, be);
            }
        }
        return;
    }
    for (int j0 = 0; j0 < N; j0 += NC) {
        int nc = N - j0 < NC ? N - j0 : NC;
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            float be = k0 == 0 ? beta : 1.0f;        // later slices add to what the first wrote
            pack_b(tb, B, ldb, k0, kc, j0, nc, Bp);
            for (int i0 = 0; i0 < M; i0 += MC) {
                int mc = M - i0 < MC ? M - i0 : MC;
                pack_a(ta, A, lda, i0, mc, k0, kc, Ap);
                tiles(kc, Ap, Bp, mc, nc, C + (size_t)i0 * ldc + j0, ldc, alpha, be);
            }
        }
    }
}

// Outside a parallel region, with several threads and enough work, the threads take disjoint bands of C: rows
// (multiples of MR) when M >= N, else columns (multiples of NR); each packs what its band needs.
void sgemm512(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc) {
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (nt > 1 && (double)M * N * K < 1 << 21) nt = 1;
    int by_rows = M >= N, units = by_rows ? (M + MR - 1) / MR : (N + NR - 1) / NR;
    if (nt > units) nt = units;
    if (nt <= 1) { sgemm_st(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); return; }
    #pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        int u0 = units * t / n, u1 = units * (t + 1) / n;
        if (by_rows) {
            int i0 = u0 * MR, i1 = u1 * MR < M ? u1 * MR : M;
            if (i1 > i0)
                sgemm_st(ta, tb, i1 - i0, N, K, alpha, ta ? A + i0 : A + (size_t)i0 * lda, lda, B, ldb, beta,
                         C + (size_t)i0 * ldc, ldc);
        } else {
            int j0 = u0 * NR, j1 = u1 * NR < N ? u1 * NR : N;
            if (j1 > j0)
                sgemm_st(ta, tb, M, j1 - j0, K, alpha, A, lda, tb ? B + (size_t)j0 * ldb : B + j0, ldb, beta, C + j0,
                         ldc);
        }
    }
}
#else
int sgemm512_available(void) { return 0; }
void sgemm512(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc) {
    (void)ta; (void)tb; (void)M; (void)N; (void)K; (void)alpha; (void)A; (void)lda; (void)B; (void)ldb; (void)beta;
    (void)C; (void)ldc;
}
#endif
