// linear.h — one projection of the inference engine: y = W x for a weight
// W [rows, cols] stored as FP32 (the reference format) or, when the kernels
// library provides it, a quantized QMatrix. The engine only talks to Lin.
#pragma once
#include <stddef.h>

typedef struct {
    int rows, cols;      // W [rows, cols] ("[out, in]", as on disk)
    float *w;            // [rows, cols] FP32, owned (NULL when q is used)
    void *q;             // QMatrix* (kernels/qmatmul.h), owned, or NULL
} Lin;

// Take ownership of an FP32 matrix [rows, cols].
void lin_init_f32(Lin *l, int rows, int cols, float *w);
void lin_free(Lin *l);
// y[N, rows] = x[N, cols] · Wᵀ (uses all threads unless called inside a parallel region).
void lin_apply(const Lin *l, const float *x, int N, float *y);
// Bytes the weights occupy (what one pass over them reads).
size_t lin_bytes(const Lin *l);
// Copy W back to FP32 [rows, cols] (dequantizing if needed) into out.
void lin_to_f32(const Lin *l, float *out);
