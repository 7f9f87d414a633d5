// moe.h — DeepSeekMoE for inference (spec §3): the router (V3 sigmoid + bias,
// group-limited top-k with -inf masking, normalization, routed scale; V2
// softmax greedy / group_limited_greedy), routed experts run once per token
// with tokens grouped per expert and experts in parallel across threads, shared
// experts, and the dense SwiGLU FFN.
#pragma once
#include "infer/weights.h"

// Router: idx [N, K] expert ids, w [N, K] gate weights (scale included).
void moe_route(const Config *c, const float *router, const float *bias, const float *x, int N, int *idx, float *w);
// out[N, D] = MoE(x[N, D]) (routed + shared).
void moe_forward(const InferModel *m, const InferLayer *ly, const float *x, int N, float *out);
// out[N, D] = down(silu(gate x) * up x).
void ffn_forward(const Lin *g, const Lin *u, const Lin *d, const float *x, int N, float *out);
