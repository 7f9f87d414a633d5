// lanegemm.c — prefill GEMM with x rows in vector lanes for int8/int4 (integer products) and bf16/fp8 (weights
// decoded to FP32 per panel) weights; see lanegemm.h for the layouts.
#include "kernels/lanegemm.h"

#include <stdlib.h>
#include <string.h>
#if defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
#include <immintrin.h>
#define LANEGEMM_AVX2 1
#endif
// VNNI (AVX512-VNNI with VL, or AVX-VNNI): vpdpbusd sums 4 products of unsigned W bytes and signed x codes into int32
// in one instruction, so int8 and int4 share one kernel: int8 W stored as w + 128 (the offset removed per block with
// x's block sums, as int4's nibble offset 8), x packed as int8 quads for both.
#if defined(LANEGEMM_AVX2) && defined(__AVX512VNNI__) && defined(__AVX512VL__) && !defined(LANEGEMM_NO_VNNI)
#define LANEGEMM_VNNI 1
#define DPBUSD(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
#elif defined(LANEGEMM_AVX2) && defined(__AVXVNNI__) && !defined(LANEGEMM_NO_VNNI)
#define LANEGEMM_VNNI 1
#define DPBUSD(acc, u, s) _mm256_dpbusd_avx_epi32(acc, u, s)
#else
#define LANEGEMM_VNNI 0
#endif

#include "base/check.h"
#include "kernels/quant.h"
#include "kernels/transpose8.h"

// Register tiles: W rows x groups of 8 x rows, per format (G * R int accumulators + as many FP32 ones).
#ifndef GR8
#define GR8 4
#endif
#ifndef RT8
#define RT8 2
#endif
#ifndef GR4
#define GR4 3
#endif
#ifndef RT4
#define RT4 2
#endif
// VNNI tiles: GRV W rows x RTV groups, GRV_1 W rows for a single group. 8 x 2 (16 accumulators + 3 vectors) needs
// AVX-512VL's 32 registers; AVX-VNNI has 16, so 6 x 2. Measured with AVX512-VNNI (bench/qmatmul --prefill, 1 thread,
// bench-infer shapes, lane/sgemm in the same run): 4 x 2 0.93-2.26 int8 / 1.00-2.22 int4, 6 x 2 0.88-2.16 / 1.04-2.23,
// 8 x 2 0.94-2.06 / 1.00-2.61, on a VM whose speed halved and recovered during the runs; 8 x 2 the steadiest.
#ifndef GRV
#if defined(__AVX512VL__)
#define GRV 8
#else
#define GRV 6
#endif
#endif
#ifndef RTV
#define RTV 2
#endif
#ifndef GRV_1
#define GRV_1 6
#endif
// The quad kernel's tiles (tile_q): VNNI's for int8 and int4, else int4's.
#if LANEGEMM_VNNI
#define QG GRV
#define QR RTV
#define QG_1 GRV_1
#else
#define QG GR4
#define QR RT4
#define QG_1 GR4_1
#endif
#define GRF 6        // float formats: 6 W rows x 2 groups = 12 FMA accumulators (FMA latency 4 x 2 per cycle = 8 needed)
// A single group of x rows (N <= 8, e.g. batched decode, or the last odd group) gets taller tiles, so that there are
// still enough independent accumulators (integer formats): int8 and int4 6 W rows (paired A/B at N = 8 on bench-infer shapes, 1 thread:
// 1.08x and 1.09x against 4 and 3 rows); float formats keep 6 (12 rows: 0.55x on C = 1024, tiles overflow L1; 8: 1.01x).
#ifndef GR8_1
#define GR8_1 6
#endif
#ifndef GR4_1
#define GR4_1 6
#endif
#define ACHUNKF 4    // float formats: groups per chunk (x transposed in FP32 is 4x the int8 codes)
#define GMAX 8
#define RMAX 2
#ifndef PANEL
#define PANEL 24     // W rows prepared (widened / unpacked / decoded) at a time, a multiple of every tile height
#endif
#ifndef ACHUNK
#define ACHUNK 8     // groups of x rows per pass over a panel: x chunk + panel stay in L2
#endif

_Static_assert(PANEL % GR8 == 0 && PANEL % GR4 == 0 && PANEL % GRF == 0 && PANEL % GR8_1 == 0 && PANEL % GR4_1 == 0 &&
               PANEL % GRV == 0 && PANEL % GRV_1 == 0, "PANEL must be a multiple of every tile height");
