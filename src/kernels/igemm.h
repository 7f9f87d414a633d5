// igemm.h — integer GEMM for prefill with int8/int4 weights: y [N, R] = A8(x) · Wᵀ for many x rows.
//
// Same numerics as the matvec kernels up to float summation order: x rows quantized to A8 (quant.h), integer
// products summed exactly per 32-block, each block scaled by d_w·d_a in FP32. The layout is turned around
// compared with the matvec kernels: each vector lane is one x row, so a block's integer sum lands in a lane
// with no horizontal reduction and its scale costs one FMA per 8 outputs.
//   int8: x codes packed as int16 pairs of 8 rows [N/8][C/2][8][2]; W rows widened to int16 per panel;
//         vpmaddwd of a broadcast W pair against 8 rows (16 MACs per multiply uop, exact, no sign trick).
//   int4: x codes packed as int8 quads of 8 rows [N/8][C/4][8][4]; W nibbles unpacked to bytes 0..15 per
//         panel; vpmaddubsw of a broadcast W quad against 8 rows, 8 quads summed in int16 (|sum| <= 8 · 2 ·
//         15 · 127 < 2^15) before one vpmaddwd; the nibble offset 8 is removed per block with the x block sums.
#pragma once
#include "kernels/qmatmul.h"

// 1 when this build has the AVX2 kernels (otherwise qmat_igemm must not be called).
int igemm_available(void);
// y [N, W->rows] = A8(x [N, W->cols]) · Wᵀ for W of type QT_I8 or QT_I4. OpenMP over W row panels (runs on the
// calling thread inside a parallel region).
void qmat_igemm(const QMatrix *W, const float *x, int N, float *y);
// The same for nw matrices of the same cols sharing x (x quantized and packed once).
void qmat_igemm_multi(const QMatrix *const *W, int nw, const float *x, int N, float *const *y);
