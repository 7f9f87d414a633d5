// rmsnorm.c — RMSNorm forward and backward.
#include "kernels/rmsnorm.h"
#include <math.h>
#include <stdio.h>
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
        // dw[i] = Σ_n dy[n,i] x[n,i] rstd[n]: row-major passes over fixed row chunks,
        // partial sums added in chunk order (deterministic for any thread count)
        enum { CHUNKS = 16 };
        double *part = calloc((size_t)CHUNKS * C, sizeof(double));
        if (!part) { fprintf(stderr, "deepc: error: out of memory in rmsnorm_bwd\n"); exit(1); }
        #pragma omp parallel for if ((long)N * C > 32768)
        for (int k = 0; k < CHUNKS; k++) {
            double *pk = part + (size_t)k * C;
            for (int n = (int)((long)N * k / CHUNKS); n < (int)((long)N * (k + 1) / CHUNKS); n++) {
                const float *dyr = dy + (long)n * ldy, *xr = x + (long)n * ldx;
                float r = rstd[n];
                for (int i = 0; i < C; i++) pk[i] += (double)(dyr[i] * xr[i] * r);
            }
        }
        for (int k = 0; k < CHUNKS; k++)
            for (int i = 0; i < C; i++) dw[i] += (float)part[(size_t)k * C + i];
        free(part);
    }
}
