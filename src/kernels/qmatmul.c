// qmatmul.c — quantized weight matrices and y = x·Wᵀ: scalar reference, AVX2 matvec for decode
// (N <= 4, bandwidth-bound, OpenMP over rows) and decode-a-panel-then-sgemm for prefill.
#include "kernels/qmatmul.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "base/check.h"
#include "base/scratch.h"
#include "kernels/gemm.h"
#include "base/hugemem.h"
#include "base/team.h"
#include "kernels/bf16.h"
#include "kernels/fp8.h"
#include "kernels/lanegemm.h"
#include "kernels/quant.h"

#define SMALL_N 4        // x rows handled together by the matvec kernels
#define MULTI_MAX 8      // matrices per qmat_matmul_multi call
#define MV_STREAMS_MAX 8 // distant row streams per thread in the N = 1 matvec (mv_streams)
#define PANEL_ROWS 64    // W rows decoded per panel

#define PANEL_L2_BYTES (128 << 10)   // W bytes per row panel of the blocked kernel (fits L2 with x)

// From how many x rows on W is decoded to FP32 panels and multiplied with sgemm, per format (measured:
// docs/performance.md). int8/int4 never by default: their integer kernels win at every N we measured.
static const int panel_min_default[5] = {8, 32, 32, 1 << 30, 1 << 30};
static int panel_min_override = 0;   // 0: defaults
#ifndef LANE_MIN_BF16
#define LANE_MIN_BF16 16
#endif
#ifndef LANE_MIN_FP8
#define LANE_MIN_FP8 16
#endif
static int lanegemm_on = 1;          // from lanegemm_min_n rows: the lane GEMM (lanegemm.c) instead of blocked / panels
// From how many x rows the lane GEMM beats the blocked row kernel (W in cache, 1 thread, docs/performance.md): below,
// preparing the W panel (widen / unpack / decode) costs more than it saves; int8 0.5-0.9x at N = 5-12, int4 0.75-0.9x
// at N = 5-6; bf16/fp8 equal at N = 8, 1.2-1.7x the blocked kernel / decode-panel + sgemm at N = 16-64, 1.1-1.2x at
// N = 512. f32: never (OpenBLAS sgemm from N = 8).
static const int lanegemm_min_n[5] = {1 << 30, LANE_MIN_BF16, LANE_MIN_FP8, 16, 8};

// The lane GEMM for this call? Off below its row count, for f32, and where a benchmark or test forces panels.
__attribute__((unused)) static int use_lanegemm(QType t, int N) {
    return lanegemm_on && N >= lanegemm_min_n[t] && !(panel_min_override && N >= panel_min_override);
}
// Software prefetch of the matvec kernels: each W row stream is fetched this many weights ahead (bytes =
// weights x the format's size). From DRAM one core keeps too few lines in flight with the hardware
// prefetcher alone on rows of 0.35-2 KB; measured (bench/qmatmul --decode) +10-60 % at 2048-8192
// weights, flat beyond; rounding up to whole row groups adds 5-30 % on rows of >= 1 KB.
#define PF_WEIGHTS_DEFAULT 4096
static int pf_weights = PF_WEIGHTS_DEFAULT;

static int pf_align = 1;             // round the distance up to whole row groups (never a line of the current group)
// bf16 at N = 1: one W row at a time (bf16_rows_dist) up to this many columns, else 4 rows side by side. All
// by default: in the model's decode (bench/infer --tg-ab, paired, bench-infer, weights in huge pages) 1.13x at 1
// thread and 1.09x at 2 against 4-row groups (2026-11-29); with the software prefetch on it was only 1.07x.
static int bf16_seq_max_c = 1 << 30;

int qmat_set_bf16_seq_max_c(int c) { int old = bf16_seq_max_c; bf16_seq_max_c = c; return old; }

// N = 1, one W row (int4 decode layout: one group of 8 rows) at a time: each thread cuts its share of the rows into
// this many equal parts and reads one row of each part side by side (bf16_rows_dist, fp8_rows_dist, row_i8_dist, row_x8_groups), i.e.
// this many memory streams far apart instead of one. 1: one stream (the rows in order); 0: the defaults, 8 streams
// for bf16, fp8 and int8, MV_STREAMS_I4 for int4 (in the model's decode, bench/infer --tg-ab, paired: bf16 8 streams
// 1.41x / 1.47x one stream at 1 / 2 threads and 1.08-1.10x 4 streams; int8 1.19x / 1.13x; int4 4 streams 1.02x /
// 1.09x 8 streams, 8 streams 1.13x / 1.08x one stream; fp8, whose E4M3 decode keeps the core busy, 1.05x / 1.06x).
#define MV_STREAMS_I4 4
static int mv_streams = 0;
int qmat_set_streams(int s) { int old = mv_streams; mv_streams = s < 0 ? 0 : s > MV_STREAMS_MAX ? MV_STREAMS_MAX : s; return old; }

// int4 at N = 2-4: 1 (default) row_i4n, several W rows per call and block sums without hadd; 0 row_int as before;
// 2, 3 other row groupings of row_i4n (smalln_rb; benchmarks).
static int smalln_variant = 1;
int qmat_set_smalln(int variant) { int old = smalln_variant; smalln_variant = variant; return old; }

int qmat_set_prefetch(int weights) { int old = pf_weights; pf_weights = weights < 0 ? 0 : weights; return old; }
int qmat_set_prefetch_align(int on) { int old = pf_align; pf_align = on; return old; }
static int gevm_pf = 1;              // qmat_gevm_rows: software prefetch (pf_weights ahead, whole 4-row groups)
int qmat_set_gevm_prefetch(int on) { int old = gevm_pf; gevm_pf = on; return old; }
static int gevm_i4_int = 1;          // qmat_gevm_rows on int4: integer products (gevm_i4) or weights decoded to FP32
int qmat_set_gevm_int4(int on) { int old = gevm_i4_int; gevm_i4_int = on; return old; }

// Prefetch distance in bytes for a target of t bytes ahead when RB rows of `span` bytes together are
// streamed side by side: whole groups ahead, so that every prefetched line belongs to a later group.
static inline size_t pf_distance(size_t t, size_t span) {
    if (!t || !pf_align || !span) return t;
    return (t + span - 1) / span * span;
}

static int panel_min_n(QType t) { return panel_min_override ? panel_min_override : panel_min_default[t]; }

int qmat_set_lanegemm(int on) { int old = lanegemm_on; lanegemm_on = on; return old; }

int qmat_set_panel_min_n(int n) { int old = panel_min_override; panel_min_override = n < 0 ? 0 : n; return old; }

int qmat_matvec_path(int N) {
#if defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
    if (N < 1 || N > SMALL_N) return 0;
    for (int t = QT_F32; t <= QT_I4; t++)
        if (N >= panel_min_n((QType)t) || use_lanegemm((QType)t, N)) return 0;
    return 1;
#else
    (void)N;
    return 0;                                          // portable build: decode + sgemm
#endif
}

// ---- types, shapes, construction --------------------------------------------------------------

static const char *const type_names[] = {"f32", "bf16", "fp8", "int8", "int4"};

const char *qtype_name(QType t) { return (unsigned)t < 5 ? type_names[t] : "?"; }

int qtype_parse(const char *s, QType *t) {
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, type_names[i])) { *t = (QType)i; return 0; }
    return fail("unknown weight format '%s' (expected f32, bf16, fp8, int8 or int4)", s);
}

static inline int cdiv(int a, int b) { return (a + b - 1) / b; }

size_t qmat_data_bytes(QType t, int rows, int cols) {
    size_t n = (size_t)rows * (size_t)cols;
    switch (t) {
    case QT_F32: return n * 4;
    case QT_BF16: return n * 2;
    case QT_FP8: case QT_I8: return n;
    case QT_I4: return n / 2;
    }
    return 0;
}

size_t qmat_scale_bytes(QType t, int rows, int cols) {
    switch (t) {
    case QT_FP8: return (size_t)cdiv(rows, FP8_BLOCK) * cdiv(cols, FP8_BLOCK) * sizeof(float);
    case QT_I8: case QT_I4: return (size_t)rows * (cols / QBLOCK) * sizeof(uint16_t);
    default: return 0;
    }
}

size_t qmat_bytes(const QMatrix *m) {
    return qmat_data_bytes(m->type, m->rows, m->cols) + qmat_scale_bytes(m->type, m->rows, m->cols);
}

static int check_shape(QType t, int rows, int cols) {
    if ((unsigned)t > QT_I4) return fail("unknown weight format id %d", (int)t);
    if (rows <= 0 || cols <= 0) return fail("weight matrix shape [%d, %d] must be positive", rows, cols);
    if ((t == QT_I8 || t == QT_I4) && cols % QBLOCK)
        return fail("%s weights need the input dimension to be a multiple of %d, got [%d, %d]; use bf16 or fp8 for this matrix",
                    qtype_name(t), QBLOCK, rows, cols);
    return 0;
}

static void alloc_owned(QMatrix *m, QType t, int rows, int cols) {
    memset(m, 0, sizeof *m);
    m->type = t; m->rows = rows; m->cols = cols; m->owns = 1;
    m->data = huge_alloc(qmat_data_bytes(t, rows, cols) + 64);   // huge pages: decode streams these from DRAM
    size_t sb = qmat_scale_bytes(t, rows, cols);
    m->scale = sb ? huge_alloc(sb) : NULL;
}

int qmat_from_f32(QMatrix *m, const float *W, int rows, int cols, QType t) {
    memset(m, 0, sizeof *m);
    TRY(check_shape(t, rows, cols));
    size_t n = (size_t)rows * cols;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(W[i]))
            return fail("weight [%d, %d] has a non-finite value at row %zu, column %zu", rows, cols, i / cols, i % cols);
    alloc_owned(m, t, rows, cols);
    int nb = cols / QBLOCK;
    switch (t) {
    case QT_F32: memcpy(m->data, W, n * sizeof(float)); break;
    case QT_BF16: bf16_from_f32_row(W, m->data, n); break;
    case QT_FP8: fp8_quant_weight(W, rows, cols, m->data, m->scale, 0); break;
    case QT_I8:
        #pragma omp parallel for schedule(static)
        for (int r = 0; r < rows; r++)
            q8_quantize_row(W + (size_t)r * cols, cols, (int8_t *)m->data + (size_t)r * cols, (uint16_t *)m->scale + (size_t)r * nb);
        break;
    case QT_I4:
        #pragma omp parallel for schedule(static)
        for (int r = 0; r < rows; r++)
            q4_quantize_row(W + (size_t)r * cols, cols, (uint8_t *)m->data + (size_t)r * cols / 2, (uint16_t *)m->scale + (size_t)r * nb);
        break;
    }
    if (t == QT_I8 || t == QT_I4) {           // fp16 scales overflow above 65504·127 (int8) / 65504·8 (int4)
        const uint16_t *d = m->scale;
        for (size_t i = 0; i < (size_t)rows * nb; i++)
            if ((d[i] & 0x7c00) == 0x7c00) {
                qmat_free(m);
                return fail("weight [%d, %d]: block at row %zu, columns %zu..%zu has values too large for %s fp16 scales",
                            rows, cols, i / nb, (i % nb) * QBLOCK, (i % nb) * QBLOCK + QBLOCK - 1, qtype_name(t));
            }
    }
    return 0;
}

static int check_fp8_scales(const float *s, int rows, int cols) {
    size_t ns = (size_t)cdiv(rows, FP8_BLOCK) * cdiv(cols, FP8_BLOCK);
    for (size_t i = 0; i < ns; i++)
        if (!isfinite(s[i]))
            return fail("fp8 weight [%d, %d]: weight_scale_inv [%d, %d] has a non-finite value at [%zu, %zu]",
                        rows, cols, cdiv(rows, FP8_BLOCK), cdiv(cols, FP8_BLOCK), i / cdiv(cols, FP8_BLOCK), i % cdiv(cols, FP8_BLOCK));
    return 0;
}

int qmat_from_fp8_blocks(QMatrix *m, const uint8_t *q, const float *scale_inv, int rows, int cols) {
    memset(m, 0, sizeof *m);
    TRY(check_shape(QT_FP8, rows, cols));
    TRY(check_fp8_scales(scale_inv, rows, cols));
    alloc_owned(m, QT_FP8, rows, cols);
    memcpy(m->data, q, qmat_data_bytes(QT_FP8, rows, cols));
    memcpy(m->scale, scale_inv, qmat_scale_bytes(QT_FP8, rows, cols));
    return 0;
}

int qmat_view(QMatrix *m, QType t, int rows, int cols, const void *data, const void *scale) {
    memset(m, 0, sizeof *m);
    TRY(check_shape(t, rows, cols));
    if (!data) return fail("%s weight [%d, %d]: no data", qtype_name(t), rows, cols);
    if (qmat_scale_bytes(t, rows, cols) && !scale) return fail("%s weight [%d, %d]: scales missing", qtype_name(t), rows, cols);
    if (t == QT_FP8) TRY(check_fp8_scales(scale, rows, cols));
    m->type = t; m->rows = rows; m->cols = cols; m->owns = 0;
    m->data = (void *)data;
    m->scale = qmat_scale_bytes(t, rows, cols) ? (void *)scale : NULL;
    return 0;
}