_Static_assert(GR8 * RT8 <= GMAX * RMAX && GR4 * RT4 <= GMAX * RMAX && GR8_1 <= GMAX && GR4_1 <= GMAX &&
               GRV * RTV <= GMAX * RMAX && RTV <= RMAX && GRV_1 <= GMAX, "tile larger than GMAX x RMAX");

static inline int cdiv(int a, int b) { return (a + b - 1) / b; }

#if LANEGEMM_AVX2
#define AI static inline __attribute__((always_inline))

typedef struct {
    int N, C, nb, ng;       // ng = ceil(N / 8) groups of 8 x rows
    int quads;              // x codes as int8 quads (int4, or int8 with VNNI: tile_q), else int16 pairs (tile_i8)
    int C8;                 // columns of the float layout: C rounded up to 8 (= C for the integer layouts)
    void *a;                // int8 W: int16 [ng][C/2][8][2] (VNNI: quads); int4 W: int8 [ng][C/4][8][4]; float W: float
                            // [ng][C8][8] (AVX-512: [ng][C8/2][8][2])
    float *sa;              // [ng][nb][8] A8 scales (0 for padding rows)
    float *s8;              // quads: [ng][nb][8] off · Σ codes of the block (W's offset: int4 8, int8 128), else NULL
} Packed;

// Quantize x [N, C] to A8 and pack it for the kernels (freed by packed_free).
static void pack_acts(const float *x, int N, int C, int i4, Packed *P) {
    int nb = C / QBLOCK, ng = cdiv(N, 8), quads = i4 || LANEGEMM_VNNI;
    float off = i4 ? 8.0f : 128.0f;
    size_t gbytes = (size_t)C * (quads ? 8 : 16);    // per group: C/2 pairs x 32 B (int16) or C/4 quads x 32 B
    size_t sbytes = (size_t)ng * nb * 8 * sizeof(float);
    *P = (Packed){N, C, nb, ng, quads, C, xmalloc_aligned((size_t)ng * gbytes), xmalloc_aligned(sbytes),
                  quads ? xmalloc_aligned(sbytes) : NULL};
    #pragma omp parallel if ((size_t)N * C > 65536)
    {
        int8_t *q = xmalloc_aligned((size_t)8 * C);   // [8, C] codes of one group
        float *d = xmalloc((size_t)8 * nb * sizeof(float));   // [8, nb]
        #pragma omp for schedule(static)
        for (int g = 0; g < ng; g++) {
            for (int i = 0; i < 8; i++) {
                int n = 8 * g + i;
                if (n < N) a8_quantize_row(x + (size_t)n * C, C, q + (size_t)i * C, d + (size_t)i * nb);
                else { memset(q + (size_t)i * C, 0, (size_t)C); memset(d + (size_t)i * nb, 0, (size_t)nb * sizeof(float)); }
            }
            float *sa = P->sa + (size_t)g * nb * 8;
            for (int b = 0; b < nb; b++)
                for (int i = 0; i < 8; i++) sa[b * 8 + i] = d[(size_t)i * nb + b];
            if (quads) {
                float *s8 = P->s8 + (size_t)g * nb * 8;
                for (int i = 0; i < 8; i++)
                    for (int b = 0; b < nb; b++) {
                        int s = 0;
                        for (int k = 0; k < QBLOCK; k++) s += q[(size_t)i * C + b * QBLOCK + k];
                        s8[b * 8 + i] = off * (float)s;   // exact: |s| <= 32 · 127
                    }
                int8_t *dst = (int8_t *)P->a + (size_t)g * gbytes;   // [C/4][8][4]
                for (int c = 0; c < C; c += 32) {             // 8 quads of 8 rows
                    __m256 r[8];
                    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps((const float *)(q + (size_t)i * C + c));
                    tr8(r);
                    for (int j = 0; j < 8; j++) _mm256_store_ps((float *)(dst + (size_t)(c / 4 + j) * 32), r[j]);
                }
            } else {
                int16_t *dst = (int16_t *)((char *)P->a + (size_t)g * gbytes);   // [C/2][8][2]
                for (int c = 0; c < C; c += 16) {             // 8 pairs of 8 rows
                    __m256 r[8];
                    for (int i = 0; i < 8; i++)
                        r[i] = _mm256_castsi256_ps(
                            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q + (size_t)i * C + c))));
                    tr8(r);
                    for (int j = 0; j < 8; j++) _mm256_store_ps((float *)(dst + (size_t)(c / 2 + j) * 16), r[j]);
                }
            }
        }
        free(q); free(d);
    }
}

