// mla.c — Multi-head Latent Attention forward and backward (naive/training form).
//
//   cq  = RMSNorm(xn W_qaᵀ)                      [N, rq]      (or q = xn W_qᵀ)
//   q   = cq W_qbᵀ → per head [q_nope | q_pe]    [N, H, dn+dr], q_pe rotated
//   kva = xn W_kvaᵀ → c_kv_raw | k_pe_raw        [N, rkv + dr]
//   ckv = RMSNorm(c_kv_raw);  kpe = RoPE(k_pe_raw) (one key shared by all heads)
//   kv  = ckv W_kvbᵀ → per head [k_nope | v]     [N, H, dn+dv]
//   S   = scale (q_nope k_nopeᵀ + q_pe kpeᵀ), causal softmax → P;  o = P v
//   out = o W_oᵀ                                 [N, D]
#include "model/mla.h"
#include "model/attention.h"
#include "kernels/gemm.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include <math.h>
#include <omp.h>
#include <string.h>

typedef struct { int N, D, H, rq, rkv, dn, dr, dv, dqk, qw, kvw; } Dims;

static Dims dims(const Config *c, int B, int T) {
    Dims d;
    d.N = B * T; d.D = c->hidden_size; d.H = c->num_attention_heads;
    d.rq = c->q_lora_rank; d.rkv = c->kv_lora_rank;
    d.dn = c->qk_nope_head_dim; d.dr = c->qk_rope_head_dim; d.dv = c->v_head_dim;
    d.dqk = d.dn + d.dr; d.qw = d.H * d.dqk; d.kvw = d.H * (d.dn + d.dv);
    return d;
}

size_t mla_acts_floats(const Config *c, int B, int T) {
    Dims d = dims(c, B, T);
    size_t N = d.N;
    return N * (2 * (size_t)d.rq + 1) + N * d.qw + N * (d.rkv + d.dr) + N * (d.rkv + 1) + N * d.dr +
           N * d.kvw + (size_t)B * d.H * T * T + N * d.H * d.dv;
}

void mla_acts_bind(const Config *c, int B, int T, float *m, MlaActs *a) {
    Dims d = dims(c, B, T);
    size_t N = d.N;
    a->cq_raw = m; m += N * d.rq;
    a->cq = m; m += N * d.rq;
    a->rstd_q = m; m += N;
    a->q = m; m += N * d.qw;
    a->kva = m; m += N * (d.rkv + d.dr);
    a->ckv = m; m += N * d.rkv;
    a->rstd_kv = m; m += N;
    a->kpe = m; m += N * d.dr;
    a->kv = m; m += N * d.kvw;
    a->P = m; m += (size_t)B * d.H * T * T;
    a->o = m;
}

void mla_train_forward(const Config *c, const LayerW *w, const float *xn, int B, int T,
                 const float *cos_t, const float *sin_t, MlaActs *a, float *out) {
    Dims d = dims(c, B, T);
    int N = d.N, half = d.dr / 2;
    float eps = c->rms_norm_eps, scale = config_softmax_scale(c);
    // queries
    if (d.rq > 0) {
        linear_fwd(a->cq_raw, xn, w->q_a, N, d.D, d.rq, 0);                   // [N, rq]
        rmsnorm_fwd(a->cq, d.rq, a->rstd_q, a->cq_raw, d.rq, w->q_a_norm, N, d.rq, eps);
        linear_fwd(a->q, a->cq, w->q_b, N, d.rq, d.qw, 0);                    // [N, H*dqk]
    } else {
        linear_fwd(a->q, xn, w->q, N, d.D, d.qw, 0);
    }
    // compressed keys/values
    linear_fwd(a->kva, xn, w->kv_a, N, d.D, d.rkv + d.dr, 0);                 // [N, rkv+dr]
    rmsnorm_fwd(a->ckv, d.rkv, a->rstd_kv, a->kva, d.rkv + d.dr, w->kv_a_norm, N, d.rkv, eps);
    linear_fwd(a->kv, a->ckv, w->kv_b, N, d.rkv, d.kvw, 0);                   // [N, H*(dn+dv)]
    // RoPE on q_pe (every head) and the shared k_pe
    #pragma omp parallel for if ((long)N * d.qw > 32768)
    for (int n = 0; n < N; n++) {
        int t = n % T;
        const float *cr = cos_t + (long)t * half, *sr = sin_t + (long)t * half;
        memcpy(a->kpe + (long)n * d.dr, a->kva + (long)n * (d.rkv + d.dr) + d.rkv, sizeof(float) * d.dr);
        rope_rotate(a->kpe + (long)n * d.dr, cr, sr, d.dr, 0);
        for (int h = 0; h < d.H; h++) rope_rotate(a->q + (long)n * d.qw + h * d.dqk + d.dn, cr, sr, d.dr, 0);
    }
    // attention per (sequence, head); one rope key shared by all heads
    AttnShape as = {B, T, d.H, d.dn, d.dr, d.dv, scale, d.dr, 0};
    attn_core_fwd(&as, a->q, a->kv, a->kpe, a->P, a->o);
    linear_fwd(out, a->o, w->o, N, d.H * d.dv, d.D, 0);                       // [N, D]
}

