// rmsnorm.h — RMSNorm over rows: y = w ⊙ x / sqrt(mean(x²) + eps), in FP32.
#pragma once

// y[N, C] = rmsnorm(x[N, C]) * w[C]; rstd[N] saved for backward (may be NULL).
// x and y rows have strides ldx and ldy (floats), so slices of wider rows work.
void rmsnorm_fwd(float *y, int ldy, float *rstd, const float *x, int ldx, const float *w, int N, int C, float eps);
// dx[N, C] += ∂/∂x; dw[C] += ∂/∂w (dw may be NULL). dy rows have stride ldy.
void rmsnorm_bwd(float *dx, int lddx, float *dw, const float *dy, int ldy, const float *x, int ldx,
                 const float *w, const float *rstd, int N, int C);