void qmat_free(QMatrix *m) {
    if (m->owns) { huge_free(m->data); huge_free(m->scale); }   // huge_alloc'd, or malloc'd by other owners
    memset(m, 0, sizeof *m);
}

// ---- dequantization ------------------------------------------------------------------------

void qmat_dequant_row(const QMatrix *m, int r, float *out) {
    int C = m->cols, nb = C / QBLOCK;
    switch (m->type) {
    case QT_F32: memcpy(out, (const float *)m->data + (size_t)r * C, (size_t)C * sizeof(float)); break;
    case QT_BF16: bf16_to_f32_row((const uint16_t *)m->data + (size_t)r * C, out, (size_t)C); break;
    case QT_FP8: {
        int ncb = cdiv(C, FP8_BLOCK);
        const float *s = (const float *)m->scale + (size_t)(r / FP8_BLOCK) * ncb;
        const uint8_t *q = (const uint8_t *)m->data + (size_t)r * C;
        for (int cb = 0; cb < ncb; cb++) {
            int c0 = cb * FP8_BLOCK, len = C - c0 < FP8_BLOCK ? C - c0 : FP8_BLOCK;
            fp8_e4m3_decode_row(q + c0, s[cb], out + c0, (size_t)len);
        }
        break;
    }
    case QT_I8: q8_dequantize_row((const int8_t *)m->data + (size_t)r * C, (const uint16_t *)m->scale + (size_t)r * nb, C, out); break;
    case QT_I4:
        if (m->il) {
            uint8_t *q = xmalloc((size_t)C / 2 + (size_t)nb * sizeof(uint16_t));
            uint16_t *d = (uint16_t *)(q + C / 2);   // C / 2 is even: 2-byte aligned
            qmat_i4_plain_row(m, r, q, d);
            q4_dequantize_row(q, d, C, out);
            free(q);
        } else {
            q4_dequantize_row((const uint8_t *)m->data + (size_t)r * C / 2, (const uint16_t *)m->scale + (size_t)r * nb, C, out);
        }
        break;
    }
}

// ---- int4 decode layout (rows interleaved by 8) ----------------------------------------------

static int il_on = -1;                 // -1: not read from the environment yet

static int il_enabled(void) {
    if (il_on < 0) {
        const char *e = getenv("DEEPC_I4_INTERLEAVE");
        il_on = !(e && e[0] == '0');
    }
    return il_on;
}

int qmat_set_interleave(int on) { int old = il_enabled(); il_on = on != 0; return old; }
int qmat_interleave_enabled(void) { return il_enabled(); }

void qmat_i4_plain_row(const QMatrix *m, int r, uint8_t *q, uint16_t *d) {
    int C = m->cols, nb = C / QBLOCK;
    if (!m->il) {
        memcpy(q, (const uint8_t *)m->data + (size_t)r * C / 2, (size_t)C / 2);
        memcpy(d, (const uint16_t *)m->scale + (size_t)r * nb, (size_t)nb * sizeof(uint16_t));
        return;
    }
    int k = r % 8;
    const uint8_t *w = (const uint8_t *)m->data + (size_t)(r / 8) * nb * 128;     // group of 8 rows
    const uint16_t *s = (const uint16_t *)m->scale + (size_t)(r / 8) * nb * 8;
    for (int b = 0; b < nb; b++) {
        for (int c = 0; c < 4; c++) memcpy(q + (size_t)b * 16 + c * 4, w + (size_t)b * 128 + c * 32 + k * 4, 4);
        d[b] = s[(size_t)b * 8 + k];
    }
}

int qmat_interleave(QMatrix *m) {
    if (!il_enabled() || m->type != QT_I4 || m->il || m->rows % 8 || !m->data) return 0;
    int R = m->rows, C = m->cols, nb = C / QBLOCK;
    uint8_t *w = huge_alloc(qmat_data_bytes(QT_I4, R, C) + 64);
    uint16_t *sc = huge_alloc(qmat_scale_bytes(QT_I4, R, C));
    const uint8_t *q = m->data;
    const uint16_t *d = m->scale;
    #pragma omp parallel for schedule(static) if ((size_t)R * C > 65536)
    for (int g = 0; g < R / 8; g++)
        for (int b = 0; b < nb; b++)
            for (int k = 0; k < 8; k++) {
                size_t r = (size_t)g * 8 + k;
                for (int c = 0; c < 4; c++)
                    memcpy(w + ((size_t)g * nb + b) * 128 + c * 32 + k * 4, q + r * C / 2 + (size_t)b * 16 + c * 4, 4);
                sc[((size_t)g * nb + b) * 8 + k] = d[r * nb + b];
            }
    if (m->owns) { huge_free(m->data); huge_free(m->scale); }
    m->data = w; m->scale = sc; m->owns = 1; m->il = 1;
    return 1;
}

void qmat_to_f32(const QMatrix *m, float *W) {
    #pragma omp parallel for schedule(static) if ((size_t)m->rows * m->cols > 65536)
    for (int r = 0; r < m->rows; r++) qmat_dequant_row(m, r, W + (size_t)r * m->cols);
}

// ---- reference -----------------------------------------------------------------------------

void qmat_matmul_ref(const QMatrix *W, const float *x, int N, float *y) {
    int R = W->rows, C = W->cols, nb = C / QBLOCK;
    float *row = xmalloc((size_t)C * sizeof(float));
    int8_t *aq = xmalloc((size_t)C + 1);
    float *ad = xmalloc((size_t)(nb + 1) * sizeof(float));
    const float *t8 = fp8_e4m3_table();
    for (int n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * C;                      // [C]
        if (W->type == QT_I8 || W->type == QT_I4) a8_quantize_row_ref(xn, C, aq, ad);
        for (int r = 0; r < R; r++) {
            float acc = 0;
            switch (W->type) {
            case QT_F32: case QT_BF16:
                qmat_dequant_row(W, r, row);
                for (int k = 0; k < C; k++) acc += row[k] * xn[k];
                break;
            case QT_FP8: {
                int ncb = cdiv(C, FP8_BLOCK);
                const uint8_t *q = (const uint8_t *)W->data + (size_t)r * C;
                const float *s = (const float *)W->scale + (size_t)(r / FP8_BLOCK) * ncb;
                for (int cb = 0; cb < ncb; cb++) {
                    int c0 = cb * FP8_BLOCK, c1 = c0 + FP8_BLOCK < C ? c0 + FP8_BLOCK : C;
                    float p = 0;
                    for (int k = c0; k < c1; k++) p += t8[q[k]] * xn[k];
                    acc += p * s[cb];
                }
                break;
            }
            case QT_I8:
                acc = q8_dot_ref((const int8_t *)W->data + (size_t)r * C, (const uint16_t *)W->scale + (size_t)r * nb, aq, ad, C);
                break;
            case QT_I4:
                if (W->il) {
                    qmat_i4_plain_row(W, r, (uint8_t *)row, (uint16_t *)(row + C / 4));   // row [C] floats: room for both
                    acc = q4_dot_ref((const uint8_t *)row, (const uint16_t *)(row + C / 4), aq, ad, C);
                } else {
                    acc = q4_dot_ref((const uint8_t *)W->data + (size_t)r * C / 2, (const uint16_t *)W->scale + (size_t)r * nb, aq, ad, C);
                }
                break;
            }
            y[(size_t)n * R + r] = acc;
        }
    }
    free(row); free(aq); free(ad);
}

// ---- fast matvec kernels: one W row against N <= 4 rows of x --------------------------------
//
// Float formats: W decoded to FP32 in registers, FMA into 4 (N <= 2) or 2 independent accumulators per
// x row to hide FMA latency. FP8: x is pre-multiplied per 128-column block by the block's scale · 2^8
// (the decoder yields value · 2^-8), so the inner loop has no per-block work.
// int8/int4: integer products per 32-block (maddubs + madd), block scales fp16 · fp32 converted for
// 8 blocks at once and broadcast by lane; int4 nibbles are used unsigned (0..15) and the offset 8 is
// removed once per row with the per-block activation sums: Σ (n-8)·a = Σ n·a - 8·Σ a.

#if defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
#define AI static inline __attribute__((always_inline))

AI float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

enum { DEC_F32, DEC_BF16, DEC_FP8 };

// 8 weights at column k as FP32 (FP8: value · 2^-8; NaN codes not special).
AI __m256 load_w8(const void *w, int dec, int k) {
    if (dec == DEC_F32) return _mm256_loadu_ps((const float *)w + k);
    if (dec == DEC_BF16)
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + k))), 16));
    __m128i b = _mm_loadl_epi64((const __m128i *)((const uint8_t *)w + k));
    __m128i h = _mm_unpacklo_epi8(_mm_setzero_si128(), b);                 // code in the high byte
    return _mm256_cvtph_ps(_mm_and_si128(_mm_srai_epi16(h, 1), _mm_set1_epi16((short)0xbf80)));
}

// 32 E4M3 codes -> 4 x 8 floats equal to value · 2^-8 (codes 0-7, 8-15, 16-23, 24-31).
AI void fp8x32(const uint8_t *p, __m256 out[4]) {
    __m256i c = _mm256_loadu_si256((const __m256i *)p);
    const __m256i m = _mm256_set1_epi16((short)0xbf80);
    __m256i lo = _mm256_and_si256(_mm256_srai_epi16(_mm256_unpacklo_epi8(_mm256_setzero_si256(), c), 1), m);   // 0-7 | 16-23
    __m256i hi = _mm256_and_si256(_mm256_srai_epi16(_mm256_unpackhi_epi8(_mm256_setzero_si256(), c), 1), m);   // 8-15 | 24-31
    out[0] = _mm256_cvtph_ps(_mm256_castsi256_si128(lo));
    out[1] = _mm256_cvtph_ps(_mm256_castsi256_si128(hi));
    out[2] = _mm256_cvtph_ps(_mm256_extracti128_si256(lo, 1));
    out[3] = _mm256_cvtph_ps(_mm256_extracti128_si256(hi, 1));
}

AI float load_w1(const void *w, int dec, int k) {
    if (dec == DEC_F32) return ((const float *)w)[k];
    if (dec == DEC_BF16) return bf16_to_f32(((const uint16_t *)w)[k]);
    return fp8_e4m3_to_f32(((const uint8_t *)w)[k]) * 0x1p-8f;
}

// out[n] = Σ_k w[k]·x[n][k] for n < N (x rows are C apart).
AI void row_float(const void *w, size_t wstride, int RB, int dec, const float *x, int C, int N, float *out) {
    enum { U = 4 };
    const int uu = RB * N <= 2 ? 4 : 2;                 // accumulators per (W row, x row) pair
    const int esz = dec == DEC_F32 ? 4 : dec == DEC_BF16 ? 2 : 1;
    __m256 acc[SMALL_N][U];
    for (int i = 0; i < RB * N; i++) for (int u = 0; u < U; u++) acc[i][u] = _mm256_setzero_ps();
    int k = 0;
    const size_t pfb = pf_distance((size_t)pf_weights * esz, (size_t)RB * wstride * esz);   // bytes ahead per row stream
    if (dec == DEC_FP8)                                 // 32 codes per load: 4 vectors of 8 decoded weights
        for (; k + 32 <= C; k += 32) {
            if (pf_weights && !(k & 63))
                for (int j = 0; j < RB; j++) _mm_prefetch((const char *)w + j * wstride + k + pfb, _MM_HINT_T0);
            for (int j = 0; j < RB; j++) {
                __m256 wv[4];
                fp8x32(((const uint8_t *)w) + j * wstride + k, wv);
                for (int q = 0; q < 4; q++)
                    for (int n = 0; n < N; n++)
                        acc[j * N + n][q % uu] = _mm256_fmadd_ps(wv[q], _mm256_loadu_ps(x + (size_t)n * C + k + 8 * q), acc[j * N + n][q % uu]);
            }
        }
    for (; k + 8 * uu <= C; k += 8 * uu) {
        if (pf_weights && (k * esz) % 64 < 8 * uu * esz)  // once per 64 bytes of each row stream
            for (int j = 0; j < RB; j++) _mm_prefetch((const char *)w + (j * wstride + k) * esz + pfb, _MM_HINT_T0);
        for (int u = 0; u < uu; u++)
            for (int j = 0; j < RB; j++) {
                __m256 wv = load_w8((const char *)w + j * wstride * esz, dec, k + 8 * u);
                for (int n = 0; n < N; n++)
                    acc[j * N + n][u] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + (size_t)n * C + k + 8 * u), acc[j * N + n][u]);
            }
    }
    for (; k + 8 <= C; k += 8)
        for (int j = 0; j < RB; j++) {
            if (pf_weights && (k * esz) % 64 < 8 * esz) _mm_prefetch((const char *)w + (j * wstride + k) * esz + pfb, _MM_HINT_T0);
            __m256 wv = load_w8((const char *)w + j * wstride * esz, dec, k);
            for (int n = 0; n < N; n++) acc[j * N + n][0] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + (size_t)n * C + k), acc[j * N + n][0]);
        }
    for (int j = 0; j < RB; j++)
        for (int n = 0; n < N; n++) {
            __m256 t = acc[j * N + n][0];
            for (int u = 1; u < uu; u++) t = _mm256_add_ps(t, acc[j * N + n][u]);
            float s = hsum8(t);
            for (int kk = k; kk < C; kk++) s += load_w1((const char *)w + j * wstride * esz, dec, kk) * x[(size_t)n * C + kk];
            out[j * N + n] = s;
        }
}

