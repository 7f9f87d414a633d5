// linear.c — Lin over QMatrix (see linear.h).
#include "infer/linear.h"
#include <stdlib.h>
#include <string.h>
#include "base/check.h"

void lin_init_f32(Lin *l, int rows, int cols, float *w) {
    memset(l, 0, sizeof *l);
    l->rows = rows; l->cols = cols;
    l->q.type = QT_F32; l->q.rows = rows; l->q.cols = cols; l->q.data = w; l->q.scale = NULL; l->q.owns = 1;
}

void lin_init_q(Lin *l, QMatrix q) {
    l->rows = q.rows; l->cols = q.cols; l->q = q;
}

void lin_free(Lin *l) {
    if (l->q.data) qmat_free(&l->q);
    memset(l, 0, sizeof *l);
}

int lin_convert(Lin *l, QType t) {
    if (!l->q.data || l->q.type == t) return 0;
    float *w = xmalloc(sizeof(float) * (size_t)l->rows * l->cols);
    qmat_to_f32(&l->q, w);
    QMatrix n;
    if (qmat_from_f32(&n, w, l->rows, l->cols, t) < 0) { free(w); return -1; }
    free(w);
    qmat_free(&l->q);
    l->q = n;
    return 0;
}

void lin_apply(const Lin *l, const float *x, int N, float *y) {
    if (N > 0) qmat_matmul(&l->q, x, N, y);
}

size_t lin_bytes(const Lin *l) { return l->q.data ? qmat_bytes(&l->q) : 0; }

void lin_to_f32(const Lin *l, float *out) { qmat_to_f32(&l->q, out); }
