// rmsnorm.c — RMSNorm forward and backward.
#include "kernels/rmsnorm.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void rmsnorm_fwd(float *y, int ldy, float *rstd, const float *x, int ldx, const float *w, int N, int C, float eps) {
    #pragma omp parallel for if ((long)N * C > 32768)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (long)n * ldx;
        float *yr = y + (long)n * ldy;
        double ss = 0;
        for (int i = 0; i < C; i++) ss += (double)xr[i] * xr[i];
        float r = (float)(1.0 / sqrt(ss / C + eps));
        if (rstd) rstd[n] = r;
        for (int i = 0; i < C; i++) yr[i] = w[i] * (xr[i] * r);
    }
}

// dx = r (w ⊙ dy) − x r³ (1/C) Σ_j w_j dy_j x_j ;  dw += dy ⊙ x r
void rmsnorm_bwd(float *dx, int lddx, float *dw, const float *dy, int ldy, const float *x, int ldx,
                 const float *w, const float *rstd, int N, int C) {
    #pragma omp parallel for if ((long)N * C > 32768)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (long)n * ldx, *dyr = dy + (long)n * ldy;
        float *dxr = dx + (long)n * lddx;
        float r = rstd[n];
        double dot = 0;
        for (int i = 0; i < C; i++) dot += (double)w[i] * dyr[i] * xr[i];
        float c = (float)(dot / C) * r * r * r;
        for (int i = 0; i < C; i++) dxr[i] += r * w[i] * dyr[i] - c * xr[i];
    }
    if (dw) {
        // column sums: parallel over columns keeps it deterministic
        #pragma omp parallel for if ((long)N * C > 32768)
        for (int i = 0; i < C; i++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += (double)dy[(long)n * ldy + i] * x[(long)n * ldx + i] * rstd[n];
            dw[i] += (float)s;
        }
    }
}