// x [C] in the order bf16_rows_dist reads it: per 16 columns, unpacking 16 BF16 weights against zero
// (vpunpcklwd / vpunpckhwd: each BF16 becomes the FP32 with the same bits) gives columns 0-3, 8-11
// (low) and 4-7, 12-15 (high) of each 128-bit half; xp holds x in that order.
static void bf16_permute_x(const float *x, int C, float *xp) {
    static const int lo[8] = {0, 1, 2, 3, 8, 9, 10, 11}, hi[8] = {4, 5, 6, 7, 12, 13, 14, 15};
    int k = 0;
    for (; k + 16 <= C; k += 16)
        for (int i = 0; i < 8; i++) { xp[k + i] = x[k + lo[i]]; xp[k + 8 + i] = x[k + hi[i]]; }
    for (; k < C; k++) xp[k] = x[k];                   // the tail stays in column order
}

// S BF16 rows w[0..S) (anywhere in memory) against x in bf16_permute_x order, side by side: 64 bytes of each
// row per step. One core keeps more lines in flight on several distant streams than on one: the L2 streamer
// follows each 4 KB page on its own (bench/qmatmul --streams-ab). Each row has its own two accumulators and the
// same operations whatever S is, so a row's result never depends on the rows beside it.
AI void bf16_rows_dist(const uint16_t *const *w, int S, const float *xp, int C, float *out) {
    const __m256i z = _mm256_setzero_si256();
    __m256 a[MV_STREAMS_MAX][2];
    for (int s = 0; s < S; s++) a[s][0] = a[s][1] = _mm256_setzero_ps();
    int k = 0;
    // software prefetch pf_weights / 2 weights (4 KB) ahead in each stream: in the model's decode (bench/infer
    // --tg-ab, paired) 1.14x / 1.16x none at 1 / 2 threads, 8 KB ahead 0.97x (one stream: 0.95x, so none then)
    const size_t pfe = (size_t)pf_weights / 2;
    for (; k + 32 <= C; k += 32)
        for (int s = 0; s < S; s++) {
            if (pfe) _mm_prefetch((const char *)(w[s] + k + pfe), _MM_HINT_T0);
            __m256i v = _mm256_loadu_si256((const __m256i *)(w[s] + k)), u = _mm256_loadu_si256((const __m256i *)(w[s] + k + 16));
            a[s][0] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(z, v)), _mm256_loadu_ps(xp + k), a[s][0]);
            a[s][1] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(z, v)), _mm256_loadu_ps(xp + k + 8), a[s][1]);
            a[s][0] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(z, u)), _mm256_loadu_ps(xp + k + 16), a[s][0]);
            a[s][1] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(z, u)), _mm256_loadu_ps(xp + k + 24), a[s][1]);
        }
    for (; k + 16 <= C; k += 16)
        for (int s = 0; s < S; s++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(w[s] + k));
            a[s][0] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(z, v)), _mm256_loadu_ps(xp + k), a[s][0]);
            a[s][1] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(z, v)), _mm256_loadu_ps(xp + k + 8), a[s][1]);
        }
    for (int s = 0; s < S; s++) {
        float t = hsum8(_mm256_add_ps(a[s][0], a[s][1]));
        for (int kk = k; kk < C; kk++) t += bf16_to_f32(w[s][kk]) * xp[kk];
        out[s] = t;
    }
}

// S FP8 rows w[s] against x pre-scaled for each row's 128-row block (xs[s], fp8_prescale), side by side: S distant
// streams (see bf16_rows_dist). Each row's arithmetic is row_float's with RB = N = 1 and DEC_FP8 (four accumulators,
// 32 codes per step, then 8, then single columns), so the results are equal bit for bit.
AI void fp8_rows_dist(const uint8_t *const *w, const float *const *xs, int S, int C, float *out) {
    const size_t pfb = pf_distance((size_t)pf_weights, (size_t)C);   // bytes ahead in each stream
    __m256 acc[MV_STREAMS_MAX][4];
    for (int s = 0; s < S; s++) for (int u = 0; u < 4; u++) acc[s][u] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 32 <= C; k += 32)
        for (int s = 0; s < S; s++) {
            if (pf_weights && !(k & 63)) _mm_prefetch((const char *)w[s] + k + pfb, _MM_HINT_T0);
            __m256 wv[4];
            fp8x32(w[s] + k, wv);
            for (int q = 0; q < 4; q++) acc[s][q] = _mm256_fmadd_ps(wv[q], _mm256_loadu_ps(xs[s] + k + 8 * q), acc[s][q]);
        }
    for (; k + 8 <= C; k += 8)
        for (int s = 0; s < S; s++) {
            if (pf_weights && k % 64 < 8) _mm_prefetch((const char *)w[s] + k + pfb, _MM_HINT_T0);
            acc[s][0] = _mm256_fmadd_ps(load_w8(w[s], DEC_FP8, k), _mm256_loadu_ps(xs[s] + k), acc[s][0]);
        }
    for (int s = 0; s < S; s++) {
        __m256 t = acc[s][0];
        for (int u = 1; u < 4; u++) t = _mm256_add_ps(t, acc[s][u]);
        float v = hsum8(t);
        for (int kk = k; kk < C; kk++) v += load_w1(w[s], DEC_FP8, kk) * xs[s][kk];
        out[s] = v;
    }
}

typedef struct {          // per-call activation data shared by all rows
    const float *x;       // [N, C]
    const int8_t *aq;     // [N, C]   A8 codes (int8/int4)
    const float *ad;      // [N, nb]  A8 scales
    const float *asum;    // [N, nb]  A8 block sums (int4)
    const int8_t *aq4;    // [N, C]   A8 codes in block-pair order (int4)
    const float *xp;      // [C]      x (N = 1) in the lane order of bf16_rows_dist (bf16, one row at a time)
    const float *adp;     // [N, nb]  A8 scales, each whole group of 8 blocks in the order 0 2 4 6 1 3 5 7 (row_i4n)
    const int32_t *s8p;   // [N, nb]  8 · block sums of the codes, same order (int4: the nibble offset, row_i4n)
} Acts;

// Integer products of block b (int8: signed; int4: unsigned nibbles) with x row n, as 8 FP32 lanes.
AI __m256i load_wblock(const void *wqv, int is4, int b) {
    if (is4) {
        __m128i raw = _mm_loadu_si128((const __m128i *)((const uint8_t *)wqv + (size_t)b * 16));
        return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(15));   // 0..15
    }
    return _mm256_loadu_si256((const __m256i *)((const int8_t *)wqv + (size_t)b * QBLOCK));
}

AI __m256 block_dot(__m256i wv, int is4, const int8_t *a8) {
    __m256i a = _mm256_loadu_si256((const __m256i *)a8);
    __m256i p16 = is4 ? _mm256_maddubs_epi16(wv, a) : _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(a, wv));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

// int8 (is4 = 0) or int4 (is4 = 1) row against N A8 rows: aq [N, C], ad [N, nb]; int4 also asum [N, nb] and
// aq4 [N, C], the codes of each block pair (b, b+1) reordered as b[0:16] b+1[0:16] b[16:32] b+1[16:32].
AI void row_int(const void *wqv, size_t wq_stride, const uint16_t *wd, size_t wd_stride, int RB, int is4,
                const int8_t *aq, const int8_t *aq4, const float *ad, const float *asum, int C, int N, float *out) {
    int nb = C / QBLOCK, b = 0;
    const size_t pfb = pf_distance((size_t)(is4 ? pf_weights / 2 : pf_weights), (size_t)RB * wq_stride);   // bytes ahead
    __m256 acc0[SMALL_N], acc1[SMALL_N], corr[SMALL_N];
    for (int i = 0; i < RB * N; i++) acc0[i] = acc1[i] = corr[i] = _mm256_setzero_ps();
    for (; b + 8 <= nb; b += 8) {                       // 8 blocks: scales as one vector, lanes broadcast
        __m256 sv[SMALL_N];
        for (int j = 0; j < RB; j++) {
            __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wd + j * wd_stride + b)));
            for (int n = 0; n < N; n++) {
                sv[j * N + n] = _mm256_mul_ps(dw, _mm256_loadu_ps(ad + (size_t)n * nb + b));
                if (is4) corr[j * N + n] = _mm256_fmadd_ps(sv[j * N + n], _mm256_loadu_ps(asum + (size_t)n * nb + b), corr[j * N + n]);
            }
        }
        if (is4) {                                      // two blocks per 32-byte load, activations in pair order
            // pair products P_k = [b_2k x4 partial sums | b_2k+1 x4]; three hadds give all 8 block sums in the
            // order 0 2 4 6 | 1 3 5 7, matched by one permute of the scales
            const __m256i oddeven = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
            for (int j = 0; j < RB; j++) {
                __m256i P[4][SMALL_N];
                for (int jb = 0; jb < 8; jb += 2) {
                    if (pf_weights && !(jb & 2))        // once per 64 bytes, spread over the loop (a burst of
                                                        // prefetches at the loop top measured 7-35 % slower)
                        _mm_prefetch((const char *)wqv + j * wq_stride + (size_t)(b + jb) * 16 + pfb, _MM_HINT_T0);
                    __m256i raw = _mm256_loadu_si256((const __m256i *)((const uint8_t *)wqv + j * wq_stride + (size_t)(b + jb) * 16));
                    __m256i lo = _mm256_and_si256(raw, _mm256_set1_epi8(15));
                    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), _mm256_set1_epi8(15));
                    for (int n = 0; n < N; n++) {
                        const int8_t *an = aq4 + (size_t)n * C + (size_t)(b + jb) * QBLOCK;
                        __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)an)),
                                                       _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(an + 32))));
                        P[jb / 2][n] = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
                    }
                }
                for (int n = 0; n < N; n++) {
                    int i = j * N + n;
                    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(P[0][n], P[1][n]), _mm256_hadd_epi32(P[2][n], P[3][n]));
                    __m256 sc = _mm256_permutevar8x32_ps(sv[i], oddeven);
                    if (j & 1) acc1[i] = _mm256_fmadd_ps(sc, _mm256_cvtepi32_ps(h), acc1[i]);
                    else acc0[i] = _mm256_fmadd_ps(sc, _mm256_cvtepi32_ps(h), acc0[i]);
                }
            }
            continue;
        }
        float sc[SMALL_N][8];                           // scales in memory: broadcast loads use no ALU port
        for (int i = 0; i < RB * N; i++) _mm256_storeu_ps(sc[i], sv[i]);
        for (int jb = 0; jb < 8; jb += 2) {
            for (int j = 0; j < RB; j++) {
                const char *wj = (const char *)wqv + j * wq_stride;
                if (pf_weights) _mm_prefetch(wj + (size_t)(b + jb) * 32 + pfb, _MM_HINT_T0);   // 64 bytes per row per step
                __m256i w0 = load_wblock(wj, 0, b + jb), w1 = load_wblock(wj, 0, b + jb + 1);
                for (int n = 0; n < N; n++) {
                    const int8_t *an = aq + (size_t)n * C + (size_t)(b + jb) * QBLOCK;
                    int i = j * N + n;
                    acc0[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(&sc[i][jb]), block_dot(w0, 0, an), acc0[i]);
                    acc1[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(&sc[i][jb + 1]), block_dot(w1, 0, an + QBLOCK), acc1[i]);
                }
            }
        }
    }
    float tail_corr[SMALL_N] = {0};
    if (is4)                                            // leftover block pairs (e.g. C = 704: 22 blocks)
        for (; b + 2 <= nb; b += 2)
            for (int j = 0; j < RB; j++) {
                if (pf_weights) _mm_prefetch((const char *)wqv + j * wq_stride + (size_t)b * 16 + pfb, _MM_HINT_T0);
                __m256i raw = _mm256_loadu_si256((const __m256i *)((const uint8_t *)wqv + j * wq_stride + (size_t)b * 16));
                __m256i lo = _mm256_and_si256(raw, _mm256_set1_epi8(15));
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), _mm256_set1_epi8(15));
                float d0 = _cvtsh_ss(wd[j * wd_stride + b]), d1 = _cvtsh_ss(wd[j * wd_stride + b + 1]);
                for (int n = 0; n < N; n++) {
                    const int8_t *an = aq4 + (size_t)n * C + (size_t)b * QBLOCK;
                    __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)an)),
                                                   _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(an + 32))));
                    float s0 = d0 * ad[(size_t)n * nb + b], s1 = d1 * ad[(size_t)n * nb + b + 1];
                    int i = j * N + n;
                    tail_corr[i] += s0 * asum[(size_t)n * nb + b] + s1 * asum[(size_t)n * nb + b + 1];
                    __m256 sc = _mm256_set_m128(_mm_set1_ps(s1), _mm_set1_ps(s0));
                    acc0[i] = _mm256_fmadd_ps(sc, _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1))), acc0[i]);
                }
            }
    for (; b < nb; b++)                                 // leftover blocks, scales one by one
        for (int j = 0; j < RB; j++) {
            if (pf_weights)                             // (the prefetch stream must cover whole rows)
                _mm_prefetch((const char *)wqv + j * wq_stride + (size_t)b * (is4 ? 16 : 32) + pfb, _MM_HINT_T0);
            __m256i wv = load_wblock((const char *)wqv + j * wq_stride, is4, b);
            for (int n = 0; n < N; n++) {
                float s1 = _cvtsh_ss(wd[j * wd_stride + b]) * ad[(size_t)n * nb + b];
                if (is4) tail_corr[j * N + n] += s1 * asum[(size_t)n * nb + b];
                acc0[j * N + n] = _mm256_fmadd_ps(_mm256_set1_ps(s1), block_dot(wv, is4, aq + (size_t)n * C + (size_t)b * QBLOCK),
                                                  acc0[j * N + n]);
            }
        }
    for (int i = 0; i < RB * N; i++) {
        float s = hsum8(_mm256_add_ps(acc0[i], acc1[i]));
        if (is4) s -= 8.0f * (hsum8(corr[i]) + tail_corr[i]);
        out[i] = s;
    }
}