static void packed_free(Packed *P) { free(P->a); free(P->sa); free(P->s8); }

// Rows [r0, r0 + n) of W (n <= PANEL) into the panel: int8 widened to int16 [PANEL][C], int4 nibbles as bytes
// 0..15 in column order [PANEL][C]; scales [PANEL][nb] FP32. Rows n .. PANEL are zero (partial register tiles).
static void prep_panel(const QMatrix *W, int r0, int n, void *wb, float *sw) {
    int C = W->cols, nb = C / QBLOCK, n4 = PANEL;
    const uint16_t *d = (const uint16_t *)W->scale + (size_t)r0 * nb;
    for (int j = 0; j < n && !W->il; j++)
        for (int b = 0; b < nb; b++) sw[(size_t)j * nb + b] = _cvtsh_ss(d[(size_t)j * nb + b]);
    memset(sw + (size_t)n * nb, 0, (size_t)(n4 - n) * nb * sizeof(float));
    if (W->type == QT_I8 && LANEGEMM_VNNI) {          // bytes w + 128 (= w xor 0x80) [PANEL][C]
        const int8_t *q = (const int8_t *)W->data + (size_t)r0 * C;
        uint8_t *o = wb;
        const __m256i flip = _mm256_set1_epi8((char)0x80);
        for (int j = 0; j < n; j++)
            for (int c = 0; c < C; c += 32)
                _mm256_store_si256((__m256i *)(o + (size_t)j * C + c),
                                   _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(q + (size_t)j * C + c)), flip));
        memset(o + (size_t)n * C, 0x80, (size_t)(n4 - n) * C);
    } else if (W->type == QT_I8) {
        const int8_t *q = (const int8_t *)W->data + (size_t)r0 * C;
        int16_t *o = wb;
        for (int j = 0; j < n; j++)
            for (int c = 0; c < C; c += 16)
                _mm256_store_si256((__m256i *)(o + (size_t)j * C + c),
                                   _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q + (size_t)j * C + c))));
        memset(o + (size_t)n * C, 0, (size_t)(n4 - n) * C * sizeof(int16_t));
    } else if (W->il) {                                // int4 decode layout (qmat_interleave): r0 and n are multiples of 8
        const uint8_t *q = (const uint8_t *)W->data + (size_t)r0 * C / 2;
        const uint16_t *s = (const uint16_t *)W->scale + (size_t)r0 * nb;
        uint8_t *o = wb;
        const __m256i m = _mm256_set1_epi8(15);
        for (int g = 0; g < n / 8; g++) {
            for (int b = 0; b < nb; b++) {
                // chunks c0..c3 hold 4 bytes of each of the 8 rows; a 4 x 4 transpose of 32-bit pieces per 128-bit
                // half gives rows k (low half) and k + 4 (high half) of block b in v[k]
                const uint8_t *src = q + ((size_t)g * nb + b) * 128;
                __m256i c0 = _mm256_loadu_si256((const __m256i *)src), c1 = _mm256_loadu_si256((const __m256i *)(src + 32));
                __m256i c2 = _mm256_loadu_si256((const __m256i *)(src + 64)), c3 = _mm256_loadu_si256((const __m256i *)(src + 96));
                __m256i t0 = _mm256_unpacklo_epi32(c0, c1), t1 = _mm256_unpacklo_epi32(c2, c3);
                __m256i t2 = _mm256_unpackhi_epi32(c0, c1), t3 = _mm256_unpackhi_epi32(c2, c3);
                __m256i v[4] = {_mm256_unpacklo_epi64(t0, t1), _mm256_unpackhi_epi64(t0, t1), _mm256_unpacklo_epi64(t2, t3),
                                _mm256_unpackhi_epi64(t2, t3)};
                for (int k = 0; k < 4; k++) {
                    __m256i lo = _mm256_and_si256(v[k], m), hi = _mm256_and_si256(_mm256_srli_epi16(v[k], 4), m);
                    uint8_t *r0p = o + (size_t)(8 * g + k) * C + b * 32, *r4p = o + (size_t)(8 * g + k + 4) * C + b * 32;
                    _mm_store_si128((__m128i *)r0p, _mm256_castsi256_si128(lo));
                    _mm_store_si128((__m128i *)(r0p + 16), _mm256_castsi256_si128(hi));
                    _mm_store_si128((__m128i *)r4p, _mm256_extracti128_si256(lo, 1));
                    _mm_store_si128((__m128i *)(r4p + 16), _mm256_extracti128_si256(hi, 1));
                }
                for (int k = 0; k < 8; k++) sw[(size_t)(8 * g + k) * nb + b] = _cvtsh_ss(s[((size_t)g * nb + b) * 8 + k]);
            }
        }
        memset(o + (size_t)n * C, 0, (size_t)(n4 - n) * C);
    } else {
        const uint8_t *q = (const uint8_t *)W->data + (size_t)r0 * C / 2;
        uint8_t *o = wb;
        const __m128i m = _mm_set1_epi8(15);
        for (int j = 0; j < n; j++)
            for (int b = 0; b < nb; b++) {
                __m128i raw = _mm_loadu_si128((const __m128i *)(q + (size_t)j * C / 2 + (size_t)b * 16));
                _mm_store_si128((__m128i *)(o + (size_t)j * C + b * 32), _mm_and_si128(raw, m));
                _mm_store_si128((__m128i *)(o + (size_t)j * C + b * 32 + 16), _mm_and_si128(_mm_srli_epi16(raw, 4), m));
            }
        memset(o + (size_t)n * C, 0, (size_t)(n4 - n) * C);
    }
}

