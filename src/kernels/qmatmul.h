// qmatmul.h — weight matrices for inference in FP32, BF16, FP8 (DeepSeek-V3 128x128 blocks),
// int8 and int4 (32-blocks, see quant.h), and y = x·Wᵀ for them.
//
//  storage per type (rows = out features R, cols = in features C, row-major):
//    QT_F32   data float    [R, C]
//    QT_BF16  data uint16   [R, C]                     (bf16 bits)
//    QT_FP8   data uint8    [R, C] E4M3 codes,  scale float [ceil(R/128), ceil(C/128)] (= weight_scale_inv)
//    QT_I8    data int8     [R, C],             scale uint16 fp16 [R, C/32]            (needs C % 32 == 0)
//    QT_I4    data uint8    [R, C/2] nibbles,   scale uint16 fp16 [R, C/32]            (needs C % 32 == 0)
//  F32, BF16 and FP8 accept any C; I8 and I4 refuse C % 32 != 0 with a message (DeepSeek shapes are
//  multiples of 128). Activations are FP32; for I8/I4 they are quantized to int8 per 32-block (quant.h
//  A8) and the dot products are integer; for BF16/FP8 the weights are decoded to FP32 in registers.
//  qmat_matmul strategies (figures in docs/performance.md, "Inference / Kernels"):
//    N <= 4      AVX2 matvec, OpenMP over rows (static split), each weight loaded once for all N rows (N = 1:
//                bf16, fp8, int8 and int4 in the decode layout read each thread's share as 8 / 8 / 8 / 4 distant
//                streams side by side, qmat_set_streams; f32 4 W rows side by side), software prefetch 4096 weights ahead
//                per row stream (bf16: 2048); int4 at N = 2-4: the
//                small-N kernel (block sums in int16 without hadd, W rows per group by row length); int4 in the
//                decode layout (qmat_interleave, the engine's default): 8 W rows in vector lanes, N = 1-4 (5-7: in
//                passes of 4)
//    N > 4       int8 from N = 16, int4 from N = 8: the integer GEMM of lanegemm.h (x rows in vector lanes, W panels
//                widened/unpacked); below that, and bf16/fp8 below N = 32, f32 below N = 8: cache-blocked kernel
//                (L2-sized row panels of W, groups of 4 x rows pass over each panel)
//    otherwise   f32: OpenBLAS sgemm (bf16/fp8 decode-panel + sgemm only when forced by qmat_set_panel_min_n)
//  Called inside a parallel region it runs on the calling thread only (nested parallelism off), so
//  experts can run side by side. The matvec path (qmat_matvec_path) is one team_run (base/team.h): inside a
//  team session it hands its rows to the session's spinning threads instead of forking an OpenMP region.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef enum { QT_F32, QT_BF16, QT_FP8, QT_I8, QT_I4 } QType;

typedef struct {
    QType type;
    int rows, cols;     // R out features, C in features
    void *data;         // see table above
    void *scale;        // FP8: float [ceil(R/128), ceil(C/128)]; I8/I4: uint16 fp16 [R, C/32]; else NULL
    int owns;           // 1: data and scale are heap copies freed by qmat_free; 0: views (e.g. mmap)
    int il;             // I4 only, set by qmat_interleave: rows interleaved in groups of 8 (the decode layout below)
} QMatrix;

const char *qtype_name(QType t);                                 // "f32", "bf16", "fp8", "int8", "int4"
int qtype_parse(const char *s, QType *t);                        // inverse of qtype_name; -1 + message if unknown

// Quantize an FP32 matrix W [rows, cols] into a new owning QMatrix (FP8: plain amax/448 scales, no ue8m0).
int qmat_from_f32(QMatrix *m, const float *W, int rows, int cols, QType t);
// Copy a DeepSeek-V3 FP8 weight as shipped: q [rows, cols] E4M3, scale_inv [ceil(rows/128), ceil(cols/128)].
int qmat_from_fp8_blocks(QMatrix *m, const uint8_t *q, const float *scale_inv, int rows, int cols);
// Non-owning view over existing buffers in the layout above (e.g. mmap'd safetensors); checks shapes.
int qmat_view(QMatrix *m, QType t, int rows, int cols, const void *data, const void *scale);
void qmat_free(QMatrix *m);                                      // frees owned buffers, zeroes m
size_t qmat_bytes(const QMatrix *m);                             // bytes of data + scale
size_t qmat_data_bytes(QType t, int rows, int cols);             // bytes of data for a shape
size_t qmat_scale_bytes(QType t, int rows, int cols);            // bytes of scale for a shape (0 if none)

// int4 decode layout: re-lay an I4 matrix with rows % 8 == 0 so that decode reads 8 W rows in the 8 lanes of a
// vector (no horizontal sums; about 2x the plain layout's matvec in cache). Group g = rows 8g..8g+7, block b:
// 128 bytes, chunk c (0..3) of 32 bytes = bytes 4c..4c+3 of block b of each of the 8 rows (row k at byte 4k);
// scales [R/8][C/32][8] fp16. Same sizes as the plain layout, and row 8g starts at the same byte offsets. The
// matrix becomes an owning copy (a view's mapped bytes are left alone). Every qmat function accepts either
// layout, at any alignment; a view of a file already in this layout (deepc int4 folders with "layout": "rows8",
// infer/quantize.h) sets il = 1 itself. Returns 1 if re-laid, 0 if not applicable (other type, rows % 8, already
// done, or turned off by qmat_set_interleave(0) / DEEPC_I4_INTERLEAVE=0).
int qmat_interleave(QMatrix *m);
int qmat_set_interleave(int on);                                 // default 1 (env DEEPC_I4_INTERLEAVE=0: 0); returns old
int qmat_interleave_enabled(void);                               // the current setting