// row_int on S int8 rows anywhere in the matrices (w[s]: a row's C codes, wd[s]: its nb scales) against one x row,
// side by side: S distant streams (see bf16_rows_dist). Each row's arithmetic is row_int's with RB = N = 1, so the
// results are equal bit for bit.
AI void row_i8_dist(const int8_t *const *w, const uint16_t *const *wd, int S, const Acts *A, int C, float *out) {
    int nb = C / QBLOCK, b = 0;
    const size_t pfb = pf_distance((size_t)pf_weights, (size_t)C);   // bytes ahead in each stream
    __m256 acc0[MV_STREAMS_MAX], acc1[MV_STREAMS_MAX];
    for (int s = 0; s < S; s++) acc0[s] = acc1[s] = _mm256_setzero_ps();
    for (; b + 8 <= nb; b += 8) {
        float sc[MV_STREAMS_MAX][8];                    // scales in memory: broadcast loads use no ALU port
        __m256 adv = _mm256_loadu_ps(A->ad + b);
        for (int s = 0; s < S; s++)
            _mm256_storeu_ps(sc[s], _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wd[s] + b))), adv));
        for (int jb = 0; jb < 8; jb += 2) {
            const int8_t *an = A->aq + (size_t)(b + jb) * QBLOCK;
            for (int s = 0; s < S; s++) {
                if (pf_weights) _mm_prefetch((const char *)w[s] + (size_t)(b + jb) * 32 + pfb, _MM_HINT_T0);
                __m256i w0 = load_wblock(w[s], 0, b + jb), w1 = load_wblock(w[s], 0, b + jb + 1);
                acc0[s] = _mm256_fmadd_ps(_mm256_broadcast_ss(&sc[s][jb]), block_dot(w0, 0, an), acc0[s]);
                acc1[s] = _mm256_fmadd_ps(_mm256_broadcast_ss(&sc[s][jb + 1]), block_dot(w1, 0, an + QBLOCK), acc1[s]);
            }
        }
    }
    for (; b < nb; b++)                                 // leftover blocks, scales one by one
        for (int s = 0; s < S; s++) {
            if (pf_weights) _mm_prefetch((const char *)w[s] + (size_t)b * 32 + pfb, _MM_HINT_T0);
            __m256i wv = load_wblock(w[s], 0, b);
            float s1 = _cvtsh_ss(wd[s][b]) * A->ad[b];
            acc0[s] = _mm256_fmadd_ps(_mm256_set1_ps(s1), block_dot(wv, 0, A->aq + (size_t)b * QBLOCK), acc0[s]);
        }
    for (int s = 0; s < S; s++) out[s] = hsum8(_mm256_add_ps(acc0[s], acc1[s]));
}

// ---- int8 / int4 against 2-4 x rows (MTP verify, batched decode of 2-4 sequences, prefill tails) ------------
//
// At N = 2-4 the integer kernels are issue-bound (W in cache or not), so these count instructions per
// 256 weights and (W row, x row) pair. row_i4n: each 32-byte load holds blocks b, b+1; their int16 products
// (lo and hi nibbles added, as in row_int) are summed across blocks b..b+7 with unpacks and 16-bit adds
// instead of `madd` + three `vphaddd` (4 uops each on Zen 3), one `madd` at the end; the nibble offset
// (Σ (q-8)·a = Σ q·a - 8·Σ a) is subtracted in int32 from a per-call table, so there is no correction
// accumulator and no second horizontal sum. Bounds (int16, exact): a code |a| <= 127, nibble q <= 15; one
// vpmaddubsw lane |q0·a0 + q1·a1| <= 2·15·127 = 3810, lo + hi 7620, after the first unpack-add 15240, after
// the second 30480 < 32767. The int32 result |Σ (q-8)·a| <= 32·8·127 = 32512 is exact in FP32.

// 8·Σ codes per block and the A8 scales, whole 8-block groups in the order 0 2 4 6 1 3 5 7 (row_i4n's lanes),
// leftover blocks in place: adp [nb], s8p [nb] for one x row.
static void acts_pair_order(const int8_t *aq, const float *ad, int C, float *adp, int32_t *s8p) {
    static const int ord[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    int nb = C / QBLOCK;
    for (int b = 0; b < nb; b++) {
        int src = b < (nb & ~7) ? (b & ~7) + ord[b & 7] : b, sm = 0;
        for (int i = 0; i < QBLOCK; i++) sm += aq[(size_t)src * QBLOCK + i];
        adp[b] = ad[src];
        s8p[b] = 8 * sm;
    }
}

// int4: RB W rows (wq [RB, C/2] nibbles wq_stride apart, wd [RB, nb] fp16 scales) against N x rows; out [RB·N]
// (row-major: out[j·N + n]). RB·N <= 8.
AI void row_i4n(const uint8_t *wq, size_t wq_stride, const uint16_t *wd, size_t wd_stride, int RB, const Acts *A, int C,
                int N, float *out) {
    int nb = C / QBLOCK, b = 0;
    const size_t pfb = pf_distance((size_t)pf_weights / 2, (size_t)RB * wq_stride);   // bytes ahead per row stream
    const __m256i m15 = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);
    const __m256i oddeven = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    __m256 acc[8];                                      // [RB·N]
    for (int i = 0; i < RB * N; i++) acc[i] = _mm256_setzero_ps();
    for (; b + 8 <= nb; b += 8)
        _Pragma("GCC unroll 4") for (int j = 0; j < RB; j++) {
            const uint8_t *w = wq + j * wq_stride + (size_t)b * 16;   // 128 bytes: blocks b .. b+7
            const int8_t *aq4 = A->aq4;                 // opaque per W row: GCC would otherwise keep the activation
            const float *adp = A->adp;                  // vectors of row 0 for rows 1.. (spilling them, and the
            const int32_t *s8p = A->s8p;                // accumulators, to the stack)
            __asm__("" : "+r"(aq4), "+r"(adp), "+r"(s8p));
            __m256 dw = _mm256_permutevar8x32_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wd + j * wd_stride + b))), oddeven);
            __m256i t0[4];                              // [N] blocks b..b+3 after the first unpack-add
            _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
                if (pf_weights) _mm_prefetch((const char *)w + 64 * h + pfb, _MM_HINT_T0);
                __m256i r0 = _mm256_loadu_si256((const __m256i *)(w + 64 * h)), r1 = _mm256_loadu_si256((const __m256i *)(w + 64 * h + 32));
                __m256i lo0 = _mm256_and_si256(r0, m15), hi0 = _mm256_and_si256(_mm256_srli_epi16(r0, 4), m15);
                __m256i lo1 = _mm256_and_si256(r1, m15), hi1 = _mm256_and_si256(_mm256_srli_epi16(r1, 4), m15);
                _Pragma("GCC unroll 4") for (int n = 0; n < N; n++) {
                    const int8_t *an = aq4 + (size_t)n * C + (size_t)(b + 4 * h) * QBLOCK;
                    // P0 = [block b+4h | b+4h+1], P1 = [b+4h+2 | b+4h+3], 8 int16 partial sums per block
                    __m256i P0 = _mm256_add_epi16(_mm256_maddubs_epi16(lo0, _mm256_loadu_si256((const __m256i *)an)),
                                                  _mm256_maddubs_epi16(hi0, _mm256_loadu_si256((const __m256i *)(an + 32))));
                    __m256i P1 = _mm256_add_epi16(_mm256_maddubs_epi16(lo1, _mm256_loadu_si256((const __m256i *)(an + 64))),
                                                  _mm256_maddubs_epi16(hi1, _mm256_loadu_si256((const __m256i *)(an + 96))));
                    // per 128-bit half, 32-bit items: [P0 0+2, P1 0+2, P0 1+3, P1 1+3] (item k = int16 lanes 2k, 2k+1)
                    __m256i T = _mm256_add_epi16(_mm256_unpacklo_epi32(P0, P1), _mm256_unpackhi_epi32(P0, P1));
                    if (!h) { t0[n] = T; continue; }
                    // [b, b+2, b+4, b+6 | b+1, b+3, b+5, b+7], each two int16 halves of its sum; madd joins them
                    __m256i U = _mm256_add_epi16(_mm256_unpacklo_epi64(t0[n], T), _mm256_unpackhi_epi64(t0[n], T));
                    __m256i blk = _mm256_sub_epi32(_mm256_madd_epi16(U, ones), _mm256_loadu_si256((const __m256i *)(s8p + (size_t)n * nb + b)));
                    __m256 sc = _mm256_mul_ps(dw, _mm256_loadu_ps(adp + (size_t)n * nb + b));
                    acc[j * N + n] = _mm256_fmadd_ps(sc, _mm256_cvtepi32_ps(blk), acc[j * N + n]);
                }
            }
        }
    if (b + 4 <= nb) {                                  // a leftover quad (C = 704: 22 blocks, 1408: 44) as above, one
        // unpack-add level: lanes [b, b+2, b, b+2 | b+1, b+3, b+1, b+3], each block's sum in two lanes, so the
        // offset 8·Σa is taken off as 4·Σa per lane; scales, offsets (natural order here) permuted alike
        const __m256i q = _mm256_setr_epi32(0, 2, 0, 2, 1, 3, 1, 3);
        for (int j = 0; j < RB; j++) {
            const uint8_t *w = wq + j * wq_stride + (size_t)b * 16;
            if (pf_weights) _mm_prefetch((const char *)w + pfb, _MM_HINT_T0);
            __m256 dw = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(wd + j * wd_stride + b)))), q);
            __m256i r0 = _mm256_loadu_si256((const __m256i *)w), r1 = _mm256_loadu_si256((const __m256i *)(w + 32));
            __m256i lo0 = _mm256_and_si256(r0, m15), hi0 = _mm256_and_si256(_mm256_srli_epi16(r0, 4), m15);
            __m256i lo1 = _mm256_and_si256(r1, m15), hi1 = _mm256_and_si256(_mm256_srli_epi16(r1, 4), m15);
            for (int n = 0; n < N; n++) {
                const int8_t *an = A->aq4 + (size_t)n * C + (size_t)b * QBLOCK;
                __m256i P0 = _mm256_add_epi16(_mm256_maddubs_epi16(lo0, _mm256_loadu_si256((const __m256i *)an)),
                                              _mm256_maddubs_epi16(hi0, _mm256_loadu_si256((const __m256i *)(an + 32))));
                __m256i P1 = _mm256_add_epi16(_mm256_maddubs_epi16(lo1, _mm256_loadu_si256((const __m256i *)(an + 64))),
                                              _mm256_maddubs_epi16(hi1, _mm256_loadu_si256((const __m256i *)(an + 96))));
                __m256i T = _mm256_add_epi16(_mm256_unpacklo_epi32(P0, P1), _mm256_unpackhi_epi32(P0, P1));
                __m256i off = _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(A->s8p + (size_t)n * nb + b)));
                off = _mm256_srai_epi32(_mm256_permutevar8x32_epi32(off, q), 1);
                __m256 ad = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(A->adp + (size_t)n * nb + b)), q);
                __m256i blk = _mm256_sub_epi32(_mm256_madd_epi16(T, ones), off);
                acc[j * N + n] = _mm256_fmadd_ps(_mm256_mul_ps(dw, ad), _mm256_cvtepi32_ps(blk), acc[j * N + n]);
            }
        }
        b += 4;
    }
    float tail[8] = {0};                                // [RB·N] offsets of the leftover blocks
    for (; b + 2 <= nb; b += 2)                         // leftover block pairs: [b | b+1] lanes, scales by half
        for (int j = 0; j < RB; j++) {
            if (pf_weights && !(b & 3)) _mm_prefetch((const char *)wq + j * wq_stride + (size_t)b * 16 + pfb, _MM_HINT_T0);
            __m256i raw = _mm256_loadu_si256((const __m256i *)(wq + j * wq_stride + (size_t)b * 16));
            __m256i lo = _mm256_and_si256(raw, m15), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m15);
            float d0 = _cvtsh_ss(wd[j * wd_stride + b]), d1 = _cvtsh_ss(wd[j * wd_stride + b + 1]);
            for (int n = 0; n < N; n++) {
                const int8_t *an = A->aq4 + (size_t)n * C + (size_t)b * QBLOCK;
                __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)an)),
                                               _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(an + 32))));
                float s0 = d0 * A->adp[(size_t)n * nb + b], s1 = d1 * A->adp[(size_t)n * nb + b + 1];
                int i = j * N + n;
                tail[i] -= s0 * (float)A->s8p[(size_t)n * nb + b] + s1 * (float)A->s8p[(size_t)n * nb + b + 1];
                acc[i] = _mm256_fmadd_ps(_mm256_set_m128(_mm_set1_ps(s1), _mm_set1_ps(s0)),
                                         _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones)), acc[i]);
            }
        }
    for (; b < nb; b++)                                 // an odd last block
        for (int j = 0; j < RB; j++) {
            if (pf_weights && !(b & 3)) _mm_prefetch((const char *)wq + j * wq_stride + (size_t)b * 16 + pfb, _MM_HINT_T0);
            __m256i wv = load_wblock(wq + j * wq_stride, 1, b);
            for (int n = 0; n < N; n++) {
                __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(wv, _mm256_loadu_si256((const __m256i *)(A->aq + (size_t)n * C + (size_t)b * QBLOCK))), ones);
                float s = _cvtsh_ss(wd[j * wd_stride + b]) * A->adp[(size_t)n * nb + b];
                tail[j * N + n] -= s * (float)A->s8p[(size_t)n * nb + b];
                acc[j * N + n] = _mm256_fmadd_ps(_mm256_set1_ps(s), _mm256_cvtepi32_ps(p), acc[j * N + n]);
            }
        }
    for (int i = 0; i < RB * N; i++) out[i] = hsum8(acc[i]) + tail[i];
}