AI __m256i bcast32(const void *p) { return _mm256_castps_si256(_mm256_broadcast_ss((const float *)p)); }

// out[g * R + r] (8 lanes = the 8 x rows of group r) for GR W rows of the panel (w [GR][C] int16, sw [GR][nb])
// against R groups (a: group base, ga int16 per group; sa: group base, gs floats per group).
AI void tile_i8(const int16_t *w, const float *sw, const int16_t *a, size_t ga, const float *sa, size_t gs, int GR, int R, int C,
                __m256 *out) {
    int nb = C / QBLOCK;
    __m256 f[GMAX * RMAX];
    for (int i = 0; i < GR * R; i++) f[i] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i acc[GMAX * RMAX];
        for (int i = 0; i < GR * R; i++) acc[i] = _mm256_setzero_si256();
        if (GR == 4 && R == 2) {
            // The common tile with named registers and the loop body in GNU asm: with intrinsics GCC (12) keeps each
            // accumulator in two registers and copies it every step (one vmovdqa per vpmaddwd), 14-16 % slower
            // measured (paired A/B, bench-infer shapes, 1 thread). 8 accumulators + 2 x vectors + 3 temporaries.
            const int16_t *ab = a + (size_t)b * 256, *w0 = w + (size_t)b * 32, *w1 = w0 + C, *w2 = w1 + C, *w3 = w2 + C;
            __m256i c00 = acc[0], c01 = acc[1], c10 = acc[2], c11 = acc[3], c20 = acc[4], c21 = acc[5], c30 = acc[6],
                    c31 = acc[7];
            for (int p = 0; p < 16; p++) {
                __m256i a0 = _mm256_load_si256((const __m256i *)(ab + p * 16));
                __m256i a1 = _mm256_load_si256((const __m256i *)(ab + ga + p * 16));
                __m256i x, t0, t1;
                __asm__("vpbroadcastd %[m0], %[x]\n\t"
                        "vpmaddwd %[a0], %[x], %[t0]\n\tvpaddd %[t0], %[c00], %[c00]\n\t"
                        "vpmaddwd %[a1], %[x], %[t1]\n\tvpaddd %[t1], %[c01], %[c01]\n\t"
                        "vpbroadcastd %[m1], %[x]\n\t"
                        "vpmaddwd %[a0], %[x], %[t0]\n\tvpaddd %[t0], %[c10], %[c10]\n\t"
                        "vpmaddwd %[a1], %[x], %[t1]\n\tvpaddd %[t1], %[c11], %[c11]\n\t"
                        "vpbroadcastd %[m2], %[x]\n\t"
                        "vpmaddwd %[a0], %[x], %[t0]\n\tvpaddd %[t0], %[c20], %[c20]\n\t"
                        "vpmaddwd %[a1], %[x], %[t1]\n\tvpaddd %[t1], %[c21], %[c21]\n\t"
                        "vpbroadcastd %[m3], %[x]\n\t"
                        "vpmaddwd %[a0], %[x], %[t0]\n\tvpaddd %[t0], %[c30], %[c30]\n\t"
                        "vpmaddwd %[a1], %[x], %[t1]\n\tvpaddd %[t1], %[c31], %[c31]"
                        : [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10), [c11] "+x"(c11), [c20] "+x"(c20), [c21] "+x"(c21),
                          [c30] "+x"(c30), [c31] "+x"(c31), [x] "=&x"(x), [t0] "=&x"(t0), [t1] "=&x"(t1)
                        : [a0] "x"(a0), [a1] "x"(a1), [m0] "m"(*(const int32_t *)(w0 + 2 * p)),
                          [m1] "m"(*(const int32_t *)(w1 + 2 * p)), [m2] "m"(*(const int32_t *)(w2 + 2 * p)),
                          [m3] "m"(*(const int32_t *)(w3 + 2 * p)));
            }
            acc[0] = c00; acc[1] = c01; acc[2] = c10; acc[3] = c11; acc[4] = c20; acc[5] = c21; acc[6] = c30; acc[7] = c31;
        } else
        for (int p = b * 16; p < b * 16 + 16; p++) {  // pair index: columns 2p, 2p+1
            __m256i av[RMAX];
            for (int r = 0; r < R; r++) av[r] = _mm256_load_si256((const __m256i *)(a + r * ga + (size_t)p * 16));
            for (int g = 0; g < GR; g++) {
                __m256i wv = bcast32(w + (size_t)g * C + 2 * p);
                for (int r = 0; r < R; r++) acc[g * R + r] = _mm256_add_epi32(acc[g * R + r], _mm256_madd_epi16(wv, av[r]));
            }
        }
        for (int r = 0; r < R; r++) {
            __m256 s = _mm256_load_ps(sa + r * gs + (size_t)b * 8);
            for (int g = 0; g < GR; g++)
                f[g * R + r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[g * R + r]),
                                               _mm256_mul_ps(s, _mm256_set1_ps(sw[(size_t)g * nb + b])), f[g * R + r]);
        }
    }
    for (int i = 0; i < GR * R; i++) out[i] = f[i];
}

