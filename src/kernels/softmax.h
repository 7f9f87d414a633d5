// softmax.h — row softmax and the cross-entropy loss over vocabulary rows.
#pragma once

// In place: x[n] = softmax(x[n]) (max-subtracted, FP32 with double sum).
void softmax_row(float *x, int n);
// Cross-entropy of logits rows [N, V] against targets[N] (target < 0 = ignored).
// Returns the SUM of losses over counted rows and sets *count. When dlogits is not
// NULL it receives scale · (softmax − onehot) for counted rows and 0 for ignored
// ones (dlogits may alias logits).
double cross_entropy(const float *logits, const int *targets, int N, int V, float *dlogits, float scale, int *count);