// RB W rows from r against N (<= 4, compile-time after inlining) x rows; out [RB·N]. xs: FP8 pre-scaled x.
AI void row_any(const QMatrix *W, int r, int RB, const Acts *A, const float *xs, int N, float *out) {
    int C = W->cols, nb = C / QBLOCK;
    switch (W->type) {
    case QT_F32: row_float((const float *)W->data + (size_t)r * C, (size_t)C, RB, DEC_F32, A->x, C, N, out); break;
    case QT_BF16: row_float((const uint16_t *)W->data + (size_t)r * C, (size_t)C, RB, DEC_BF16, A->x, C, N, out); break;
    case QT_FP8: row_float((const uint8_t *)W->data + (size_t)r * C, (size_t)C, RB, DEC_FP8, xs, C, N, out); break;
    case QT_I8:
        row_int((const int8_t *)W->data + (size_t)r * C, (size_t)C, (const uint16_t *)W->scale + (size_t)r * nb, (size_t)nb, RB, 0,
                A->aq, NULL, A->ad, NULL, C, N, out);
        break;
    case QT_I4:
        if (N >= 2 && smalln_variant && A->adp) {
            row_i4n((const uint8_t *)W->data + (size_t)r * C / 2, (size_t)C / 2, (const uint16_t *)W->scale + (size_t)r * nb, (size_t)nb,
                    RB, A, C, N, out);
            break;
        }
        row_int((const uint8_t *)W->data + (size_t)r * C / 2, (size_t)C / 2, (const uint16_t *)W->scale + (size_t)r * nb, (size_t)nb,
                RB, 1, A->aq, A->aq4, A->ad, A->asum, C, N, out);
        break;
    }
}

// ---- int4 in the decode layout (qmat_interleave): 8 W rows in the 8 lanes --------------------------------
//
// Chunk c of block b holds bytes 4c..4c+3 of the 8 rows' blocks: the low nibbles are columns 32b+4c..+3, the high
// ones 32b+16+4c..+3, so one vpmaddubsw against those 4 activation codes broadcast gives each row's products in
// its own lane. Per 256 weights: 4 loads, 12 nibble ops, 8 vpmaddubsw and 8 adds per x row, then one madd, the
// nibble offset and one FMA, where the plain layout needs 3 vphaddd per row and block group and a horizontal sum
// per row. Bounds (int16, exact): a vpmaddubsw lane |q0·a0 + q1·a1| <= 2·15·127 = 3810, 8 of them (4 chunks, low
// and high) 30480 < 32767. Offset: Σ (q-8)·a = Σ q·a - 8·Σ a with Σ a the block's code sum (A->asum, exact), and
// both terms are integers below 2^24, so the subtraction in FP32 is exact. Each x row's arithmetic is the same for
// any N, so batched and single results are equal bit for bit.
AI __m256i bcast4(const int8_t *p) { return _mm256_castps_si256(_mm256_broadcast_ss((const float *)p)); }

// S groups of 8 rows anywhere in the matrices (w[s]: a group's nb·128 bytes, sc[s]: its nb·8 scales) against N x rows,
// side by side; S·N <= 8. S = 1: one group, N = 1-4 (row_x8); N = 1: S distant streams (see bf16_rows_dist). Each
// (group, x row) pair has the same arithmetic whatever S and N. out [S][N][8].
AI void row_x8_groups(const uint8_t *const *w, const uint16_t *const *sc, int S, const Acts *A, int C, int N, float *out) {
    int nb = C / QBLOCK;
    const size_t pfb = (size_t)pf_weights / 2;         // bytes ahead in each group's stream
    const __m256i m15 = _mm256_set1_epi8(15), one = _mm256_set1_epi16(1);
    const __m256 eight = _mm256_set1_ps(8.0f);
    __m256 acc[MV_STREAMS_MAX];                         // [S·N]
    for (int i = 0; i < S * N; i++) acc[i] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++)
        for (int s = 0; s < S; s++) {
            const uint8_t *wb = w[s] + (size_t)b * 128;
            if (pfb) { _mm_prefetch((const char *)wb + pfb, _MM_HINT_T0); _mm_prefetch((const char *)wb + pfb + 64, _MM_HINT_T0); }
            __m256i s16[SMALL_N];
            for (int n = 0; n < N; n++) s16[n] = _mm256_setzero_si256();
            for (int c = 0; c < 4; c++) {
                __m256i raw = _mm256_loadu_si256((const __m256i *)(wb + c * 32));   // mapped files: any alignment
                __m256i lo = _mm256_and_si256(raw, m15), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m15);
                for (int n = 0; n < N; n++) {
                    const int8_t *a = A->aq + (size_t)n * C + (size_t)b * QBLOCK + 4 * c;
                    s16[n] = _mm256_add_epi16(s16[n], _mm256_add_epi16(_mm256_maddubs_epi16(lo, bcast4(a)),
                                                                       _mm256_maddubs_epi16(hi, bcast4(a + 16))));
                }
            }
            __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(sc[s] + (size_t)b * 8)));
            for (int n = 0; n < N; n++) {
                __m256 v = _mm256_cvtepi32_ps(_mm256_madd_epi16(s16[n], one));
                v = _mm256_fnmadd_ps(eight, _mm256_broadcast_ss(A->asum + (size_t)n * nb + b), v);
                acc[s * N + n] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_broadcast_ss(A->ad + (size_t)n * nb + b)), v, acc[s * N + n]);
            }
        }
    for (int i = 0; i < S * N; i++) _mm256_storeu_ps(out + i * 8, acc[i]);
}

AI void row_x8(const QMatrix *W, int g, const Acts *A, int N, float *out) {   // out [N][8]: rows 8g..8g+7
    int nb = W->cols / QBLOCK;
    const uint8_t *w = (const uint8_t *)W->data + (size_t)g * nb * 128;
    const uint16_t *sc = (const uint16_t *)W->scale + (size_t)g * nb * 8;
    row_x8_groups(&w, &sc, 1, A, W->cols, N, out);
}

// FP8: xs [N, C] = x · scale[rb, c/128] · 2^8 for the 128-row block rb.
static void fp8_prescale(const QMatrix *W, int rb, const float *x, int N, float *xs) {
    int C = W->cols, ncb = cdiv(C, FP8_BLOCK);
    const float *s = (const float *)W->scale + (size_t)rb * ncb;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) xs[(size_t)n * C + c] = x[(size_t)n * C + c] * (s[c / FP8_BLOCK] * 256.0f);
}

// W rows per group of the int4 small-N kernel for N = 2-4 x rows of C columns. From DRAM (bench/qmatmul --smalln-ab
// --dram, paired, 2026-11-30) one row at a time wins for long rows as at N = 1 — one sequential stream: N = 2 with
// C >= 1024 1.11-1.43x the 4-row groups, N = 3 / 4 with C = 2048 1.13-1.18x / 1.02-1.07x 2-row groups —, and loses
// for short ones (C = 512: 0.73x / 0.82x); in cache 4 rows at N = 2 are 1.09x 2 rows, 2 rows at N = 3 / 4 1.09x /
// 1.14x 1 row. Variants (qmat_set_smalln, benchmarks): 1 this rule, 2 always 4 / 2 / 2 rows, 3 2 / 1 / 1 (row_int's
// grouping), 4 always one row.
static int smalln_rows(int N, int C) {
    static const int fixed[5][5] = {{1, 1, 2, 1, 1}, {1, 1, 4, 2, 2}, {1, 1, 4, 2, 2}, {1, 1, 2, 1, 1}, {1, 1, 1, 1, 1}};
    int v = smalln_variant > 4 ? 1 : smalln_variant;
    if (v == 1 && C >= (N == 2 ? 1024 : 2048)) return 1;
    return fixed[v][N];
}

// rb (2 or 4) int4 W rows from r against N (2-4) x rows: o [rb·N]; rb·N <= 8.
static void row_smalln(const QMatrix *W, int r, int rb, const Acts *A, int N, float *o) {
    int C = W->cols, nb = C / QBLOCK;
    const uint16_t *wd = (const uint16_t *)W->scale + (size_t)r * nb;
    const uint8_t *wq = (const uint8_t *)W->data + (size_t)r * C / 2;
    switch (rb * 8 + N) {
    case 2 * 8 + 2: row_i4n(wq, (size_t)C / 2, wd, (size_t)nb, 2, A, C, 2, o); break;
    case 2 * 8 + 3: row_i4n(wq, (size_t)C / 2, wd, (size_t)nb, 2, A, C, 3, o); break;
    case 2 * 8 + 4: row_i4n(wq, (size_t)C / 2, wd, (size_t)nb, 2, A, C, 4, o); break;
    default: row_i4n(wq, (size_t)C / 2, wd, (size_t)nb, 4, A, C, 2, o); break;
    }
}

// One matvec_multi call: its matrices, activations, and the row groups of each matrix.
typedef struct {
    const QMatrix *const *Ws;
    int nw, N, C, any_fp8;
    const Acts *A;
    float *const *ys;
    const float *xp;                                   // bf16 one row at a time: x in the kernel's lane order, or NULL
    int rbm[MULTI_MAX];                                // W rows per group, per matrix
    int gstart[MULTI_MAX + 1];                         // first row group of matrix i
    int streams;                                       // >= 2: at N = 1 every matrix bf16 one row at a time, or
                                                       // every one fp8, int8, or int4 in the decode layout:
                                                       // read as this many distant streams per thread
} MvJob;

// Thread id's share of the row groups cut into S parts, one group of each part at a time: bf16 rows
// (bf16_rows_dist), fp8 rows (fp8_rows_dist, each part with x pre-scaled for its current 128-row block), int8 rows
// (row_i8_dist) or int4 decode-layout groups of 8 rows (row_x8_groups). A group's result
// is the same whichever part or thread reads it.
#define DIST_CASES(call) switch (m) {   /* constant S so the kernels unroll */ \
    case 8: call(8); break; case 7: call(7); break; case 6: call(6); break; case 5: call(5); break; \
    case 4: call(4); break; case 3: call(3); break; case 2: call(2); break; default: call(1); break; }
static void matvec_job_streams(const MvJob *J, int g0, int g1) {
    int S = J->streams, C = J->C, L = cdiv(g1 - g0, S), il = J->Ws[0]->il;
    QType t = J->Ws[0]->type;                          // every matrix of the call has this format (matvec_multi)
    size_t gbytes = qmat_data_bytes(t, il ? 8 : 1, C), gscales = (size_t)(il ? 8 : 1) * (C / QBLOCK);   // per group
    static _Thread_local Scratch xs_s;                 // FP8: x pre-scaled for each part's current 128-row block
    float *xs = t == QT_FP8 ? scratch_get(&xs_s, (size_t)S * C * sizeof(float)) : NULL;   // [S, C]
    int xs_key[MV_STREAMS_MAX];                        // matrix · 2^20 + row block of xs[s], -1: none yet
    for (int s = 0; s < S; s++) xs_key[s] = -1;
    for (int i = 0; i < L; i++) {
        const uint8_t *w[MV_STREAMS_MAX];
        const uint16_t *sc[MV_STREAMS_MAX];
        float *y[MV_STREAMS_MAX], o[MV_STREAMS_MAX * 8];
        const float *xsp[MV_STREAMS_MAX];
        int m = 0;
        for (int s = 0; s < S; s++) {
            int g = g0 + s * L + i, wi = 0;
            if (g >= g1) break;                        // only the last part can be short
            while (g >= J->gstart[wi + 1]) wi++;
            const QMatrix *W = J->Ws[wi];
            size_t r = (size_t)(g - J->gstart[wi]);    // group index in W: a row, or 8 rows in the decode layout
            w[m] = (const uint8_t *)W->data + r * gbytes;
            sc[m] = t == QT_I8 || il ? (const uint16_t *)W->scale + r * gscales : NULL;
            if (t == QT_FP8) {                         // part m == s: its x for this row's block
                int key = wi * (1 << 20) + (int)(r / FP8_BLOCK);
                if (key != xs_key[m]) { xs_key[m] = key; fp8_prescale(W, (int)(r / FP8_BLOCK), J->A->x, 1, xs + (size_t)m * C); }
                xsp[m] = xs + (size_t)m * C;
            }
            y[m++] = J->ys[wi] + r * (il ? 8 : 1);
        }
        if (il) {
#define X8(S) row_x8_groups(w, sc, S, J->A, C, 1, o)
            DIST_CASES(X8)
#undef X8
            for (int j = 0; j < m; j++) memcpy(y[j], o + j * 8, 8 * sizeof(float));
            continue;
        }
        if (t == QT_I8) {
#define I8(S) row_i8_dist((const int8_t *const *)w, sc, S, J->A, C, o)
            DIST_CASES(I8)
#undef I8
        } else if (t == QT_FP8) {
#define F8(S) fp8_rows_dist(w, xsp, S, C, o)
            DIST_CASES(F8)
#undef F8
        } else {
#define BF(S) bf16_rows_dist((const uint16_t *const *)w, S, J->xp, C, o)
            DIST_CASES(BF)
#undef BF
        }
        for (int j = 0; j < m; j++) *y[j] = o[j];
    }
}
#undef DIST_CASES