// The same for int4: w [GR][C] bytes 0..15, s8 the groups' 8 · block sums (layout of sa). With VNNI also int8 (w stored
// as w + 128, s8 = 128 · block sums): vpdpbusd sums the quads straight into int32, exact per 32-block (|Σ| <= 32 · 255
// · 127 < 2^24, so the conversion to FP32 and the offset's subtraction are exact too): the same values as without it.
AI void tile_q(const uint8_t *w, const float *sw, const int8_t *a, size_t ga, const float *sa, const float *s8, size_t gs,
               int GR, int R, int C, __m256 *out) {
    int nb = C / QBLOCK;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 f[GMAX * RMAX];
    for (int i = 0; i < GR * R; i++) f[i] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i acc[GMAX * RMAX];                         // without VNNI int16: |Σ of 8 maddubs| <= 8 · 2 · 15 · 127 < 2^15
        for (int i = 0; i < GR * R; i++) acc[i] = _mm256_setzero_si256();
        #pragma GCC unroll 8
        for (int qd = b * 8; qd < b * 8 + 8; qd++) {  // quad index: columns 4qd .. 4qd+3
            __m256i av[RMAX];
            for (int r = 0; r < R; r++) av[r] = _mm256_load_si256((const __m256i *)(a + r * ga + (size_t)qd * 32));
            for (int g = 0; g < GR; g++) {
                __m256i wv = bcast32(w + (size_t)g * C + 4 * qd);
#if LANEGEMM_VNNI
                for (int r = 0; r < R; r++) acc[g * R + r] = DPBUSD(acc[g * R + r], wv, av[r]);
#else
                for (int r = 0; r < R; r++) acc[g * R + r] = _mm256_add_epi16(acc[g * R + r], _mm256_maddubs_epi16(wv, av[r]));
#endif
            }
        }
        for (int r = 0; r < R; r++) {
            __m256 s = _mm256_load_ps(sa + r * gs + (size_t)b * 8), o = _mm256_load_ps(s8 + r * gs + (size_t)b * 8);
            for (int g = 0; g < GR; g++) {
                __m256i sum = LANEGEMM_VNNI ? acc[g * R + r] : _mm256_madd_epi16(acc[g * R + r], ones);   // int32
                __m256 v = _mm256_sub_ps(_mm256_cvtepi32_ps(sum), o);
                f[g * R + r] = _mm256_fmadd_ps(v, _mm256_mul_ps(s, _mm256_set1_ps(sw[(size_t)g * nb + b])), f[g * R + r]);
            }
        }
    }
    for (int i = 0; i < GR * R; i++) out[i] = f[i];
}

