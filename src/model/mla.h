// mla.h — Multi-head Latent Attention (spec §2), training form: forward over
// B sequences of T tokens with the activations backward needs, and backward.
#pragma once
#include "model/config.h"
#include "model/model.h"

// Saved activations of one MLA layer; N = B*T rows. Allocated by the caller
// (mla_acts_floats tells how many floats; mla_acts_bind carves them).
typedef struct {
    float *cq_raw, *cq, *rstd_q;  // [N, rq], [N, rq], [N]         (rq > 0)
    float *q;                     // [N, H*dqk]  per head [nope | rope], rope part rotated
    float *kva;                   // [N, rkv+dr] kv_a_proj output (k_pe part not rotated)
    float *ckv, *rstd_kv;         // [N, rkv], [N]                 normalized latent
    float *kpe;                   // [N, dr]     rotated shared rope key
    float *kv;                    // [N, H*(dn+dv)] per head [k_nope | v]
    float *P;                     // [B, H, T, T] attention probabilities (causal)
    float *o;                     // [N, H*dv]   attention output before o_proj
} MlaActs;

size_t mla_acts_floats(const Config *c, int B, int T);
void mla_acts_bind(const Config *c, int B, int T, float *mem, MlaActs *a);

// out[N, D] = MLA(xn[N, D]); cos/sin: rope tables [T, dr/2] for positions 0..T-1.
void mla_train_forward(const Config *c, const LayerW *w, const float *xn, int B, int T,
                 const float *cos_t, const float *sin_t, MlaActs *a, float *out);
// dxn[N, D] += ∂L/∂xn; gradients of the layer's attention weights accumulate into g.
// scratch: mla_scratch_floats(c, B, T) floats.
size_t mla_scratch_floats(const Config *c, int B, int T);
void mla_train_backward(const Config *c, const LayerW *w, LayerW *g, const float *xn, int B, int T,
                  const float *cos_t, const float *sin_t, const MlaActs *a, const float *dout,
                  float *dxn, float *scratch);
