// flops.h — arithmetic per training token and the machine's measured sgemm
// peak, for the MFU figure in the training logs and benchmarks.
#pragma once
#include "model/config.h"

// Multiply-adds ×2 of one training token (forward + backward = 3× forward):
// 6·(active matmul weights incl. the LM head and MTP) + attention scores and
// values over an average causal context of T/2: 6·L·H·(d_qk + d_v)·T/2.
double flops_per_token(const Config *c, int T);
// Active matmul weights per token (no embedding lookup, no norms).
double flops_active_matmul_params(const Config *c);
// Measured FP32 GEMM speed (FLOP/s) with the current OpenMP thread count:
// best of a few square sgemm calls (~0.1 s).
double flops_sgemm_peak(void);
