// linear.h — one projection of the inference engine: y = W x for a weight
// W [rows, cols] held as a QMatrix (kernels/qmatmul.h: FP32, BF16, FP8 128x128
// blocks, int8 / int4 32-blocks), owned or a view into mapped safetensors.
#pragma once
#include <stddef.h>
#include "kernels/qmatmul.h"

typedef struct {
    int rows, cols;      // W [rows, cols] ("[out, in]", as on disk)
    QMatrix q;
} Lin;

// Take ownership of an FP32 matrix [rows, cols] (heap, freed by lin_free).
void lin_init_f32(Lin *l, int rows, int cols, float *w);
// Take ownership of a QMatrix (owning or view).
void lin_init_q(Lin *l, QMatrix q);
void lin_free(Lin *l);
// Re-encode W in type t (no-op if already t). Fails when the shape does not allow t.
int lin_convert(Lin *l, QType t);
// y[N, rows] = x[N, cols] · Wᵀ (all threads, or the calling thread inside a parallel region).
void lin_apply(const Lin *l, const float *x, int N, float *y);
// Bytes the weights occupy (what one pass over them reads); 0 for an empty Lin.
size_t lin_bytes(const Lin *l);
// W in FP32 [rows, cols] (dequantized) into out.
void lin_to_f32(const Lin *l, float *out);
