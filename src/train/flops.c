// flops.c — FLOPs per token and the measured sgemm peak.
#include "train/flops.h"
#include "base/check.h"
#include "base/progress.h"
#include "kernels/gemm.h"
#include <stdlib.h>

static double layer_attn_params(const Config *c) {
    double D = c->hidden_size, H = c->num_attention_heads;
    double dqk = c->qk_nope_head_dim + c->qk_rope_head_dim;
    double q = c->q_lora_rank > 0 ? D * c->q_lora_rank + c->q_lora_rank * H * dqk : D * H * dqk;
    double kva = D * (c->kv_lora_rank + c->qk_rope_head_dim);
    double kvb = c->kv_lora_rank * H * (c->qk_nope_head_dim + c->v_head_dim);
    double o = H * c->v_head_dim * D;
    return q + kva + kvb + o;
}

static double layer_ffn_params(const Config *c, int layer) {
    double D = c->hidden_size;
    if (config_is_moe_layer(c, layer))
        return D * c->n_routed_experts +
               (double)(c->num_experts_per_tok + c->n_shared_experts) * 3.0 * D * c->moe_intermediate_size;
    return 3.0 * D * c->intermediate_size;
}

double flops_active_matmul_params(const Config *c) {
    double D = c->hidden_size, V = c->vocab_size, n = 0;
    int L = c->num_hidden_layers;
    for (int l = 0; l < L; l++) n += layer_attn_params(c) + layer_ffn_params(c, l);
    n += D * V;   // LM head
    for (int k = 0; k < c->num_nextn_predict_layers; k++)
        n += 2 * D * D + layer_attn_params(c) + layer_ffn_params(c, L + k) + D * V;
    return n;
}

double flops_per_token(const Config *c, int T) {
    double H = c->num_attention_heads;
    double dqk = c->qk_nope_head_dim + c->qk_rope_head_dim, dv = c->v_head_dim;
    double layers = c->num_hidden_layers + c->num_nextn_predict_layers;
    return 6.0 * flops_active_matmul_params(c) + 6.0 * layers * H * (dqk + dv) * (T / 2.0);
}

double flops_sgemm_peak(void) {
    const int n = 512;
    float *a = xmalloc_aligned((size_t)n * n * sizeof(float));
    float *b = xmalloc_aligned((size_t)n * n * sizeof(float));
    float *cc = xmalloc_aligned((size_t)n * n * sizeof(float));
    for (size_t i = 0; i < (size_t)n * n; i++) { a[i] = (float)(i % 7) * 0.1f; b[i] = (float)(i % 5) * 0.1f; }
    double best = 1e30;
    for (int r = 0; r < 6; r++) {
        double t0 = now_seconds();
        gemm(0, 1, n, n, n, 1.0f, a, n, b, n, 0.0f, cc, n);   // the GEMM the step runs (kernels/gemm.h)
        double t = now_seconds() - t0;
        if (r > 0 && t < best) best = t;   // first call warms up
    }
    free(a); free(b); free(cc);
    return 2.0 * n * n * (double)n / best;
}
