// moe.h — DeepSeekMoE (spec §3): router (V3 sigmoid + correction bias +
// group-limited top-k; V2 softmax greedy / group-limited greedy), shared experts,
// fine-grained routed SwiGLU experts; the sequence-wise balance loss; forward
// and backward for training. Also the dense SwiGLU FFN (same code, one expert).
#pragma once
#include "model/config.h"
#include "model/model.h"
#include <stdint.h>

typedef struct {
    float *scores;       // [N, E] affinities s (sigmoid or softmax of the router logits)
    int32_t *topk;       // [N, K] selected experts
    float *gates;        // [N, K] gate values g (normalized if configured, times routed scale)
    int32_t *slot_row;   // [N*K] row of slot (n, k) in expert order
    int32_t *row_slot;   // [N*K] inverse: slot n*K+k of a row
    int32_t *start;      // [E+1] first row of each expert
    float *a, *b;        // [N*K, Im] expert gate/up pre-activations (expert order)
    float *ye;           // [N*K, D] expert outputs before gating (expert order)
    float *x;            // [N*K, D] expert inputs: the token rows gathered in expert order
    float *sa, *sb;      // [N, S*Im] shared experts' gate/up pre-activations
} MoeActs;

size_t moe_acts_bytes(const Config *c, int N);
void moe_acts_bind(const Config *c, int N, void *mem, MoeActs *a);

// The router alone: scores, top-k and gates for u[N, D] (used by inference too).
// bias may be NULL. scores [N, E], topk [N, K], gates [N, K].
void moe_train_route(const Config *c, const float *router, const float *bias, const float *u, int N,
               float *scores, int32_t *topk, float *gates);

// y[N, D] = MoE(u[N, D]); load[E] += (token, slot) counts; returns Σ over the B
// sequences' balance terms Σ_i f_i P_i divided by B (the layer's balance loss).
double moe_train_forward(const Config *c, const LayerW *w, const float *u, int B, int T, MoeActs *a,
                   float *y, int32_t *load);
// du[N, D] += ∂L/∂u; weight gradients into g. alpha = weight of the balance loss.
size_t moe_scratch_floats(const Config *c, int N);
void moe_train_backward(const Config *c, const LayerW *w, LayerW *g, const float *u, int B, int T,
                  const MoeActs *a, const float *dy, float alpha, float *du, float *scratch);

// Dense SwiGLU FFN of width I: y = down(silu(gate u) ⊙ up u). a, b: [N, I] saved.
void ffn_train_forward(const float *gate, const float *up, const float *down, const float *u, int N, int D, int I,
                 float *a, float *b, float *h, float *y, float beta);
// du = du_beta·du + ∂L/∂u (du_beta 0 or 1), weight grads += ...; h and dh: [N, I] scratch.
void ffn_train_backward(const float *gate, const float *up, const float *down, float *ggate, float *gup, float *gdown,
                  const float *u, const float *a, const float *b, const float *dy, int N, int D, int I,
                  float *h, float *dh, float *da, float *db, float *du, float du_beta);
