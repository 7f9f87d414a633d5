// mha.h — plain multi-head attention with the same heads and head dims as MLA
// (q/k per head [nope | rope], per-head RoPE keys, values of v_head_dim): the
// baseline of the `--attn mha` ablation. Forward and backward for training.
#pragma once
#include "model/config.h"
#include "model/model.h"

typedef struct {
    float *q;     // [N, H*dqk]     rope part rotated
    float *kv;    // [N, H*(dn+dv)] per head [k_nope | v]
    float *kpe;   // [N, H*dr]      rotated per-head rope keys
    float *P;     // [B, H, T, T]
    float *o;     // [N, H*dv]
    float *k, *v; // [N, H*dqk], [N, H*dv] projections before packing
} MhaActs;

size_t mha_acts_floats(const Config *c, int B, int T);
void mha_acts_bind(const Config *c, int B, int T, float *mem, MhaActs *a);
void mha_train_forward(const Config *c, const LayerW *w, const float *xn, int B, int T,
                       const float *cos_t, const float *sin_t, MhaActs *a, float *out);
size_t mha_scratch_floats(const Config *c, int B, int T);
void mha_train_backward(const Config *c, const LayerW *w, LayerW *g, const float *xn, int B, int T,
                        const float *cos_t, const float *sin_t, const MhaActs *a, const float *dout,
                        float *dxn, float *scratch);