size_t mla_scratch_floats(const Config *c, int B, int T) {
    Dims d = dims(c, B, T);
    size_t N = d.N;
    int wide = d.rkv > d.rq ? d.rkv : d.rq;
    // dO, dq, dkv, dkpe per head, dkva, dcq, dlatent, + per-thread dP [T, T]
    return N * d.H * d.dv + N * d.qw + N * d.kvw + N * (size_t)d.H * d.dr + N * (d.rkv + d.dr) +
           N * (size_t)(d.rq > 0 ? d.rq : 0) + N * (size_t)wide + attn_core_scratch_floats(&(AttnShape){B, T, d.H, d.dn, d.dr, d.dv, 0, 0, 0});
}

void mla_train_backward(const Config *c, const LayerW *w, LayerW *g, const float *xn, int B, int T,
                  const float *cos_t, const float *sin_t, const MlaActs *a, const float *dout,
                  float *dxn, float *scratch) {
    Dims d = dims(c, B, T);
    int N = d.N, half = d.dr / 2, ow = d.H * d.dv;
    float scale = config_softmax_scale(c);
    float *dO = scratch;                          // [N, H*dv]
    float *dq = dO + (size_t)N * ow;              // [N, H*dqk]
    float *dkv = dq + (size_t)N * d.qw;           // [N, H*(dn+dv)]
    float *dkpe_h = dkv + (size_t)N * d.kvw;      // [B, H, T, dr] per-head k_pe grads
    float *dkva = dkpe_h + (size_t)N * d.H * d.dr;// [N, rkv+dr]
    float *dcq = dkva + (size_t)N * (d.rkv + d.dr); // [N, rq]
    float *dlat = dcq + (size_t)N * (d.rq > 0 ? d.rq : 0);  // [N, max(rkv, rq)]
    float *dPall = dlat + (size_t)N * (d.rkv > d.rq ? d.rkv : d.rq);  // [threads, T, T]

    // out = o W_oᵀ
    linear_bwd_w(g->o, dout, a->o, N, ow, d.D);
    linear_bwd_x(dO, dout, w->o, N, ow, d.D, 0);

    AttnShape as = {B, T, d.H, d.dn, d.dr, d.dv, scale, d.dr, 0};
    attn_core_bwd(&as, a->q, a->kv, a->kpe, a->P, dO, dq, dkv, dkpe_h, dPall);
    // k_pe is shared by all heads: sum the per-head gradients, then undo the rotation;
    // q_pe: undo the rotation in place.
    #pragma omp parallel for if ((long)N * d.qw > 32768)
    for (int n = 0; n < N; n++) {
        int b = n / T, t = n % T;
        const float *cr = cos_t + (long)t * half, *sr = sin_t + (long)t * half;
        float *dk = dkva + (long)n * (d.rkv + d.dr) + d.rkv;
        for (int i = 0; i < d.dr; i++) dk[i] = 0;
        for (int h = 0; h < d.H; h++) {
            const float *src = dkpe_h + (((long)b * d.H + h) * T + t) * d.dr;
            for (int i = 0; i < d.dr; i++) dk[i] += src[i];
        }
        rope_rotate(dk, cr, sr, d.dr, 1);
        for (int h = 0; h < d.H; h++) rope_rotate(dq + (long)n * d.qw + h * d.dqk + d.dn, cr, sr, d.dr, 1);
        for (int i = 0; i < d.rkv; i++) dkva[(long)n * (d.rkv + d.dr) + i] = 0;
    }
    // kv = ckv W_kvbᵀ ; ckv = RMSNorm(kva[:, :rkv])
    linear_bwd_w(g->kv_b, dkv, a->ckv, N, d.rkv, d.kvw);
    float *dckv = dlat;                                         // [N, rkv]
    linear_bwd_x(dckv, dkv, w->kv_b, N, d.rkv, d.kvw, 0);
    rmsnorm_bwd(dkva, d.rkv + d.dr, g->kv_a_norm, dckv, d.rkv, a->kva, d.rkv + d.dr, w->kv_a_norm, a->rstd_kv, N, d.rkv);
    linear_bwd_w(g->kv_a, dkva, xn, N, d.D, d.rkv + d.dr);
    linear_bwd_x(dxn, dkva, w->kv_a, N, d.D, d.rkv + d.dr, 1);
    // queries
    if (d.rq > 0) {
        linear_bwd_w(g->q_b, dq, a->cq, N, d.rq, d.qw);
        float *dcqn = dlat;                               // [N, rq] (dckv no longer needed)
        linear_bwd_x(dcqn, dq, w->q_b, N, d.rq, d.qw, 0);
        memset(dcq, 0, sizeof(float) * (size_t)N * d.rq);
        rmsnorm_bwd(dcq, d.rq, g->q_a_norm, dcqn, d.rq, a->cq_raw, d.rq, w->q_a_norm, a->rstd_q, N, d.rq);
        linear_bwd_w(g->q_a, dcq, xn, N, d.D, d.rq);
        linear_bwd_x(dxn, dcq, w->q_a, N, d.D, d.rq, 1);
    } else {
        linear_bwd_w(g->q, dq, xn, N, d.D, d.qw);
        linear_bwd_x(dxn, dq, w->q, N, d.D, d.qw, 1);
    }
}
