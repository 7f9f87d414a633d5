// config.h — the model's shape and behaviour, read from / written to a Hugging
// Face config.json (model_type deepseek_v3 or deepseek_v2). Every key that
// changes the math is here; values deepc does not support are refused with a
// message naming the key and what is supported.
#pragma once
#include <cjson/cJSON.h>

enum { TOPK_GREEDY = 0, TOPK_GROUP_LIMITED_GREEDY = 1, TOPK_NOAUX_TC = 2 };
enum { SCORE_SOFTMAX = 0, SCORE_SIGMOID = 1 };

typedef struct {
    int version;               // 3 (deepseek_v3) or 2 (deepseek_v2)
    int vocab_size;            // V
    int hidden_size;           // D
    int intermediate_size;     // dense FFN width
    int moe_intermediate_size; // expert width
    int num_hidden_layers;     // L (main model, MTP layers not counted)
    int num_attention_heads;   // H
    int q_lora_rank;           // 0 = no query compression (q_proj)
    int kv_lora_rank;
    int qk_nope_head_dim, qk_rope_head_dim, v_head_dim;
    int n_routed_experts;      // E (0 = no MoE layers at all)
    int n_shared_experts;      // S (0..)
    int num_experts_per_tok;   // K
    int n_group, topk_group;
    int topk_method;           // TOPK_*
    int scoring_func;          // SCORE_*
    int norm_topk_prob;
    float routed_scaling_factor;
    int first_k_dense_replace, moe_layer_freq;
    float rope_theta;
    // rope_scaling (YaRN); yarn = 0 when absent. mscale / mscale_all_dim = 0 when
    // absent from the file (transformers then skips the m^2 softmax factor and
    // scales cos/sin by 0.1 ln(factor) + 1; see config_rope_attention_factor).
    int yarn;
    float rope_factor, beta_fast, beta_slow, mscale, mscale_all_dim;
    int original_max_position_embeddings;
    float rms_norm_eps;
    int tie_word_embeddings;
    int num_nextn_predict_layers;  // MTP depth D (0 = none)
    int max_position_embeddings;
    int bos_token_id, eos_token_id; // -1 if absent
    float aux_loss_alpha;           // balance-loss weight (informational; training sets its own)
    // quantization_config: 0 none, 1 = fp8 128x128 blocks (DeepSeek-V3 style).
    int fp8_weights;
    // deepc extension for ablations (config key "deepc_attention": "mha"): plain multi-head
    // attention with the same heads and head dims instead of MLA. transformers cannot load such a model.
    int attn_mha;
} Config;

int config_from_json(const cJSON *j, const char *what, Config *c);   // what = path, for messages
int config_load(const char *path, Config *c);                        // a config.json file
cJSON *config_to_json(const Config *c);                              // HF keys, loadable by transformers
int config_save(const char *path, const Config *c);                  // atomically
int config_validate(const Config *c, const char *what);              // shape consistency
// Derived facts.
int config_is_moe_layer(const Config *c, int layer);  // E > 0 && l >= first_k_dense && l % freq == 0
int config_qk_head_dim(const Config *c);              // nope + rope
float config_softmax_scale(const Config *c);          // d_qk^-1/2 * m^2 (YaRN)
float config_rope_attention_factor(const Config *c);  // YaRN cos/sin multiplier as transformers applies it (1 without YaRN)
// Presets: "tiny", "small", "base", "v2-lite" (DeepSeek-V2-Lite), "v3" (DeepSeek-V3 shape,
// no quantization_config), "bench-train", "bench-infer" (the benchmark shapes of issues 4 and 5).
int config_preset(const char *name, Config *c);
const char *config_preset_names(void);                // "tiny, small, ..." for messages
