// lanegemm.h — prefill GEMM with x rows in vector lanes: y [N, R] = x · Wᵀ for many x rows and int8, int4, bf16 or
// fp8 weights. Each 8-lane vector holds one column of 8 x rows; a W value is broadcast and multiplied into it, so an
// output lands in a lane with no horizontal reduction and a block scale costs one FMA per 8 outputs. W is prepared
// per panel of 24 rows (widened / unpacked / decoded), x once per call for all panels.
//   int8: same numerics as the matvec kernels up to float summation order: x rows quantized to A8 (quant.h), integer
//         products summed exactly per 32-block, each block scaled by d_w·d_a in FP32. x codes packed as int16 pairs
//         of 8 rows [N/8][C/2][8][2]; W rows widened to int16; vpmaddwd of a broadcast W pair against 8 rows.
//   int4: x codes packed as int8 quads of 8 rows [N/8][C/4][8][4]; W nibbles unpacked to bytes 0..15; vpmaddubsw of a
//         broadcast W quad against 8 rows, 8 quads summed in int16 (|sum| <= 8 · 2 · 15 · 127 < 2^15) before one
//         vpmaddwd; the nibble offset 8 is removed per block with the x block sums.
//   int8 and int4 on CPUs with VNNI (AVX512-VNNI + VL, or AVX-VNNI; chosen at compile time): one kernel, x codes as int8
//         quads, W as unsigned bytes (int4 nibbles; int8 w + 128, the offset removed per block like int4's), vpdpbusd
//         of a broadcast W quad against 8 rows straight into int32. Same values as the kernels above.
//   bf16, fp8: x in FP32 transposed to [N/8][C8][8] (C8 = C rounded up to 8, zero padded); W rows decoded to FP32
//         (fp8 times its 128x128 block scale); FMA of a broadcast W value against 8 rows, 6 W rows x 16 x rows per tile.
//         With AVX-512: x in column pairs [N/8][C8/2][8][2], a broadcast W pair against 8 rows x 2 columns per 16-lane
//         FMA, 6 W rows x 32 x rows per tile, the even and odd column sums added at the end of a tile.
#pragma once
#include "kernels/qmatmul.h"

// y [N, W->rows] = x [N, W->cols] · Wᵀ for W of type QT_I8, QT_I4 (A8 activations), QT_BF16 or QT_FP8. OpenMP over W
// row panels (runs on the calling thread inside a parallel region). AVX2 + FMA + F16C builds only: qmatmul.c calls it
// under the same #if; elsewhere it stops with a message.
void qmat_lanegemm(const QMatrix *W, const float *x, int N, float *y);
// The same for nw (<= 8) matrices of one type and the same cols sharing x (x quantized / packed once).
void qmat_lanegemm_multi(const QMatrix *const *W, int nw, const float *x, int N, float *const *y);
