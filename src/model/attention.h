// attention.h — the causal attention core shared by MLA and the MHA baseline:
// per (sequence, head) S = scale·(q_nope k_nopeᵀ + q_pe k_peᵀ), causal softmax,
// o = P v; and its backward. Rows are tokens, N = B*T.
#pragma once
#include <stddef.h>

typedef struct {
    int B, T, H, dn, dr, dv;  // batch, tokens, heads, nope / rope / value head dims
    float scale;              // softmax scale (d_qk^-1/2 · m²)
    int kpe_ld, kpe_hs;       // rope-key row stride and head stride (hs 0: one key shared by all heads)
} AttnShape;

// q [N, H*(dn+dr)] per head [nope | rope]; kv [N, H*(dn+dv)] per head [k_nope | v];
// kpe rope keys; P [B, H, T, T] out; o [N, H*dv] out.
void attn_core_fwd(const AttnShape *s, const float *q, const float *kv, const float *kpe, float *P, float *o);
// dO [N, H*dv] in; dq [N, H*(dn+dr)], dkv [N, H*(dn+dv)] out (overwritten);
// dkpe_h [B, H, T, dr] per-head rope-key gradients out (the caller sums heads for a shared key);
// scratch: attn_core_scratch_floats() floats.
size_t attn_core_scratch_floats(const AttnShape *s);
void attn_core_bwd(const AttnShape *s, const float *q, const float *kv, const float *kpe, const float *P,
                   const float *dO, float *dq, float *dkv, float *dkpe_h, float *scratch);