// Thread id of nt: a contiguous share of all row groups (each thread streams its share).
static void matvec_job(void *ctx, int id, int nt) {
    const MvJob *J = ctx;
    const QMatrix *const *Ws = J->Ws;
    const Acts *A = J->A;
    const float *xp = J->xp;
    int N = J->N, C = J->C, ng = J->gstart[J->nw];
    int g0 = (int)((long)ng * id / nt), g1 = (int)((long)ng * (id + 1) / nt);
    if (J->streams) { matvec_job_streams(J, g0, g1); return; }
    static _Thread_local Scratch xs_s;
    float *xs = J->any_fp8 ? scratch_zeroed(&xs_s, (size_t)N * C * sizeof(float)) : NULL;   // [N, C]
    int xs_rb = -1, xs_w = -1, wi = 0;
    for (int g = g0; g < g1; g++) {
        while (g >= J->gstart[wi + 1]) wi++;           // groups arrive in increasing order
        const QMatrix *W = Ws[wi];
        int rb = J->rbm[wi], R = W->rows, r = (g - J->gstart[wi]) * rb;
        float *y = J->ys[wi];
        size_t ldy = (size_t)R;
        if (W->type == QT_FP8 && (r / FP8_BLOCK != xs_rb || wi != xs_w)) {
            xs_rb = r / FP8_BLOCK; xs_w = wi;
            fp8_prescale(W, xs_rb, A->x, N, xs);
        }
        if (W->il) {                               // rows % 8 == 0: always a whole group
            float o8[SMALL_N * 8];
            switch (N) {                          // constant N so the kernel unrolls
            case 1: row_x8(W, r / 8, A, 1, o8); break;
            case 2: row_x8(W, r / 8, A, 2, o8); break;
            case 3: row_x8(W, r / 8, A, 3, o8); break;
            default: row_x8(W, r / 8, A, 4, o8); break;
            }
            for (int n = 0; n < N; n++) memcpy(y + (size_t)n * ldy + r, o8 + n * 8, 8 * sizeof(float));
            continue;
        }
        float o[8] = {0};
        if (rb > 1 && N >= 2 && r + rb <= R && smalln_variant && W->type == QT_I4) {
            row_smalln(W, r, rb, A, N, o);         // o [rb W rows, N x rows]
            for (int j = 0; j < rb; j++)
                for (int n = 0; n < N; n++) y[(size_t)n * ldy + r + j] = o[j * N + n];
            continue;
        }
        if (rb == 4 && r + 4 <= R) {               // row groups never cross a 128-row FP8 block
            row_any(W, r, 4, A, xs, 1, o);
            for (int j = 0; j < 4; j++) y[r + j] = o[j];
            continue;
        }
        if (rb == 2 && r + 2 <= R) {               // o [2 rows, 2 x rows]
            row_any(W, r, 2, A, xs, 2, o);
            for (int j = 0; j < 2; j++) { y[r + j] = o[j * 2]; y[ldy + r + j] = o[j * 2 + 1]; }
            continue;
        }
        if (rb == 1 && N == 1 && W->type == QT_BF16 && xp) {
            const uint16_t *w = (const uint16_t *)W->data + (size_t)r * C;
            bf16_rows_dist(&w, 1, xp, C, y + r);
            continue;
        }
        for (int rr = r; rr < r + rb && rr < R; rr++) {
            switch (N) {                          // constant N so the kernels unroll
            case 1: row_any(W, rr, 1, A, xs, 1, o); break;
            case 2: row_any(W, rr, 1, A, xs, 2, o); break;
            case 3: row_any(W, rr, 1, A, xs, 3, o); break;
            default: row_any(W, rr, 1, A, xs, 4, o); break;
            }
            for (int n = 0; n < N; n++) y[(size_t)n * ldy + rr] = o[n];
        }
    }
}

// y_i [N, R_i] = x·W_iᵀ for nw matrices with the same cols and N <= 4 rows of activations, in one
// parallel region over the row groups of all of them (split statically: each thread streams its share).
static void matvec_multi(const QMatrix *const *Ws, int nw, const Acts *A, int N, float *const *ys) {
    int C = Ws[0]->cols;
    // W rows at once, per matrix: 4 side by side for N = 1, 2 for N = 2. At N = 1 int8, fp8, int4 with rows of
    // >= 512 bytes, and bf16 take one row at a time (measured from DRAM on one core against the 4-row groups, as one
    // sequential stream: int8 1.3-1.7x, int4 1.05-1.4x, both with the software prefetch; int4 rows of 256-352 bytes
    // lose up to 20 %; fp8 in the model's decode 1.06-1.17x at 1 thread, 1.22x at 2 (paired); bf16: see
    // bf16_seq_max_c). When every matrix of the call is bf16, fp8 or int8 one row at a time, or int4 in the decode
    // layout, each thread reads its rows as mv_streams distant streams (matvec_job_streams). Each matrix's row
    // arithmetic depends only on its own format and shape, so a result never depends on the other matrices of the call.
    MvJob J = {Ws, nw, N, C, 0, A, ys, NULL, {0}, {0}, 0};
    int *rbm = J.rbm, *gstart = J.gstart;
    size_t work = 0;
    int any_fp8 = 0, any_seq_bf16 = 0, all_seq_bf16 = 1, all_il = 1, all_i8 = 1, all_fp8 = 1;
    gstart[0] = 0;
    for (int i = 0; i < nw; i++) {
        QType t = Ws[i]->type;
        int seq = t == QT_I8 || t == QT_FP8 || (t == QT_I4 && C >= 1024) || (t == QT_BF16 && C <= bf16_seq_max_c);
        rbm[i] = N == 1 ? (seq ? 1 : 4) : N == 2 ? 2 : 1;
        if (N >= 2 && smalln_variant && t == QT_I4) rbm[i] = smalln_rows(N, C);
        if (Ws[i]->il) rbm[i] = 8;                    // int4 decode layout: one group of 8 rows, one stream
        any_seq_bf16 |= N == 1 && seq && t == QT_BF16;
        all_seq_bf16 &= N == 1 && seq && t == QT_BF16;
        all_il &= N == 1 && Ws[i]->il;
        all_i8 &= N == 1 && t == QT_I8;
        all_fp8 &= N == 1 && t == QT_FP8;
        gstart[i + 1] = gstart[i] + cdiv(Ws[i]->rows, rbm[i]);
        work += qmat_data_bytes(t, Ws[i]->rows, C);
        any_fp8 |= t == QT_FP8;
    }
    int par = work > 65536;                            // bytes: a 64 x 1024 FP32 router (256 KB) splits too
    J.any_fp8 = any_fp8;
    float *xp = NULL;                                  // bf16 one row at a time: x in the kernel's lane order
    static _Thread_local Scratch xp_s;
    if (any_seq_bf16) { xp = scratch_zeroed(&xp_s, (size_t)C * sizeof(float)); bf16_permute_x(A->x, C, xp); }
    J.xp = xp;
    int streams = mv_streams ? mv_streams : all_il ? MV_STREAMS_I4 : MV_STREAMS_MAX;
    J.streams = (all_seq_bf16 || all_il || all_i8 || all_fp8) && streams > 1 ? streams : 0;
    team_run(par, matvec_job, &J);
}

// y [N, R] for any N: parallel over row panels of W small enough to stay in L2 while every group of
// 4 x rows passes over them (cache blocking for prefill with the integer / in-register-decode kernels).
static void matmul_blocked(const QMatrix *W, const Acts *A, int N, float *y) {
    int R = W->rows, C = W->cols, nb = C / QBLOCK;
    size_t row_bytes = qmat_data_bytes(W->type, 1, C) + qmat_scale_bytes(W->type, 1, C) + 1;
    int pr = 4;
    while (pr < 128 && (size_t)pr * 2 * row_bytes <= PANEL_L2_BYTES) pr *= 2;   // power of two: FP8 128-row blocks align
    int npanel = cdiv(R, pr);
    #pragma omp parallel
    {
        float *xs = W->type == QT_FP8 ? xmalloc_aligned((size_t)SMALL_N * C * sizeof(float)) : NULL;   // [4, C]
        #pragma omp for schedule(dynamic, 1)
        for (int p = 0; p < npanel; p++) {
            int r0 = p * pr, r1 = r0 + pr < R ? r0 + pr : R;
            for (int n0 = 0; n0 < N; n0 += SMALL_N) {
                int nn = N - n0 < SMALL_N ? N - n0 : SMALL_N;
                Acts G = {A->x + (size_t)n0 * C, A->aq ? A->aq + (size_t)n0 * C : NULL, A->ad ? A->ad + (size_t)n0 * nb : NULL,
                          A->asum ? A->asum + (size_t)n0 * nb : NULL, A->aq4 ? A->aq4 + (size_t)n0 * C : NULL, NULL,
                          A->adp ? A->adp + (size_t)n0 * nb : NULL, A->s8p ? A->s8p + (size_t)n0 * nb : NULL};
                if (xs) fp8_prescale(W, r0 / FP8_BLOCK, G.x, nn, xs);      // a panel lies inside one 128-row block
                for (int r = r0; r < r1; r++) {
                    float o[SMALL_N] = {0};
                    switch (nn) {
                    case 1: row_any(W, r, 1, &G, xs, 1, o); break;
                    case 2: row_any(W, r, 1, &G, xs, 2, o); break;
                    case 3: row_any(W, r, 1, &G, xs, 3, o); break;
                    default: row_any(W, r, 1, &G, xs, 4, o); break;
                    }
                    for (int n = 0; n < nn; n++) y[(size_t)(n0 + n) * R + r] = o[n];
                }
            }
        }
        free(xs);
    }
}

// Row n of acts_quantize (below): the codes and scales, and with asum set the int4 block sums and pair order.
static void acts_row(const float *x, int n, int C, const Acts *A) {
    int nb = C / QBLOCK;
    int8_t *aq = (int8_t *)A->aq + (size_t)n * C;
    a8_quantize_row(x + (size_t)n * C, C, aq, (float *)A->ad + (size_t)n * nb);
    if (!A->asum) return;
    for (int b = 0; b < nb; b++) {                     // per-block sums of the codes (exact in FP32), pair order
        int sm = 0;
        for (int i = 0; i < QBLOCK; i++) sm += aq[b * QBLOCK + i];
        ((float *)A->asum)[(size_t)n * nb + b] = (float)sm;
    }
    for (int b = 0; b + 1 < nb; b += 2) {
        const int8_t *src = aq + (size_t)b * QBLOCK;
        int8_t *dst = (int8_t *)A->aq4 + (size_t)n * C + (size_t)b * QBLOCK;
        memcpy(dst, src, 16); memcpy(dst + 16, src + 32, 16);
        memcpy(dst + 32, src + 16, 16); memcpy(dst + 48, src + 48, 16);
    }
}

// A8 activations (int8/int4 weights): aq [N, C] codes, ad [N, nb] scales; with i4 also asum [N, nb]
// block sums and aq4 [N, C] the codes in block-pair order, and for N >= 2 row_i4n's adp / s8p [N, nb]. In this
// thread's scratch buffers (base/scratch.h): valid until its next acts_quantize.
static _Thread_local Scratch acts_s[6];
static void acts_quantize(const float *x, int N, int C, int i4, Acts *A) {
    int nb = C / QBLOCK;
    int8_t *aq = scratch_zeroed(&acts_s[0], (size_t)N * C);
    float *ad = scratch_zeroed(&acts_s[1], (size_t)N * nb * sizeof(float) + 4);
    float *asum = i4 ? scratch_zeroed(&acts_s[2], (size_t)N * nb * sizeof(float) + 4) : NULL;
    int8_t *aq4 = i4 ? scratch_zeroed(&acts_s[3], (size_t)N * C) : NULL;
    A->aq = aq; A->ad = ad; A->asum = asum; A->aq4 = aq4;
    // a plain loop unless there is enough work: even an OpenMP region that runs on one thread costs libgomp a
    // team (and glibc an aligned allocation), and this runs for every decode matvec
    if ((size_t)N * C > 65536) {
        #pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) acts_row(x, n, C, A);
    } else {
        for (int n = 0; n < N; n++) acts_row(x, n, C, A);
    }
    if (!i4 || N < 2) return;                          // row_i4n runs for 2-4 x rows of int4 only
    float *adp = scratch_zeroed(&acts_s[4], (size_t)N * nb * sizeof(float) + 4);
    int32_t *s8p = scratch_zeroed(&acts_s[5], (size_t)N * nb * sizeof(int32_t) + 4);
    for (int n = 0; n < N; n++) acts_pair_order(aq + (size_t)n * C, ad + (size_t)n * nb, C, adp + (size_t)n * nb, s8p + (size_t)n * nb);
    A->adp = adp; A->s8p = s8p;
}