// One panel of W (rows r0 .. r0+n, prepared in wb/sw) against all x groups; y [N, R].
static void panel_run(const QMatrix *W, const Packed *P, int r0, int n, const void *wb, const float *sw, float *y) {
    int C = P->C, nb = P->nb, ng = P->ng, Rw = W->rows;
    size_t ga = (size_t)8 * C;                        // elements (int8 / int16) per group of 8 x rows
    size_t gs = (size_t)nb * 8;
    int GR = P->quads ? QG : GR8, RT = P->quads ? QR : RT8;
    float yb[8 * ACHUNK * PANEL];                    // [8 * ACHUNK x rows, PANEL] outputs of one chunk, then copied out
    for (int g0 = 0; g0 < ng; g0 += ACHUNK) {
        int g1 = g0 + ACHUNK < ng ? g0 + ACHUNK : ng;
        int gfull = g0 + (g1 - g0) / RT * RT;          // groups in full tiles; a last single group: taller tiles
        for (int pass = 0; pass < 2; pass++) {
            int R = pass ? 1 : RT, G = pass ? (P->quads ? QG_1 : GR8_1) : GR;
            int ga0 = pass ? gfull : g0, ga1 = pass ? g1 : gfull;
            for (int j = 0; j < n; j += G)
                for (int g = ga0; g < ga1; g += R) {
                    __m256 out[GMAX * RMAX];
                    if (P->quads) {
                        const uint8_t *w = (const uint8_t *)wb + (size_t)j * C;
                        const int8_t *a = (const int8_t *)P->a + (size_t)g * ga;
                        if (pass) tile_q(w, sw + (size_t)j * nb, a, ga, P->sa + g * gs, P->s8 + g * gs, gs, QG_1, 1, C, out);
                        else tile_q(w, sw + (size_t)j * nb, a, ga, P->sa + g * gs, P->s8 + g * gs, gs, QG, QR, C, out);
                    } else {
                        const int16_t *w = (const int16_t *)wb + (size_t)j * C;
                        const int16_t *a = (const int16_t *)P->a + (size_t)g * ga;
                        if (pass) tile_i8(w, sw + (size_t)j * nb, a, ga, P->sa + g * gs, gs, GR8_1, 1, C, out);
                        else tile_i8(w, sw + (size_t)j * nb, a, ga, P->sa + g * gs, gs, GR8, RT8, C, out);
                    }
                    for (int gi = 0; gi < G; gi++)        // transposed into the chunk's output block (L1)
                        for (int r = 0; r < R; r++) {
                            float v[8];
                            _mm256_storeu_ps(v, out[gi * R + r]);
                            for (int i = 0; i < 8; i++) yb[(size_t)(8 * (g - g0 + r) + i) * PANEL + j + gi] = v[i];
                        }
                }
        }
        for (int i = 8 * g0; i < 8 * g1 && i < P->N; i++)   // x row i: n contiguous outputs
            memcpy(y + (size_t)i * Rw + r0, yb + (size_t)(i - 8 * g0) * PANEL, (size_t)n * sizeof(float));
    }
}

// ---- float weights (bf16, fp8): x transposed to [ng][C8][8] FP32, W rows decoded to FP32 per panel ----------
// With AVX-512 (twice the FP32 FMA width; measured on an Ice Lake Xeon: 183 GFLOP/s of 512-bit FMAs against 90 of
// 256-bit ones on one core) x goes in column pairs [ng][C8/2][8][2]: one 16-lane vector holds columns 2p and 2p+1 of
// 8 rows, a broadcast W pair (one 64-bit broadcast) multiplies it, and the even / odd column sums are added once at
// the end of a tile.
#if defined(__AVX512F__) && !defined(LANEGEMM_NO_AVX512)
#define LANEGEMM_F512 1
#else
#define LANEGEMM_F512 0
#endif
// Float tiles: FW W rows x FR groups of 8 x rows (AVX2: GRF x RMAX). AVX-512: 6 x 4 (24 accumulators; 4 x loads and 6
// W broadcasts per 24 FMAs). Measured (bench/qmatmul --prefill, bf16, 1 thread, lane/sgemm in the same run, two rounds
// on a noisy VM): 6 x 2 0.61-1.30, 12 x 2 0.80-1.29, 6 x 4 0.78-1.17 (0.78-0.98 at N = 512), 4 x 4 0.74-1.08.
#if LANEGEMM_F512
#ifndef FW
#define FW 6
#endif
#ifndef FR
#define FR 4
#endif
#else
#define FW GRF
#define FR RMAX
#endif
_Static_assert(PANEL % FW == 0 && FR <= ACHUNKF, "float tile: PANEL must be a multiple of FW, FR at most ACHUNKF");

