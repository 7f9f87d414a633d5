#!/usr/bin/env python3
"""PyTorch's FP32 matmul (MKL in the x86 wheels) on bench/gemm.c's shapes, best of R, for comparison with its table.
   python3 bench/gemm_torch.py [--threads T (1)] [--reps R (5)]"""
import argparse
import time

import torch

SHAPES = [(256, 8192, 256, 0, 1), (8192, 256, 4096, 1, 0), (4096, 256, 8192, 0, 0), (4096, 512, 256, 0, 1),
          (512, 256, 4096, 1, 0), (4096, 256, 512, 0, 0), (4096, 512, 128, 0, 1), (1024, 256, 256, 0, 1),
          (64, 512, 96, 0, 1), (64, 64, 512, 0, 0)]

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--reps", type=int, default=5)
args = ap.parse_args()
torch.set_num_threads(args.threads)
print(f"# PyTorch {torch.__version__} matmul FP32, {args.threads} thread(s), best of {args.reps}")
print("| shape M x N x K | op | torch GFLOP/s |\n|---|---|---|")
for M, N, K, ta, tb in SHAPES:
    a = torch.randn(K, M).t() if ta else torch.randn(M, K)      # op(A) [M, K] stored as A [K, M] when ta
    b = torch.randn(N, K).t() if tb else torch.randn(K, N)
    best = 1e30
    for r in range(args.reps + 1):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        t = time.perf_counter() - t0
        if r > 0:
            best = min(best, t)
    print(f"| {M} x {N} x {K} | {'T' if ta else 'N'}{'T' if tb else 'N'} | {2.0 * M * N * K / best / 1e9:.1f} |")
