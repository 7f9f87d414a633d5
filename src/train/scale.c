// scale.c — the one size knob: every shape and hyper-parameter follows from depth.
#include "train/scale.h"
#include "base/check.h"
#include "model/model.h"
#include <math.h>
#include <string.h>

static int round_to(int x, int m) { int r = (x + m / 2) / m * m; return r < m ? m : r; }

int scale_config(int depth, int vocab, Config *c) {
    if (depth < 1 || depth > 64) return fail("--depth %d is out of range: use 1..64", depth);
    if (vocab < 16) return fail("vocabulary size %d is too small for a model", vocab);
    // Keys the knob does not set (rope, norms, routing details) come from the small preset.
    if (config_preset("small", c) < 0) return -1;
    int D = 64 * depth;
    c->vocab_size = vocab;
    c->hidden_size = D;
    c->num_hidden_layers = depth;
    c->num_attention_heads = depth;
    c->q_lora_rank = D / 2;
    c->kv_lora_rank = D / 2 < 256 ? D / 2 : 256;
    c->qk_nope_head_dim = D >= 256 ? 64 : 32;
    c->qk_rope_head_dim = D >= 256 ? 32 : 16;
    c->v_head_dim = D >= 256 ? 64 : 32;
    int E = depth <= 2 ? 8 : depth <= 8 ? 16 : 32;
    int K = E == 8 ? 2 : E == 16 ? 4 : 6, S = E == 8 ? 1 : 2;
    c->n_routed_experts = E;
    c->num_experts_per_tok = K;
    c->n_shared_experts = S;
    c->intermediate_size = depth <= 8 ? 4 * D : round_to(8 * D / 3, 64);
    c->moe_intermediate_size = depth <= 8 ? D : round_to(2 * D / 3, 64);
    c->n_group = E >= 16 ? 4 : 2;
    c->topk_group = E >= 16 ? 2 : 1;
    c->topk_method = TOPK_NOAUX_TC;
    c->scoring_func = SCORE_SIGMOID;
    c->first_k_dense_replace = depth >= 2 ? 1 : 0;
    c->moe_layer_freq = 1;
    c->num_nextn_predict_layers = 1;
    if (c->max_position_embeddings < 2048) c->max_position_embeddings = 2048;
    c->fp8_weights = 0;
    return config_validate(c, "the --depth configuration");
}

int scale_preset_depth(const char *preset) {
    if (!strcmp(preset, "small")) return 4;
    if (!strcmp(preset, "base")) return 12;
    return -1;
}

void scale_hparams(const Config *c, ScaleHparams *h) {
    int D = c->hidden_size;
    memset(h, 0, sizeof *h);
    h->depth = c->num_hidden_layers;
    h->seq = D <= 256 ? 256 : D <= 512 ? 512 : 1024;
    h->batch = D / 16 > 4 ? D / 16 : 4;
    h->lr = 3e-3 * sqrt(128.0 / (double)D);
    size_t total = 0, active = 0;
    model_param_counts(c, &total, &active);
    double tokens = 20.0 * (double)active;
    h->steps = (int64_t)ceil(tokens / ((double)h->batch * h->seq));
    if (h->steps < 10) h->steps = 10;
    h->warmup = h->steps / 20;
    if (h->warmup > 1000) h->warmup = 1000;
    if (h->warmup < 1) h->warmup = 1;
}

void scale_dense_equivalent(const Config *moe, Config *dense) {
    *dense = *moe;
    if (moe->n_routed_experts <= 0) return;
    // one width for every layer (config.json has one): the mean over layers of the active FFN widths,
    // so the total active FLOPs match (the MoE router's D·E per layer aside)
    int layers = moe->num_hidden_layers + moe->num_nextn_predict_layers, dense_layers = 0;
    for (int l = 0; l < layers; l++) dense_layers += !config_is_moe_layer(moe, l);
    double w = ((double)dense_layers * moe->intermediate_size +
                (double)(layers - dense_layers) * (moe->num_experts_per_tok + moe->n_shared_experts) * moe->moe_intermediate_size) / layers;
    dense->intermediate_size = (int)(w + 0.5);
    dense->n_routed_experts = 0;
    dense->n_shared_experts = 0;
    dense->num_experts_per_tok = 0;
    dense->first_k_dense_replace = 0;
}