static void pack_acts_f(const float *x, int N, int C, Packed *P) {
    int ng = cdiv(N, 8), C8 = cdiv(C, 8) * 8;
    *P = (Packed){N, C, 0, ng, 0, C8, xmalloc_aligned((size_t)ng * C8 * 8 * sizeof(float)), NULL, NULL};
    #pragma omp parallel for schedule(static) if ((size_t)N * C > 65536)
    for (int g = 0; g < ng; g++) {
        float *dst = (float *)P->a + (size_t)g * C8 * 8;             // [C8][8]
        for (int c = 0; c < C8; c += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) {
                int n = 8 * g + i;
                if (n >= N) r[i] = _mm256_setzero_ps();
                else if (c + 8 <= C) r[i] = _mm256_loadu_ps(x + (size_t)n * C + c);
                else {                                                // the last columns, zero padded
                    float t[8] = {0};
                    memcpy(t, x + (size_t)n * C + c, (size_t)(C - c) * sizeof(float));
                    r[i] = _mm256_loadu_ps(t);
                }
            }
            tr8(r);
#if LANEGEMM_F512
            const __m512i zip = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
            for (int j = 0; j < 8; j += 2)                            // columns c+j, c+j+1 of the 8 rows, interleaved
                _mm512_store_ps(dst + (size_t)(c + j) * 8, _mm512_permutex2var_ps(_mm512_castps256_ps512(r[j]), zip,
                                                                                   _mm512_castps256_ps512(r[j + 1])));
#else
            for (int j = 0; j < 8; j++) _mm256_store_ps(dst + (size_t)(c + j) * 8, r[j]);
#endif
        }
    }
}

// Rows [r0, r0 + n) of W decoded to FP32 [PANEL][C8] (zero columns C .. C8 and rows n .. PANEL).
static void prep_panel_f(const QMatrix *W, int r0, int n, int C8, float *wf) {
    int C = W->cols;
    for (int j = 0; j < n; j++) {
        qmat_dequant_row(W, r0 + j, wf + (size_t)j * C8);
        memset(wf + (size_t)j * C8 + C, 0, (size_t)(C8 - C) * sizeof(float));
    }
    memset(wf + (size_t)n * C8, 0, (size_t)(PANEL - n) * C8 * sizeof(float));
}

// io[g * R + r] += Σ_k w[g][k] · x[group r][k][lanes] for GRF W rows (w [GRF][C8]) against R groups (a [R][C8][8]).
AI void tile_f(const float *w, int C8, const float *a, size_t ga, int R, __m256 *io) {
    __m256 f[GRF * RMAX];
    for (int i = 0; i < GRF * R; i++) f[i] = _mm256_setzero_ps();
    for (int k = 0; k < C8; k++) {
        __m256 av[RMAX];
        for (int r = 0; r < R; r++) av[r] = _mm256_load_ps(a + r * ga + (size_t)k * 8);
        for (int g = 0; g < GRF; g++) {
            __m256 wv = _mm256_broadcast_ss(w + (size_t)g * C8 + k);
            for (int r = 0; r < R; r++) f[g * R + r] = _mm256_fmadd_ps(wv, av[r], f[g * R + r]);
        }
    }
    for (int i = 0; i < GRF * R; i++) io[i] = f[i];
}

#if LANEGEMM_F512
// The same with 16-lane vectors: a [R][C8/2][8][2] (column pairs), out as tile_f's (8 lanes = 8 x rows).
AI void tile_f512(const float *w, int C8, const float *a, size_t ga, int R, __m256 *io) {
    __m512 f[FW * FR];
    for (int i = 0; i < FW * R; i++) f[i] = _mm512_setzero_ps();
    for (int k = 0; k < C8; k += 2) {
        __m512 av[FR];
        for (int r = 0; r < R; r++) av[r] = _mm512_load_ps(a + r * ga + (size_t)k * 8);
        for (int g = 0; g < FW; g++) {
            uint64_t pair;                             // w[k], w[k+1]: read as bytes (no float-as-double aliasing)
            memcpy(&pair, w + (size_t)g * C8 + k, sizeof pair);
            __m512 wv = _mm512_castsi512_ps(_mm512_set1_epi64((long long)pair));   // that pair x 8
            for (int r = 0; r < R; r++) f[g * R + r] = _mm512_fmadd_ps(wv, av[r], f[g * R + r]);
        }
    }
    const __m512i eo = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    for (int i = 0; i < FW * R; i++) {                 // lanes 2i, 2i+1 (row i, even / odd columns) summed
        __m512 e = _mm512_permutexvar_ps(eo, f[i]);
        io[i] = _mm256_add_ps(_mm512_castps512_ps256(e), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1)));
    }
}
#define TILE_F tile_f512
#else
#define TILE_F tile_f
#endif

