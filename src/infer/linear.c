// linear.c — Lin: FP32 through BLAS (see linear.h).
#include "infer/linear.h"
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

void lin_init_f32(Lin *l, int rows, int cols, float *w) {
    l->rows = rows; l->cols = cols; l->w = w; l->q = NULL;
}

void lin_free(Lin *l) {
    free(l->w);
    l->w = NULL; l->q = NULL;
}

void lin_apply(const Lin *l, const float *x, int N, float *y) {
    if (N <= 0) return;
    if (N == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, l->rows, l->cols, 1.0f, l->w, l->cols, x, 1, 0.0f, y, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, l->rows, l->cols, 1.0f, x, l->cols,
                    l->w, l->cols, 0.0f, y, l->rows);
}

size_t lin_bytes(const Lin *l) { return (size_t)l->rows * l->cols * sizeof(float); }

void lin_to_f32(const Lin *l, float *out) {
    memcpy(out, l->w, (size_t)l->rows * l->cols * sizeof(float));
}