// ---- y = xᵀ·W over a row range (absorbed MLA: q_lat = W_UKᵀ q_nope) -------------------------
//
// Groups of 4 W rows stream side by side; y [C] stays in L1 and takes 4 FMAs per 8 columns per pass.
// 32 columns at a time: one int8/int4 block or a quarter FP8 block, so one scale per (row, chunk).

// 32 weights of row r at column c0 (c0 % 32 == 0, c0 + 32 <= C) as FP32 in w[4], times *s = their scale.
AI void dec32(const QMatrix *W, QType t, int r, int c0, __m256 w[4], float *s) {
    int C = W->cols;
    switch (t) {
    case QT_F32: {
        const float *p = (const float *)W->data + (size_t)r * C + c0;
        for (int q = 0; q < 4; q++) w[q] = _mm256_loadu_ps(p + 8 * q);
        *s = 1.0f;
        break;
    }
    case QT_BF16: {
        const uint16_t *p = (const uint16_t *)W->data + (size_t)r * C;
        for (int q = 0; q < 4; q++) w[q] = load_w8(p, DEC_BF16, c0 + 8 * q);
        *s = 1.0f;
        break;
    }
    case QT_FP8:
        fp8x32((const uint8_t *)W->data + (size_t)r * C + c0, w);
        *s = ((const float *)W->scale)[(size_t)(r / FP8_BLOCK) * cdiv(C, FP8_BLOCK) + c0 / FP8_BLOCK] * 256.0f;
        break;
    case QT_I8: {
        const int8_t *p = (const int8_t *)W->data + (size_t)r * C + c0;
        for (int q = 0; q < 4; q++) w[q] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8 * q))));
        *s = _cvtsh_ss(((const uint16_t *)W->scale)[(size_t)r * (C / QBLOCK) + c0 / QBLOCK]);
        break;
    }
    default: {                                         // QT_I4
        __m128i raw = _mm_loadu_si128((const __m128i *)((const uint8_t *)W->data + (size_t)r * C / 2 + c0 / 2));
        __m128i lo = _mm_sub_epi8(_mm_and_si128(raw, _mm_set1_epi8(15)), _mm_set1_epi8(8));                      // c0 .. c0+15
        __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(15)), _mm_set1_epi8(8));   // c0+16 .. c0+31
        w[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
        w[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)));
        w[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
        w[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)));
        *s = _cvtsh_ss(((const uint16_t *)W->scale)[(size_t)r * (C / QBLOCK) + c0 / QBLOCK]);
        break;
    }
    }
}

AI void gevm_group(const QMatrix *W, QType t, int r, int RB, const float *x, int C32, float *y, size_t pfb) {
    // row bytes and bytes per 32 weights of this format (int4: 16)
    const size_t rowb = t == QT_F32 ? (size_t)W->cols * 4 : t == QT_BF16 ? (size_t)W->cols * 2 : t == QT_I4 ? (size_t)W->cols / 2
                                                                                                        : (size_t)W->cols;
    const size_t b32 = t == QT_F32 ? 128 : t == QT_BF16 ? 64 : t == QT_I4 ? 16 : 32;
    const char *base = (const char *)W->data + (size_t)r * rowb;
    for (int c0 = 0; c0 < C32; c0 += 32) {
        if (pfb && (c0 / 32 * b32) % 64 < b32)        // once per 64 bytes of each row stream
            for (int j = 0; j < RB; j++) _mm_prefetch(base + (size_t)j * rowb + (size_t)c0 / 32 * b32 + pfb, _MM_HINT_T0);
        __m256 a[4];
        for (int q = 0; q < 4; q++) a[q] = _mm256_loadu_ps(y + c0 + 8 * q);
        for (int j = 0; j < RB; j++) {
            __m256 w[4];
            float s;
            dec32(W, t, r + j, c0, w, &s);
            __m256 sx = _mm256_set1_ps(s * x[j]);
            for (int q = 0; q < 4; q++) a[q] = _mm256_fmadd_ps(sx, w[q], a[q]);
        }
        for (int q = 0; q < 4; q++) _mm256_storeu_ps(y + c0 + 8 * q, a[q]);
    }
}

static void gevm_i4_factors_ref(const QMatrix *W, int r0, int n, const float *x, int16_t *pairs, float *d, int32_t *sfq);

// The factors of gevm_i4_factors_ref (below, with the scheme) with vectors, 8 blocks at a time (nb % 8 == 0, plain layout): the same
// operations in the same order, so the same pairs, d and sums.
static void gevm_i4_factors(const QMatrix *W, int r0, int n, const float *x, int16_t *pairs, float *d, int32_t *sfq) {
    int nb = W->cols / QBLOCK;
    const uint16_t *sc = (const uint16_t *)W->scale + (size_t)r0 * nb;
    static _Thread_local Scratch fs;
    float *f = scratch_zeroed(&fs, sizeof(float) * (size_t)n * nb);       // [n, nb]
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int b8 = 0; b8 < nb; b8 += 8) {
        __m256 am = _mm256_setzero_ps();
        for (int i = 0; i < n; i++) {
            __m256 v = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(sc + (size_t)i * nb + b8))),
                                     _mm256_set1_ps(x[i]));
            _mm256_store_ps(f + (size_t)i * nb + b8, v);
            am = _mm256_max_ps(am, _mm256_and_ps(v, absm));
        }
        __m256 dv = _mm256_div_ps(am, _mm256_set1_ps(127.0f));
        __m256 inv = _mm256_and_ps(_mm256_div_ps(_mm256_set1_ps(1.0f), dv), _mm256_cmp_ps(dv, _mm256_setzero_ps(), _CMP_GT_OQ));
        _mm256_storeu_ps(d + b8, dv);
        __m256i sum = _mm256_setzero_si256();
        for (int i = 0; i < n; i += 2) {
            __m256i lo = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_load_ps(f + (size_t)i * nb + b8), inv));
            __m256i hi = i + 1 < n ? _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_load_ps(f + (size_t)(i + 1) * nb + b8), inv))
                                   : _mm256_setzero_si256();
            sum = _mm256_add_epi32(sum, _mm256_add_epi32(lo, hi));
            __m256i w = _mm256_or_si256(_mm256_and_si256(lo, _mm256_set1_epi32(255)), _mm256_slli_epi32(hi, 8));
            w = _mm256_permute4x64_epi64(_mm256_packs_epi32(w, w), 0x08);   // 8 int16 in order (exact: in range)
            _mm_storeu_si128((__m128i *)(pairs + (size_t)(i / 2) * nb + b8), _mm256_castsi256_si128(w));
        }
        _mm256_storeu_si256((__m256i *)(sfq + b8), sum);
    }
}

// y [C] = Σ_i x[i] · W[r0+i, :], int4 plain layout, the integer scheme above. Per block: row pairs through
// vpmaddubsw into int16 sums (8 pairs at most: 8 · 2 · 15 · 127 < 32768), widened to int32 every 8 pairs.
// Rows in chunks of 16 (8 pairs: 16 consecutive rows, contiguous in W), every column block of a chunk before the next, so
// that W is read front to back; int32 sums per column in an L1 buffer between chunks.
static void gevm_i4(const QMatrix *W, int r0, int n, const float *x, float *y) {
    int C = W->cols, nb = C / QBLOCK, np = (n + 1) / 2;
    size_t rowb = (size_t)C / 2;
    static _Thread_local Scratch ss[4];
    int16_t *pairs = scratch_zeroed(&ss[0], sizeof(int16_t) * (size_t)np * nb);
    float *d = scratch_zeroed(&ss[1], sizeof(float) * (size_t)nb);
    int32_t *sfq = scratch_zeroed(&ss[2], sizeof(int32_t) * (size_t)nb);
    int32_t *acc = scratch_zeroed(&ss[3], sizeof(int32_t) * (size_t)nb * QBLOCK);   // [nb, 4 x 8]: columns 0-7, 16-23, 8-15, 24-31
    if (nb % 8 == 0) gevm_i4_factors(W, r0, n, x, pairs, d, sfq);
    else gevm_i4_factors_ref(W, r0, n, x, pairs, d, sfq);
    const uint8_t *base = (const uint8_t *)W->data + (size_t)r0 * rowb;
    const __m256i shift = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4), m15 = _mm256_set1_epi8(15);
    size_t chunk = 16 * rowb;                                          // bytes of 8 row pairs
    for (int p0 = 0; p0 < np; p0 += 8) {
        int p1 = p0 + 8 < np ? p0 + 8 : np;
        const uint8_t *next = base + (size_t)(2 * p1) * rowb;          // the next chunk, prefetched across the blocks
        size_t nlines = p1 < np ? chunk / 64 : 0, li = 0;
        for (int b = 0; b < nb; b++) {
            for (size_t e = nlines * (size_t)(b + 1) / (size_t)nb; li < e; li++) _mm_prefetch((const char *)(next + 64 * li), _MM_HINT_T0);
            __m256i s0 = _mm256_setzero_si256(), s1 = s0;              // int16: columns 0-7 | 16-23, 8-15 | 24-31
            for (int p = p0; p < p1; p++) {
                const uint8_t *ra = base + (size_t)(2 * p) * rowb + (size_t)b * 16;
                const uint8_t *rb = 2 * p + 1 < n ? ra + rowb : ra;     // a missing row: factor 0
                // lane 0: low nibbles (columns 0-15), lane 1: high nibbles (columns 16-31)
                __m256i va = _mm256_and_si256(_mm256_srlv_epi32(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)ra)), shift), m15);
                __m256i vb = _mm256_and_si256(_mm256_srlv_epi32(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)rb)), shift), m15);
                __m256i fp = _mm256_set1_epi16(pairs[(size_t)p * nb + b]);
                s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(_mm256_unpacklo_epi8(va, vb), fp));
                s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(_mm256_unpackhi_epi8(va, vb), fp));
            }
            int32_t *ab = acc + (size_t)b * QBLOCK;
            _mm256_store_si256((__m256i *)ab, _mm256_add_epi32(_mm256_load_si256((const __m256i *)ab), _mm256_cvtepi16_epi32(_mm256_castsi256_si128(s0))));
            _mm256_store_si256((__m256i *)(ab + 8), _mm256_add_epi32(_mm256_load_si256((const __m256i *)(ab + 8)), _mm256_cvtepi16_epi32(_mm256_extracti128_si256(s0, 1))));
            _mm256_store_si256((__m256i *)(ab + 16), _mm256_add_epi32(_mm256_load_si256((const __m256i *)(ab + 16)), _mm256_cvtepi16_epi32(_mm256_castsi256_si128(s1))));
            _mm256_store_si256((__m256i *)(ab + 24), _mm256_add_epi32(_mm256_load_si256((const __m256i *)(ab + 24)), _mm256_cvtepi16_epi32(_mm256_extracti128_si256(s1, 1))));
        }
    }
    for (int b = 0; b < nb; b++) {
        const int32_t *ab = acc + (size_t)b * QBLOCK;
        __m256i corr = _mm256_set1_epi32(8 * sfq[b]);
        __m256 dv = _mm256_set1_ps(d[b]);
        float *yb = y + (size_t)b * QBLOCK;
        _mm256_storeu_ps(yb, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_load_si256((const __m256i *)ab), corr))));
        _mm256_storeu_ps(yb + 8, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_load_si256((const __m256i *)(ab + 16)), corr))));
        _mm256_storeu_ps(yb + 16, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_load_si256((const __m256i *)(ab + 8)), corr))));
        _mm256_storeu_ps(yb + 24, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_load_si256((const __m256i *)(ab + 24)), corr))));
    }
}