static void panel_run_f(const QMatrix *W, const Packed *P, int r0, int n, const float *wf, float *y) {
    int C8 = P->C8, ng = P->ng, Rw = W->rows;
    size_t ga = (size_t)C8 * 8;
    float yb[8 * ACHUNKF * PANEL];                   // [8 * ACHUNKF x rows, PANEL] outputs of one chunk
    for (int g0 = 0; g0 < ng; g0 += ACHUNKF) {
        int g1 = g0 + ACHUNKF < ng ? g0 + ACHUNKF : ng;
        for (int j = 0; j < n; j += FW)
            for (int g = g0, R; g < g1; g += R) {
                R = g1 - g >= FR ? FR : 1;                    // full tiles, then the last groups one at a time
                __m256 out[FW * FR];
                const float *a = (const float *)P->a + (size_t)g * ga;
                if (R == FR) TILE_F(wf + (size_t)j * C8, C8, a, ga, FR, out);
                else TILE_F(wf + (size_t)j * C8, C8, a, ga, 1, out);
                for (int gi = 0; gi < FW; gi++)
                    for (int r = 0; r < R; r++) {
                        float v[8];
                        _mm256_storeu_ps(v, out[gi * R + r]);
                        for (int i = 0; i < 8; i++) yb[(size_t)(8 * (g - g0 + r) + i) * PANEL + j + gi] = v[i];
                    }
            }
        for (int i = 8 * g0; i < 8 * g1 && i < P->N; i++)
            memcpy(y + (size_t)i * Rw + r0, yb + (size_t)(i - 8 * g0) * PANEL, (size_t)n * sizeof(float));
    }
}

void qmat_lanegemm_multi(const QMatrix *const *Ws, int nw, const float *x, int N, float *const *ys) {
    if (N <= 0 || nw <= 0) return;
    int C = Ws[0]->cols, i4 = Ws[0]->type == QT_I4, fl = Ws[0]->type == QT_BF16 || Ws[0]->type == QT_FP8;
    Packed P;
    if (fl) pack_acts_f(x, N, C, &P);
    else pack_acts(x, N, C, i4, &P);
    int pstart[9] = {0};                              // first panel of matrix i
    if (nw > 8) fatal("qmat_lanegemm_multi: at most 8 matrices, got %d", nw);
    for (int i = 0; i < nw; i++) pstart[i + 1] = pstart[i] + cdiv(Ws[i]->rows, PANEL);
    #pragma omp parallel if ((size_t)N * C * pstart[nw] > 200000)
    {
        void *wb = xmalloc_aligned((size_t)PANEL * P.C8 * (fl ? sizeof(float) : sizeof(int16_t)));
        float *sw = fl ? NULL : xmalloc_aligned((size_t)PANEL * (C / QBLOCK) * sizeof(float) + 4);
        #pragma omp for schedule(dynamic, 1)
        for (int p = 0; p < pstart[nw]; p++) {
            int wi = 0;
            while (p >= pstart[wi + 1]) wi++;
            const QMatrix *W = Ws[wi];
            int r0 = (p - pstart[wi]) * PANEL, n = W->rows - r0 < PANEL ? W->rows - r0 : PANEL;
            if (fl) {
                prep_panel_f(W, r0, n, P.C8, wb);
                panel_run_f(W, &P, r0, n, wb, ys[wi]);
            } else {
                prep_panel(W, r0, n, wb, sw);
                panel_run(W, &P, r0, n, wb, sw, ys[wi]);
            }
        }
        free(wb); free(sw);
    }
    packed_free(&P);
}

#else
void qmat_lanegemm_multi(const QMatrix *const *Ws, int nw, const float *x, int N, float *const *ys) {
    (void)Ws; (void)nw; (void)x; (void)N; (void)ys;
    fatal("qmat_lanegemm: this build has no AVX2 kernels");
}
#endif

void qmat_lanegemm(const QMatrix *W, const float *x, int N, float *y) { qmat_lanegemm_multi(&W, 1, x, N, &y); }
