// mha.c — multi-head attention baseline (for the MLA-vs-MHA ablation).
//   q = xn W_qᵀ, k = xn W_kᵀ (per head [nope | rope]), v = xn W_vᵀ; RoPE on the rope
//   part of every head's q and k; causal softmax attention; out = o W_oᵀ.
#include "model/mha.h"
#include "kernels/gemm.h"
#include "kernels/rope.h"
#include "model/attention.h"
#include <string.h>

typedef struct { int N, D, H, dn, dr, dv, dqk, qw, kvw, ow; } Dims;

static Dims dims(const Config *c, int B, int T) {
    Dims d;
    d.N = B * T; d.D = c->hidden_size; d.H = c->num_attention_heads;
    d.dn = c->qk_nope_head_dim; d.dr = c->qk_rope_head_dim; d.dv = c->v_head_dim;
    d.dqk = d.dn + d.dr; d.qw = d.H * d.dqk; d.kvw = d.H * (d.dn + d.dv); d.ow = d.H * d.dv;
    return d;
}

size_t mha_acts_floats(const Config *c, int B, int T) {
    Dims d = dims(c, B, T);
    size_t N = d.N;
    return N * d.qw + N * d.kvw + N * d.H * d.dr + (size_t)B * d.H * T * T + N * d.ow + N * d.qw + N * d.ow;
}

void mha_acts_bind(const Config *c, int B, int T, float *m, MhaActs *a) {
    Dims d = dims(c, B, T);
    size_t N = d.N;
    a->q = m; m += N * d.qw;
    a->kv = m; m += N * d.kvw;
    a->kpe = m; m += N * d.H * d.dr;
    a->P = m; m += (size_t)B * d.H * T * T;
    a->o = m; m += N * d.ow;
    a->k = m; m += N * d.qw;
    a->v = m;
}

size_t mha_scratch_floats(const Config *c, int B, int T) {
    Dims d = dims(c, B, T);
    size_t N = d.N;
    AttnShape s = {B, T, d.H, d.dn, d.dr, d.dv, 0, 0, 0};
    // dO, dq, dkv, dkpe_h, dk (full), dv, + core scratch
    return N * d.ow + N * d.qw + N * d.kvw + N * d.H * d.dr + N * d.qw + N * d.ow + attn_core_scratch_floats(&s);
}

void mha_train_forward(const Config *c, const LayerW *w, const float *xn, int B, int T,
                       const float *cos_t, const float *sin_t, MhaActs *a, float *out) {
    Dims d = dims(c, B, T);
    int N = d.N, half = d.dr / 2;
    linear_fwd(a->q, xn, w->q, N, d.D, d.qw, 0);                               // [N, H*dqk]
    float *k = a->k, *v = a->v;
    linear_fwd(k, xn, w->k_proj, N, d.D, d.qw, 0);                             // [N, H*dqk]
    linear_fwd(v, xn, w->v_proj, N, d.D, d.ow, 0);                             // [N, H*dv]
    #pragma omp parallel for if ((long)N * d.qw > 32768)
    for (int n = 0; n < N; n++) {
        int t = n % T;
        const float *cr = cos_t + (long)t * half, *sr = sin_t + (long)t * half;
        for (int h = 0; h < d.H; h++) {
            const float *kh = k + (long)n * d.qw + h * d.dqk;
            float *kvh = a->kv + (long)n * d.kvw + h * (d.dn + d.dv);
            memcpy(kvh, kh, sizeof(float) * d.dn);
            memcpy(kvh + d.dn, v + (long)n * d.ow + h * d.dv, sizeof(float) * d.dv);
            float *pe = a->kpe + ((long)n * d.H + h) * d.dr;
            memcpy(pe, kh + d.dn, sizeof(float) * d.dr);
            rope_rotate(pe, cr, sr, d.dr, 0);
            rope_rotate(a->q + (long)n * d.qw + h * d.dqk + d.dn, cr, sr, d.dr, 0);
        }
    }
    AttnShape s = {B, T, d.H, d.dn, d.dr, d.dv, config_softmax_scale(c), d.H * d.dr, d.dr};
    attn_core_fwd(&s, a->q, a->kv, a->kpe, a->P, a->o);
    linear_fwd(out, a->o, w->o, N, d.ow, d.D, 0);                              // [N, D]
}

void mha_train_backward(const Config *c, const LayerW *w, LayerW *g, const float *xn, int B, int T,
                        const float *cos_t, const float *sin_t, const MhaActs *a, const float *dout,
                        float *dxn, float *scratch) {
    Dims d = dims(c, B, T);
    int N = d.N, half = d.dr / 2;
    float *dO = scratch;                               // [N, H*dv]
    float *dq = dO + (size_t)N * d.ow;                 // [N, H*dqk]
    float *dkv = dq + (size_t)N * d.qw;                // [N, H*(dn+dv)]
    float *dpe = dkv + (size_t)N * d.kvw;              // [B, H, T, dr]
    float *dk = dpe + (size_t)N * d.H * d.dr;          // [N, H*dqk]
    float *dv = dk + (size_t)N * d.qw;                 // [N, H*dv]
    float *core = dv + (size_t)N * d.ow;
    linear_bwd_w(g->o, dout, a->o, N, d.ow, d.D);
    linear_bwd_x(dO, dout, w->o, N, d.ow, d.D, 0);
    AttnShape s = {B, T, d.H, d.dn, d.dr, d.dv, config_softmax_scale(c), d.H * d.dr, d.dr};
    attn_core_bwd(&s, a->q, a->kv, a->kpe, a->P, dO, dq, dkv, dpe, core);
    #pragma omp parallel for if ((long)N * d.qw > 32768)
    for (int n = 0; n < N; n++) {
        int b = n / T, t = n % T;
        const float *cr = cos_t + (long)t * half, *sr = sin_t + (long)t * half;
        for (int h = 0; h < d.H; h++) {
            float *dkh = dk + (long)n * d.qw + h * d.dqk;
            const float *dkvh = dkv + (long)n * d.kvw + h * (d.dn + d.dv);
            memcpy(dkh, dkvh, sizeof(float) * d.dn);
            memcpy(dv + (long)n * d.ow + h * d.dv, dkvh + d.dn, sizeof(float) * d.dv);
            memcpy(dkh + d.dn, dpe + (((long)b * d.H + h) * T + t) * d.dr, sizeof(float) * d.dr);
            rope_rotate(dkh + d.dn, cr, sr, d.dr, 1);
            rope_rotate(dq + (long)n * d.qw + h * d.dqk + d.dn, cr, sr, d.dr, 1);
        }
    }
    linear_bwd_w(g->q, dq, xn, N, d.D, d.qw);
    linear_bwd_w(g->k_proj, dk, xn, N, d.D, d.qw);
    linear_bwd_w(g->v_proj, dv, xn, N, d.D, d.ow);
    linear_bwd_x(dxn, dq, w->q, N, d.D, d.qw, 1);
    linear_bwd_x(dxn, dk, w->k_proj, N, d.D, d.qw, 1);
    linear_bwd_x(dxn, dv, w->v_proj, N, d.D, d.ow, 1);
}