void qmat_dequant_row(const QMatrix *m, int r, float *out);      // out [cols] = row r of W in FP32
// int4 (either layout): row r's data in the plain layout, q [cols/2] bytes, d [cols/32] fp16 scales.
void qmat_i4_plain_row(const QMatrix *m, int r, uint8_t *q, uint16_t *d);
void qmat_to_f32(const QMatrix *m, float *W);                    // W [rows, cols]

// y [N, rows] = x [N, cols] · Wᵀ (y must not overlap x). Fast path (AVX2 + OpenMP + BLAS).
void qmat_matmul(const QMatrix *W, const float *x, int N, float *y);
// y_i [N, rows_i] = x [N, cols] · W_iᵀ for nw (<= 8) matrices with the same cols and input (e.g. MLA's q_a and
// kv_a): for N <= 4 one parallel region over all their rows and the A8 activations quantized once;
// otherwise one qmat_matmul each. Results equal qmat_matmul's.
void qmat_matmul_multi(const QMatrix *const *W, int nw, const float *x, int N, float *const *y);
// Tuning knob (benchmarks, tests): from this many x rows on, every format uses decode-panel + sgemm
// (int8/int4 with their A8-quantized activations in FP32); 0 restores the per-format defaults above.
// Returns the previous value.
int qmat_set_panel_min_n(int n);
// 1 when qmat_matmul and qmat_matmul_multi with N x rows take the matvec kernels for every format, each call one
// team_run (base/team.h), so that a team session keeps them parallel without OpenMP fork/joins.
int qmat_matvec_path(int N);
// Tuning knob (benchmarks, tests): 1 (default) runs int8 with N >= 16 and int4 with N >= 8 x rows through the integer
// GEMM of lanegemm.h; 0 always through the older cache-blocked row kernel. Returns the old value.
int qmat_set_lanegemm(int on);
// Tuning knob (benchmarks): bf16 matvec at N = 1 reads one W row at a time for matrices of at most this many
// columns, 4 rows side by side above. Returns the old value.
int qmat_set_bf16_seq_max_c(int c);
// Tuning knob (benchmarks): software prefetch distance of the matvec kernels in weights per row stream
// (0: off; default 4096). Returns the old value.
int qmat_set_prefetch(int weights);
// N = 1 matvec, one W row at a time: distant row streams per thread (1-8; 1 = rows in order; 0 = the defaults per
// format). Returns the old setting. Results do not depend on it.
int qmat_set_streams(int s);
// Tuning knob (benchmarks): 1 (default) rounds that distance up to whole groups of rows streamed together; 0: exact.
int qmat_set_prefetch_align(int on);
// qmat_gevm_rows with the same software prefetch (1, default) or without (0; A/B runs). Returns the old setting.
int qmat_set_gevm_prefetch(int on);
// qmat_gevm_rows on int4 with integer products (1, default: the factors x[i]·scale quantized to int8, see below) or
// with the weights decoded to FP32 (0: the older kernel, for A/B runs; its reference is the int8-factor one).
int qmat_set_gevm_int4(int on);
// Tuning knob (benchmarks, tests): int4 at 2-4 x rows through the small-N kernel row_i4n (1, default; 2 and 3: other
// W row groupings) or the general row kernel row_int it replaced (0; paired A/B runs). int8 keeps row_int (a
// dedicated kernel measured 0.86-0.97x). Returns the old value.
int qmat_set_smalln(int variant);
// Plain scalar reference with the same numerics contract (I8/I4 quantize x to A8 too).
void qmat_matmul_ref(const QMatrix *W, const float *x, int N, float *y);

// Row ranges of W for one activation vector, on the calling thread only (MLA's per-head slices of
// kv_b in absorbed decode; call them from a parallel loop over heads):
// y [n] = W[r0 .. r0+n) · x, x [cols]. Same numerics as qmat_matmul (I8/I4: x quantized to A8).
void qmat_gemv_rows(const QMatrix *W, int r0, int n, const float *x, float *y);
// y [cols] = Σ_{i<n} x[i] · W[r0 + i, :], x [n] (the transposed product xᵀ·W over a row range);
// weights decoded to FP32 in registers, x stays FP32, FP32 accumulation. int4: integer products instead — per
// 32-column block the factors x[i] · scale[r0+i, block] are quantized to int8 over the n rows (A8-style, max/127,
// nearest even) and multiply the nibbles in vpmaddubsw, int32 sums (2.3x the FP32 decode with W in cache).
void qmat_gevm_rows(const QMatrix *W, int r0, int n, const float *x, float *y);
void qmat_gevm_rows_ref(const QMatrix *W, int r0, int n, const float *x, float *y);   // scalar twin