static void gevm_fast(const QMatrix *W, int r0, int n, const float *x, float *y) {
    int C = W->cols, C32 = C & ~31;
    memset(y, 0, sizeof(float) * (size_t)C);
    int i = 0;
    // prefetch distance: pf_weights of one row stream ahead, rounded up to whole groups of 4 rows
    size_t pfb = gevm_pf ? pf_distance((size_t)pf_weights * qmat_data_bytes(W->type, 1, C) / C, 4 * qmat_data_bytes(W->type, 1, C)) : 0;
    #define GEVM_T(T)                                                                      \
        for (; i + 4 <= n; i += 4) gevm_group(W, T, r0 + i, 4, x + i, C32, y, pfb);      \
        for (; i < n; i++) gevm_group(W, T, r0 + i, 1, x + i, C32, y, pfb);
    switch (W->type) {                                 // constant type: the decoder inlines without a switch
    case QT_F32: GEVM_T(QT_F32) break;
    case QT_BF16: GEVM_T(QT_BF16) break;
    case QT_FP8: GEVM_T(QT_FP8) break;
    case QT_I8: GEVM_T(QT_I8) break;
    case QT_I4: GEVM_T(QT_I4) break;
    }
    #undef GEVM_T
    if (C32 < C) {                                     // float formats with C % 32 != 0: last columns one by one
        float *row = xmalloc(sizeof(float) * (size_t)C);
        for (int k = 0; k < n; k++) {
            qmat_dequant_row(W, r0 + k, row);
            for (int c = C32; c < C; c++) y[c] += x[k] * row[c];
        }
        free(row);
    }
}
#endif

// ---- prefill: decode panels of W once, multiply with sgemm -----------------------------------

static void matmul_panels(const QMatrix *W, const float *x, int N, float *y) {
    int R = W->rows, C = W->cols;
    int npanel = cdiv(R, PANEL_ROWS);
    #pragma omp parallel
    {
        float *buf = xmalloc_aligned((size_t)PANEL_ROWS * C * sizeof(float));   // [PANEL_ROWS, C]
        #pragma omp for schedule(dynamic, 1)
        for (int p = 0; p < npanel; p++) {
            int r0 = p * PANEL_ROWS, pr = R - r0 < PANEL_ROWS ? R - r0 : PANEL_ROWS;
            for (int r = 0; r < pr; r++) qmat_dequant_row(W, r0 + r, buf + (size_t)r * C);
            gemm(0, 1, N, pr, C, 1.0f, x, C, buf, C, 0.0f, y + r0, R);
        }
        free(buf);
    }
}

void qmat_matmul(const QMatrix *W, const float *x, int N, float *y) {
    int R = W->rows, C = W->cols;
    if (N <= 0) return;
    int use_panels = N >= panel_min_n(W->type);
#if !(defined(__AVX2__) && defined(__F16C__) && defined(__FMA__))
    use_panels = 1;                                    // portable build: decode + sgemm only
#else
    if (use_lanegemm(W->type, N)) { qmat_lanegemm(W, x, N, y); return; }
#endif
    if (W->type == QT_F32 && use_panels) {
        gemm(0, 1, N, R, C, 1.0f, x, C, W->data, C, 0.0f, y, R);
        return;
    }
    int q8 = W->type == QT_I8 || W->type == QT_I4, nb = C / QBLOCK;
    if (use_panels) {
        float *xd = NULL;
        if (q8) {                                      // the A8 values in FP32, so numerics match the int path
            int8_t *aq = xmalloc_aligned((size_t)N * C);
            float *ad = xmalloc_aligned((size_t)N * nb * sizeof(float) + 4);
            xd = xmalloc_aligned((size_t)N * C * sizeof(float));
            #pragma omp parallel for schedule(static) if ((size_t)N * C > 65536)
            for (int n = 0; n < N; n++) {
                a8_quantize_row(x + (size_t)n * C, C, aq + (size_t)n * C, ad + (size_t)n * nb);
                for (int k = 0; k < C; k++) xd[(size_t)n * C + k] = ad[(size_t)n * nb + k / QBLOCK] * (float)aq[(size_t)n * C + k];
            }
            free(aq); free(ad);
        }
        matmul_panels(W, q8 ? xd : x, N, y);
        free(xd);
        return;
    }
#if defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
    Acts A = {x, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    if (q8) acts_quantize(x, N, C, W->type == QT_I4, &A);
    if (N <= SMALL_N) matvec_multi(&W, 1, &A, N, &y);
    else if (W->il)                                    // decode layout below the lane GEMM: 4 x rows per pass
        for (int n0 = 0; n0 < N; n0 += SMALL_N) {
            int nn = N - n0 < SMALL_N ? N - n0 : SMALL_N;
            Acts G = {x + (size_t)n0 * C, A.aq + (size_t)n0 * C, A.ad + (size_t)n0 * nb, A.asum + (size_t)n0 * nb, NULL, NULL, NULL, NULL};
            float *yn = y + (size_t)n0 * R;
            matvec_multi(&W, 1, &G, nn, &yn);
        }
    else matmul_blocked(W, &A, N, y);
#endif
}

void qmat_matmul_multi(const QMatrix *const *W, int nw, const float *x, int N, float *const *y) {
    int fused = N <= SMALL_N && nw <= MULTI_MAX;
    for (int i = 0; i < nw; i++) fused &= W[i]->cols == W[0]->cols && N < panel_min_n(W[i]->type);
#if !(defined(__AVX2__) && defined(__F16C__) && defined(__FMA__))
    fused = 0;
#endif
#if defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
    int ig = !fused && nw <= MULTI_MAX;             // same type and cols: x quantized / packed once
    for (int i = 0; i < nw; i++) ig &= W[i]->type == W[0]->type && W[i]->cols == W[0]->cols && use_lanegemm(W[i]->type, N);
    if (ig) { qmat_lanegemm_multi(W, nw, x, N, y); return; }
#endif
    if (!fused) {
        for (int i = 0; i < nw; i++) qmat_matmul(W[i], x, N, y[i]);
        return;
    }
#if defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
    int q8 = 0, i4 = 0;
    for (int i = 0; i < nw; i++) { q8 |= W[i]->type == QT_I8 || W[i]->type == QT_I4; i4 |= W[i]->type == QT_I4; }
    Acts A = {x, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    if (q8) acts_quantize(x, N, W[0]->cols, i4, &A);  // once for all matrices
    matvec_multi(W, nw, &A, N, y);
#endif
}

// ---- row ranges ----------------------------------------------------------------------------

// A view of rows [r0, r0+n) of W; 0 when the format's scale blocks do not allow it (FP8, r0 % 128 != 0).
static int row_view(const QMatrix *W, int r0, int n, QMatrix *v) {
    int C = W->cols, nb = C / QBLOCK;
    if (W->type == QT_FP8 && r0 % FP8_BLOCK) return 0;
    if (W->il && (r0 % 8 || n % 8)) return 0;         // whole groups of 8 rows only (same offsets as plain rows)
    *v = *W;
    v->rows = n; v->owns = 0;
    v->data = (char *)W->data + qmat_data_bytes(W->type, r0, C);
    if (W->type == QT_FP8) v->scale = (float *)W->scale + (size_t)(r0 / FP8_BLOCK) * cdiv(C, FP8_BLOCK);
    else if (W->scale) v->scale = (uint16_t *)W->scale + (size_t)r0 * nb;
    return 1;
}

void qmat_gemv_rows(const QMatrix *W, int r0, int n, const float *x, float *y) {
    QMatrix v;
    if (n <= 0) return;
    if (row_view(W, r0, n, &v)) { qmat_matmul(&v, x, 1, y); return; }
    if (W->il) {                                       // int4 rows off the groups of 8: a plain copy of them
        int C = W->cols, nb = C / QBLOCK;
        QMatrix p = {QT_I4, n, C, xmalloc_aligned((size_t)n * C / 2 + 64), xmalloc_aligned((size_t)n * nb * 2 + 64), 1, 0};
        for (int i = 0; i < n; i++)
            qmat_i4_plain_row(W, r0 + i, (uint8_t *)p.data + (size_t)i * C / 2, (uint16_t *)p.scale + (size_t)i * nb);
        qmat_matmul(&p, x, 1, y);
        free(p.data); free(p.scale);
        return;
    }
    float *row = xmalloc(sizeof(float) * (size_t)W->cols);   // FP8 rows not on a scale block, int4 rows not on a
                                                              // group of 8: decode row by row
    for (int i = 0; i < n; i++) {
        qmat_dequant_row(W, r0 + i, row);
        float acc = 0;
        for (int c = 0; c < W->cols; c++) acc += row[c] * x[c];
        y[i] = acc;
    }
    free(row);
}

// ---- int4 gevm: integer products (W_UK in absorbed decode) ---------------------------------------
// y [C] = Σ_i x[i] · W[r0+i, :] for int4 W. Per 32-column block b the factors f_i = x[i] · s[r0+i, b] (x times
// the row's block scale, one FP32 rounding) are quantized to int8 over the n rows like A8 activations:
// d_b = max_i |f_i| / 127, fq_i = nearest-even(f_i · (1 / d_b)). With u the stored nibble (weight = u − 8):
//   y[c] = d_b · (Σ_i fq_i · u_ic − 8 · Σ_i fq_i)            (integer sums, exact)
// Pairs of rows go through vpmaddubsw (u8 nibbles × s8 factors): ~3x fewer instructions than decoding the
// weights to FP32. The factors of rows 2p and 2p+1 are packed as one int16 (low byte row 2p), a missing
// last row as 0.
//   pairs [ceil(n/2), nb] int16, d [nb], sfq [nb] (Σ_i fq_i)
static void gevm_i4_factors_ref(const QMatrix *W, int r0, int n, const float *x, int16_t *pairs, float *d, int32_t *sfq) {
    int nb = W->cols / QBLOCK;
    uint8_t *q = xmalloc((size_t)W->cols / 2 + 1);
    uint16_t *sc = xmalloc(sizeof(uint16_t) * (size_t)nb);
    float *f = xmalloc(sizeof(float) * (size_t)n * nb);                     // [n, nb]
    for (int b = 0; b < nb; b++) d[b] = 0, sfq[b] = 0;
    for (int i = 0; i < n; i++) {
        qmat_i4_plain_row(W, r0 + i, q, sc);
        for (int b = 0; b < nb; b++) {
            f[(size_t)i * nb + b] = f16_to_f32(sc[b]) * x[i];
            if (fabsf(f[(size_t)i * nb + b]) > d[b]) d[b] = fabsf(f[(size_t)i * nb + b]);
        }
    }
    for (int b = 0; b < nb; b++) {
        d[b] = d[b] / 127.0f;
        float inv = d[b] > 0 ? 1.0f / d[b] : 0.0f;
        for (int i = 0; i < n; i += 2) {
            int lo = (int)nearbyintf(f[(size_t)i * nb + b] * inv);
            int hi = i + 1 < n ? (int)nearbyintf(f[(size_t)(i + 1) * nb + b] * inv) : 0;
            pairs[(size_t)(i / 2) * nb + b] = (int16_t)((lo & 255) | (hi * 256));
            sfq[b] += lo + hi;
        }
    }
    free(q); free(sc); free(f);
}

static void gevm_i4_ref(const QMatrix *W, int r0, int n, const float *x, float *y) {
    int C = W->cols, nb = C / QBLOCK, np = (n + 1) / 2;
    int16_t *pairs = xmalloc(sizeof(int16_t) * (size_t)np * nb);
    float *d = xmalloc(sizeof(float) * (size_t)nb);
    int32_t *sfq = xmalloc(sizeof(int32_t) * (size_t)nb), *acc = xcalloc((size_t)C, sizeof(int32_t));
    gevm_i4_factors_ref(W, r0, n, x, pairs, d, sfq);
    uint8_t *q = xmalloc((size_t)C / 2 + 1);
    uint16_t *sc = xmalloc(sizeof(uint16_t) * (size_t)nb);
    for (int i = 0; i < n; i++) {
        qmat_i4_plain_row(W, r0 + i, q, sc);
        for (int c = 0; c < C; c++) {
            int b = c / QBLOCK, k = c % QBLOCK;
            int u = k < 16 ? q[b * 16 + k] & 15 : q[b * 16 + k - 16] >> 4;   // plain layout: byte j = weights j, j + 16
            int16_t w2 = pairs[(size_t)(i / 2) * nb + b];
            int fq = i % 2 ? (int)(int8_t)(w2 >> 8) : (int)(int8_t)(w2 & 255);
            acc[c] += fq * u;
        }
    }
    for (int c = 0; c < C; c++) y[c] = d[c / QBLOCK] * (float)(acc[c] - 8 * sfq[c / QBLOCK]);
    free(pairs); free(d); free(sfq); free(acc); free(q); free(sc);
}

void qmat_gevm_rows_ref(const QMatrix *W, int r0, int n, const float *x, float *y) {
    int C = W->cols;
    if (W->type == QT_I4) { if (n > 0) gevm_i4_ref(W, r0, n, x, y); else memset(y, 0, sizeof(float) * (size_t)C); return; }
    float *row = xmalloc(sizeof(float) * (size_t)C);
    memset(y, 0, sizeof(float) * (size_t)C);
    for (int i = 0; i < n; i++) {
        qmat_dequant_row(W, r0 + i, row);
        for (int c = 0; c < C; c++) y[c] += x[i] * row[c];
    }
    free(row);
}

void qmat_gevm_rows(const QMatrix *W, int r0, int n, const float *x, float *y) {
#if defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
    if (W->il) qmat_gevm_rows_ref(W, r0, n, x, y);    // not a decode-layout use (the engine keeps kv_b plain)
    else if (W->type == QT_I4 && gevm_i4_int) { if (n > 0) gevm_i4(W, r0, n, x, y); else memset(y, 0, sizeof(float) * (size_t)W->cols); }
    else gevm_fast(W, r0, n, x, y);
#else
    qmat_gevm_rows_ref(W, r0, n, x, y);
#endif
}
