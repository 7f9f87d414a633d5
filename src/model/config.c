// config.c — Hugging Face config.json for DeepSeek-V2/V3 (model_type deepseek_v2 /
// deepseek_v3): read (both the transformers-v4 `rope_theta` + `rope_scaling` form and
// the v5 `rope_parameters` form), validate, write (both forms, agreeing: the installed
// transformers 5.x loads them), and the built-in presets.
//
// Absent keys take the defaults of transformers' DeepseekV3Config / DeepseekV2Config.
// Keys that transformers' native classes do not have (topk_method and scoring_func for
// V3, moe_layer_freq, aux_loss_alpha) take the values of DeepSeek's released configs.
#include "model/config.h"
#include "base/check.h"
#include "base/json.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *topk_names[] = { "greedy", "group_limited_greedy", "noaux_tc" };
static const char *score_names[] = { "softmax", "sigmoid" };

// ---------------------------------------------------------------- defaults

// transformers' DeepseekV3Config() defaults (= DeepSeek-V3 without YaRN, 4096 positions).
static void defaults_v3(Config *c) {
    memset(c, 0, sizeof *c);
    c->version = 3;
    c->vocab_size = 129280; c->hidden_size = 7168; c->intermediate_size = 18432;
    c->moe_intermediate_size = 2048; c->num_hidden_layers = 61; c->num_attention_heads = 128;
    c->q_lora_rank = 1536; c->kv_lora_rank = 512;
    c->qk_nope_head_dim = 128; c->qk_rope_head_dim = 64; c->v_head_dim = 128;
    c->n_routed_experts = 256; c->n_shared_experts = 1; c->num_experts_per_tok = 8;
    c->n_group = 8; c->topk_group = 4;
    c->topk_method = TOPK_NOAUX_TC; c->scoring_func = SCORE_SIGMOID; c->norm_topk_prob = 1;
    c->routed_scaling_factor = 2.5f;
    c->first_k_dense_replace = 3; c->moe_layer_freq = 1;
    c->rope_theta = 10000.0f;
    c->yarn = 0; c->rope_factor = 1.0f; c->beta_fast = 32.0f; c->beta_slow = 1.0f;
    c->mscale = 0.0f; c->mscale_all_dim = 0.0f; c->original_max_position_embeddings = 0;
    c->rms_norm_eps = 1e-6f;
    c->tie_word_embeddings = 0;
    c->num_nextn_predict_layers = 1;
    c->max_position_embeddings = 4096;
    c->bos_token_id = 0; c->eos_token_id = 1;
    c->aux_loss_alpha = 0.001f;
    c->fp8_weights = 0;
}

// transformers' DeepseekV2Config() defaults.
static void defaults_v2(Config *c) {
    defaults_v3(c);
    c->version = 2;
    c->vocab_size = 102400; c->hidden_size = 4096; c->intermediate_size = 11008;
    c->moe_intermediate_size = 1407; c->num_hidden_layers = 32; c->num_attention_heads = 32;
    c->q_lora_rank = 1536; c->kv_lora_rank = 512;
    c->n_routed_experts = 64; c->n_shared_experts = 2;
    c->num_experts_per_tok = 0;          // HF default None: required when there are routed experts
    c->n_group = 1; c->topk_group = 1;   // HF default None
    c->topk_method = TOPK_GREEDY; c->scoring_func = SCORE_SOFTMAX; c->norm_topk_prob = 0;
    c->routed_scaling_factor = 1.0f;
    c->first_k_dense_replace = 0;
    c->num_nextn_predict_layers = 0;
    c->max_position_embeddings = 2048;
    c->bos_token_id = 1; c->eos_token_id = 2;
}

// ---------------------------------------------------------------- reading

static const cJSON *item(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

static int get_int(const cJSON *o, const char *key, const char *what, int def, int *out) {
    long long v;
    TRY(json_int_opt(o, key, what, def, &v));
    if (v < -2147483647LL || v > 2147483647LL) return fail("%s: key \"%s\" = %lld is out of range", what, key, v);
    *out = (int)v;
    return 0;
}

static int get_float(const cJSON *o, const char *key, const char *what, float def, float *out) {
    double v;
    TRY(json_num_opt(o, key, what, def, &v));
    if (!isfinite(v) || fabs(v) > 3e38) return fail("%s: key \"%s\" must be a finite number", what, key);
    *out = (float)v;
    return 0;
}

// Integer key where an explicit null means 0 ("none"), and absence means `def`.
static int get_int_null0(const cJSON *o, const char *key, const char *what, int def, int *out) {
    const cJSON *v = item(o, key);
    if (v && cJSON_IsNull(v)) { *out = 0; return 0; }
    return get_int(o, key, what, def, out);
}

static int get_enum(const cJSON *o, const char *key, const char *what, const char **names, int n, int def, int *out) {
    const char *s;
    TRY(json_str_opt(o, key, what, NULL, &s));
    if (!s) { *out = def; return 0; }
    for (int i = 0; i < n; i++) if (!strcmp(s, names[i])) { *out = i; return 0; }
    char list[256] = "";
    for (int i = 0; i < n; i++) { strcat(list, i ? ", " : ""); strcat(list, names[i]); }
    return fail("%s: %s \"%s\" is not supported (supported: %s)", what, key, s, list);
}

// A token id: an integer, null (-1), or a list whose first element is used.
static int get_token(const cJSON *o, const char *key, const char *what, int def, int *out) {
    const cJSON *v = item(o, key);
    if (!v) { *out = def; return 0; }
    if (cJSON_IsNull(v)) { *out = -1; return 0; }
    if (cJSON_IsArray(v)) {
        if (cJSON_GetArraySize(v) == 0) { *out = -1; return 0; }
        const cJSON *e = v->child;
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 || e->valuedouble > 2e9)
            return fail("%s: key \"%s\" must be a token id or a list of token ids", what, key);
        *out = (int)e->valuedouble;
        return 0;
    }
    TRY(get_int(o, key, what, def, out));
    if (*out < 0) return fail("%s: key \"%s\" = %d must be a token id >= 0 or null", what, key, *out);
    return 0;
}

// rope_parameters (v5) or rope_scaling (v4): YaRN fields; `key` names the object for messages.
static int read_rope_dict(const cJSON *r, const char *key, const char *what, Config *c) {
    if (!cJSON_IsObject(r)) return fail("%s: \"%s\" must be an object", what, key);
    for (const cJSON *e = r->child; e; e = e->next)
        if (cJSON_IsObject(e))
            return fail("%s: %s.%s: RoPE parameters per layer type are not supported (supported: one set for all layers)",
                        what, key, e->string);
    const cJSON *prf = item(r, "partial_rotary_factor");
    if (prf && !cJSON_IsNull(prf) && !(cJSON_IsNumber(prf) && prf->valuedouble == 1.0))
        return fail("%s: %s.partial_rotary_factor is not supported (supported: 1; qk_rope_head_dim sets the rotated size)", what, key);
    const cJSON *ty = item(r, "rope_type");
    if (!ty || cJSON_IsNull(ty)) ty = item(r, "type");
    const char *type = "default";
    if (ty && !cJSON_IsNull(ty)) {
        if (!cJSON_IsString(ty)) return fail("%s: %s.rope_type must be a string", what, key);
        type = ty->valuestring;
    }
    char sub[128];
    snprintf(sub, sizeof sub, "%s (%s)", what, key);
    TRY(get_float(r, "rope_theta", sub, c->rope_theta, &c->rope_theta));
    if (!strcmp(type, "default")) { c->yarn = 0; return 0; }
    if (strcmp(type, "yarn"))
        return fail("%s: %s type \"%s\" is not supported (supported: yarn, or none/default)", what, key, type);
    c->yarn = 1;
    // transformers: a missing original_max_position_embeddings defaults to max_position_embeddings
    TRY(get_int(r, "original_max_position_embeddings", sub, c->max_position_embeddings, &c->original_max_position_embeddings));
    if (c->original_max_position_embeddings <= 0)
        return fail("%s: %s.original_max_position_embeddings must be > 0 for YaRN", what, key);
    const cJSON *fa = item(r, "factor");
    if (!fa || cJSON_IsNull(fa)) c->rope_factor = (float)c->max_position_embeddings / (float)c->original_max_position_embeddings;
    else TRY(get_float(r, "factor", sub, 1.0f, &c->rope_factor));
    // transformers treats a missing or zero beta as the default (32 / 1)
    TRY(get_float(r, "beta_fast", sub, 32.0f, &c->beta_fast));
    TRY(get_float(r, "beta_slow", sub, 1.0f, &c->beta_slow));
    if (c->beta_fast == 0) c->beta_fast = 32.0f;
    if (c->beta_slow == 0) c->beta_slow = 1.0f;
    TRY(get_float(r, "mscale", sub, 0.0f, &c->mscale));
    TRY(get_float(r, "mscale_all_dim", sub, 0.0f, &c->mscale_all_dim));
    const cJSON *af = item(r, "attention_factor");
    if (af && !cJSON_IsNull(af))
        return fail("%s: %s.attention_factor is not supported (deepc derives it from factor, mscale and mscale_all_dim)", what, key);
    const cJSON *tr = item(r, "truncate");
    if (tr && cJSON_IsFalse(tr))
        return fail("%s: %s.truncate = false is not supported (supported: true, as DeepSeek's YaRN)", what, key);
    return 0;
}

static int read_quant(const cJSON *q, const char *what, Config *c) {
    if (!q || cJSON_IsNull(q)) { c->fp8_weights = 0; return 0; }
    const char *sup = "supported: {\"quant_method\": \"fp8\", \"fmt\": \"e4m3\", \"weight_block_size\": [128, 128], "
                      "\"activation_scheme\": \"dynamic\"}";
    if (!cJSON_IsObject(q)) return fail("%s: quantization_config must be an object (%s)", what, sup);
    const char *s;
    TRY(json_str_opt(q, "quant_method", what, "", &s));
    if (strcmp(s, "fp8")) return fail("%s: quantization_config.quant_method \"%s\" is not supported (%s)", what, s, sup);
    TRY(json_str_opt(q, "fmt", what, "e4m3", &s));
    if (strcmp(s, "e4m3")) return fail("%s: quantization_config.fmt \"%s\" is not supported (%s)", what, s, sup);
    TRY(json_str_opt(q, "activation_scheme", what, "dynamic", &s));
    if (strcmp(s, "dynamic")) return fail("%s: quantization_config.activation_scheme \"%s\" is not supported (%s)", what, s, sup);
    const cJSON *b = item(q, "weight_block_size");
    if (b && !cJSON_IsNull(b)) {
        if (!cJSON_IsArray(b) || cJSON_GetArraySize(b) != 2 || !cJSON_IsNumber(b->child) || !cJSON_IsNumber(b->child->next) ||
            b->child->valuedouble != 128 || b->child->next->valuedouble != 128)
            return fail("%s: quantization_config.weight_block_size must be [128, 128] (%s)", what, sup);
    }
    c->fp8_weights = 1;
    return 0;
}

int config_from_json(const cJSON *j, const char *what, Config *c) {
    if (!cJSON_IsObject(j)) return fail("%s: expected a JSON object", what);
    const char *mt;
    TRY(json_str_opt(j, "model_type", what, NULL, &mt));
    if (!mt) return fail("%s: missing key \"model_type\" (supported: deepseek_v3, deepseek_v2)", what);
    if (!strcmp(mt, "deepseek_v3")) defaults_v3(c);
    else if (!strcmp(mt, "deepseek_v2")) defaults_v2(c);
    else return fail("%s: model_type \"%s\" is not supported (supported: deepseek_v3, deepseek_v2)", what, mt);

    TRY(get_int(j, "vocab_size", what, c->vocab_size, &c->vocab_size));
    TRY(get_int(j, "hidden_size", what, c->hidden_size, &c->hidden_size));
    TRY(get_int(j, "intermediate_size", what, c->intermediate_size, &c->intermediate_size));
    TRY(get_int(j, "moe_intermediate_size", what, c->moe_intermediate_size, &c->moe_intermediate_size));
    TRY(get_int(j, "num_hidden_layers", what, c->num_hidden_layers, &c->num_hidden_layers));
    TRY(get_int(j, "num_attention_heads", what, c->num_attention_heads, &c->num_attention_heads));
    TRY(get_int_null0(j, "q_lora_rank", what, c->q_lora_rank, &c->q_lora_rank));
    TRY(get_int(j, "kv_lora_rank", what, c->kv_lora_rank, &c->kv_lora_rank));
    TRY(get_int(j, "qk_nope_head_dim", what, c->qk_nope_head_dim, &c->qk_nope_head_dim));
    TRY(get_int(j, "qk_rope_head_dim", what, c->qk_rope_head_dim, &c->qk_rope_head_dim));
    TRY(get_int(j, "v_head_dim", what, c->v_head_dim, &c->v_head_dim));
    TRY(get_int_null0(j, "n_routed_experts", what, c->n_routed_experts, &c->n_routed_experts));
    TRY(get_int_null0(j, "n_shared_experts", what, c->n_shared_experts, &c->n_shared_experts));
    TRY(get_int_null0(j, "num_experts_per_tok", what, c->num_experts_per_tok, &c->num_experts_per_tok));
    const cJSON *ng = item(j, "n_group"), *tg = item(j, "topk_group");
    if (ng && cJSON_IsNull(ng)) c->n_group = 1; else TRY(get_int(j, "n_group", what, c->n_group, &c->n_group));
    if (tg && cJSON_IsNull(tg)) c->topk_group = 1; else TRY(get_int(j, "topk_group", what, c->topk_group, &c->topk_group));
    TRY(get_enum(j, "topk_method", what, topk_names, 3, c->topk_method, &c->topk_method));
    TRY(get_enum(j, "scoring_func", what, score_names, 2, c->scoring_func, &c->scoring_func));
    TRY(json_bool_opt(j, "norm_topk_prob", what, c->norm_topk_prob, &c->norm_topk_prob));
    TRY(get_float(j, "routed_scaling_factor", what, c->routed_scaling_factor, &c->routed_scaling_factor));
    TRY(get_int(j, "first_k_dense_replace", what, c->first_k_dense_replace, &c->first_k_dense_replace));
    TRY(get_int(j, "moe_layer_freq", what, c->moe_layer_freq, &c->moe_layer_freq));
    TRY(get_float(j, "rms_norm_eps", what, c->rms_norm_eps, &c->rms_norm_eps));
    TRY(json_bool_opt(j, "tie_word_embeddings", what, c->tie_word_embeddings, &c->tie_word_embeddings));
    // MTP depth: the DeepSeek key, or transformers' alias
    if (item(j, "num_nextn_predict_layers"))
        TRY(get_int_null0(j, "num_nextn_predict_layers", what, c->num_nextn_predict_layers, &c->num_nextn_predict_layers));
    else TRY(get_int_null0(j, "num_mtp_layers", what, c->num_nextn_predict_layers, &c->num_nextn_predict_layers));
    TRY(get_int(j, "max_position_embeddings", what, c->max_position_embeddings, &c->max_position_embeddings));
    TRY(get_token(j, "bos_token_id", what, c->bos_token_id, &c->bos_token_id));
    TRY(get_token(j, "eos_token_id", what, c->eos_token_id, &c->eos_token_id));
    TRY(get_float(j, "aux_loss_alpha", what, c->aux_loss_alpha, &c->aux_loss_alpha));
    {   // deepc's ablation extension: "deepc_attention": "mla" (default) or "mha"
        const char *att = NULL;
        TRY(json_str_opt(j, "deepc_attention", what, "mla", &att));
        if (strcmp(att, "mla") && strcmp(att, "mha"))
            return fail("%s: deepc_attention = \"%s\" is not supported (supported: \"mla\", \"mha\")", what, att);
        c->attn_mha = !strcmp(att, "mha");
    }

    // RoPE, resolved as transformers does: a non-empty `rope_scaling` (v4) replaces
    // `rope_parameters` (v5); rope_theta comes from that dict, else the top-level key.
    TRY(get_float(j, "rope_theta", what, c->rope_theta, &c->rope_theta));
    const cJSON *rs = item(j, "rope_scaling"), *rp = item(j, "rope_parameters");
    if (rs && cJSON_IsObject(rs) && rs->child) TRY(read_rope_dict(rs, "rope_scaling", what, c));
    else if (rs && !cJSON_IsNull(rs) && !cJSON_IsObject(rs)) return fail("%s: \"rope_scaling\" must be an object or null", what);
    else if (rp && !cJSON_IsNull(rp)) TRY(read_rope_dict(rp, "rope_parameters", what, c));

    // Values with only one supported setting.
    const char *act;
    TRY(json_str_opt(j, "hidden_act", what, "silu", &act));
    if (strcmp(act, "silu")) return fail("%s: hidden_act \"%s\" is not supported (supported: silu)", what, act);
    int b;
    TRY(json_bool_opt(j, "attention_bias", what, 0, &b));
    if (b) return fail("%s: attention_bias = true is not supported (supported: false)", what);
    TRY(json_bool_opt(j, "mlp_bias", what, 0, &b));
    if (b) return fail("%s: mlp_bias = true is not supported (supported: false)", what);
    TRY(json_bool_opt(j, "rope_interleave", what, 1, &b));
    if (!b) return fail("%s: rope_interleave = false is not supported (supported: true, the released DeepSeek weights' pairing)", what);
    TRY(read_quant(item(j, "quantization_config"), what, c));
    return config_validate(c, what);
}

int config_load(const char *path, Config *c) {
    cJSON *j;
    TRY(json_load_file(path, &j));
    int r = config_from_json(j, path, c);
    cJSON_Delete(j);
    return r;
}

// ---------------------------------------------------------------- validation

int config_validate(const Config *c, const char *what) {
    if (c->version != 2 && c->version != 3) return fail("%s: version %d (supported: 2 = deepseek_v2, 3 = deepseek_v3)", what, c->version);
#define POS(f) if (c->f <= 0) return fail("%s: " #f " = %d must be > 0", what, c->f)
#define NONNEG(f) if (c->f < 0) return fail("%s: " #f " = %d must be >= 0", what, c->f)
    POS(vocab_size); POS(hidden_size); POS(num_hidden_layers); POS(num_attention_heads);
    NONNEG(q_lora_rank); POS(kv_lora_rank); NONNEG(qk_nope_head_dim); POS(qk_rope_head_dim); POS(v_head_dim);
    NONNEG(n_routed_experts); NONNEG(n_shared_experts); NONNEG(first_k_dense_replace); POS(moe_layer_freq);
    NONNEG(num_nextn_predict_layers); POS(max_position_embeddings);
    const float fs[] = { c->routed_scaling_factor, c->rope_theta, c->rope_factor, c->beta_fast, c->beta_slow,
                         c->mscale, c->mscale_all_dim, c->rms_norm_eps, c->aux_loss_alpha };
    const char *fn[] = { "routed_scaling_factor", "rope_theta", "rope_scaling.factor", "rope_scaling.beta_fast",
                         "rope_scaling.beta_slow", "rope_scaling.mscale", "rope_scaling.mscale_all_dim", "rms_norm_eps",
                         "aux_loss_alpha" };
    for (int i = 0; i < 9; i++) if (!isfinite(fs[i])) return fail("%s: %s = %g must be a finite number", what, fn[i], fs[i]);
    // Upper bounds far above any released model, so that a corrupt file cannot ask for
    // absurd allocations or overflow size arithmetic downstream.
#define CAP(f, m) if (c->f > (m)) return fail("%s: " #f " = %d is larger than deepc supports (at most %d)", what, c->f, (m))
    CAP(vocab_size, 1 << 24); CAP(hidden_size, 1 << 16); CAP(intermediate_size, 1 << 20);
    CAP(moe_intermediate_size, 1 << 20); CAP(num_hidden_layers, 4096); CAP(num_attention_heads, 4096);
    CAP(q_lora_rank, 1 << 16); CAP(kv_lora_rank, 1 << 16); CAP(qk_nope_head_dim, 4096); CAP(qk_rope_head_dim, 4096);
    CAP(v_head_dim, 4096); CAP(n_routed_experts, 1 << 16); CAP(n_shared_experts, 1024);
    CAP(num_nextn_predict_layers, 64); CAP(first_k_dense_replace, 1 << 20);
#undef CAP
    if (c->qk_rope_head_dim % 2) return fail("%s: qk_rope_head_dim = %d must be even (RoPE rotates pairs)", what, c->qk_rope_head_dim);
    if (!(c->rms_norm_eps > 0)) return fail("%s: rms_norm_eps = %g must be > 0", what, c->rms_norm_eps);
    if (!(c->rope_theta > 1)) return fail("%s: rope_theta = %g must be > 1", what, c->rope_theta);
    if ((unsigned)c->topk_method > 2) return fail("%s: topk_method %d unknown (supported: greedy, group_limited_greedy, noaux_tc)", what, c->topk_method);
    if ((unsigned)c->scoring_func > 1) return fail("%s: scoring_func %d unknown (supported: softmax, sigmoid)", what, c->scoring_func);
    int any_moe = 0, any_dense = 0;
    // MTP layers (indices L..L+depth-1) follow the same dense/MoE rule as the main layers
    for (int l = 0; l < c->num_hidden_layers + c->num_nextn_predict_layers; l++) {
        if (config_is_moe_layer(c, l)) any_moe = 1; else any_dense = 1;
    }
    if (any_dense) POS(intermediate_size);
    if (any_moe) {
        POS(moe_intermediate_size);
        if (c->num_experts_per_tok <= 0)
            return fail("%s: num_experts_per_tok = %d; MoE layers need 1..n_routed_experts (%d) active experts",
                        what, c->num_experts_per_tok, c->n_routed_experts);
        if (c->num_experts_per_tok > c->n_routed_experts)
            return fail("%s: num_experts_per_tok = %d is more than n_routed_experts = %d", what, c->num_experts_per_tok, c->n_routed_experts);
        if (c->n_group <= 0) return fail("%s: n_group = %d must be > 0", what, c->n_group);
        if (c->n_routed_experts % c->n_group)
            return fail("%s: n_routed_experts = %d is not divisible by n_group = %d", what, c->n_routed_experts, c->n_group);
        if (c->topk_group <= 0 || c->topk_group > c->n_group)
            return fail("%s: topk_group = %d must be in 1..n_group (%d)", what, c->topk_group, c->n_group);
        int per = c->n_routed_experts / c->n_group;
        if (c->topk_method != TOPK_GREEDY && c->num_experts_per_tok > c->topk_group * per)
            return fail("%s: num_experts_per_tok = %d is more than the %d experts in topk_group = %d groups of %d",
                        what, c->num_experts_per_tok, c->topk_group * per, c->topk_group, per);
        if (c->topk_method == TOPK_NOAUX_TC && c->n_group > 1 && per < 2)
            return fail("%s: noaux_tc ranks groups by their top-2 scores, so each of the n_group = %d groups needs >= 2 experts (has %d)",
                        what, c->n_group, per);
        if (!(c->routed_scaling_factor > 0)) return fail("%s: routed_scaling_factor = %g must be > 0", what, c->routed_scaling_factor);
    }
    if (c->yarn) {
        if (!(c->rope_factor >= 1)) return fail("%s: rope_scaling.factor = %g must be >= 1 for YaRN", what, c->rope_factor);
        if (c->original_max_position_embeddings <= 0)
            return fail("%s: rope_scaling.original_max_position_embeddings must be > 0 for YaRN", what);
        if (!(c->beta_fast > 0) || !(c->beta_slow > 0))
            return fail("%s: rope_scaling beta_fast = %g, beta_slow = %g must be > 0", what, c->beta_fast, c->beta_slow);
        if (c->mscale < 0 || c->mscale_all_dim < 0) return fail("%s: rope_scaling mscale / mscale_all_dim must be >= 0", what);
    }
    if (c->bos_token_id >= c->vocab_size) return fail("%s: bos_token_id = %d is outside the vocabulary (vocab_size %d)", what, c->bos_token_id, c->vocab_size);
    if (c->eos_token_id >= c->vocab_size) return fail("%s: eos_token_id = %d is outside the vocabulary (vocab_size %d)", what, c->eos_token_id, c->vocab_size);
    if (c->fp8_weights != 0 && c->fp8_weights != 1) return fail("%s: fp8_weights = %d (supported: 0 none, 1 = fp8 e4m3 128x128)", what, c->fp8_weights);
#undef POS
#undef NONNEG
    return 0;
}

// ---------------------------------------------------------------- derived

int config_is_moe_layer(const Config *c, int layer) {
    return c->n_routed_experts > 0 && layer >= c->first_k_dense_replace && c->moe_layer_freq > 0 && layer % c->moe_layer_freq == 0;
}

int config_qk_head_dim(const Config *c) { return c->qk_nope_head_dim + c->qk_rope_head_dim; }

static double yarn_m(double factor, double mscale) { return factor <= 1 ? 1.0 : 0.1 * mscale * log(factor) + 1.0; }

float config_softmax_scale(const Config *c) {
    double s = 1.0 / sqrt((double)config_qk_head_dim(c));
    if (c->yarn && c->mscale_all_dim != 0) {
        double m = yarn_m(c->rope_factor, c->mscale_all_dim);
        s *= m * m;
    }
    return (float)s;
}

float config_rope_attention_factor(const Config *c) {
    if (!c->yarn) return 1.0f;
    if (c->mscale != 0 && c->mscale_all_dim != 0)
        return (float)(yarn_m(c->rope_factor, c->mscale) / yarn_m(c->rope_factor, c->mscale_all_dim));
    return (float)yarn_m(c->rope_factor, 1.0);
}

// ---------------------------------------------------------------- writing

// A float as the shortest decimal that reads back as the same float, always with a
// '.' or an exponent: transformers' strict config classes refuse 0 for a float field,
// and 1e-6f should read "1e-06", not "9.9999999747524271e-07".
static void add_float(cJSON *o, const char *key, float f) {
    char buf[40];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    if (!strpbrk(buf, ".e")) strcat(buf, ".0");
    cJSON_AddRawToObject(o, key, buf);
}

static void add_int_or_null(cJSON *o, const char *key, int v, int null_when) {
    if (v == null_when) cJSON_AddNullToObject(o, key);
    else cJSON_AddNumberToObject(o, key, v);
}

cJSON *config_to_json(const Config *c) {
    cJSON *j = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(c->version == 2 ? "DeepseekV2ForCausalLM" : "DeepseekV3ForCausalLM"));
    cJSON_AddStringToObject(j, "model_type", c->version == 2 ? "deepseek_v2" : "deepseek_v3");
    cJSON_AddNumberToObject(j, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(j, "hidden_size", c->hidden_size);
    cJSON_AddNumberToObject(j, "intermediate_size", c->intermediate_size);
    cJSON_AddNumberToObject(j, "moe_intermediate_size", c->moe_intermediate_size);
    cJSON_AddNumberToObject(j, "num_hidden_layers", c->num_hidden_layers);
    cJSON_AddNumberToObject(j, "num_attention_heads", c->num_attention_heads);
    cJSON_AddNumberToObject(j, "num_key_value_heads", c->num_attention_heads);
    add_int_or_null(j, "q_lora_rank", c->q_lora_rank, 0);
    cJSON_AddNumberToObject(j, "kv_lora_rank", c->kv_lora_rank);
    cJSON_AddNumberToObject(j, "qk_nope_head_dim", c->qk_nope_head_dim);
    cJSON_AddNumberToObject(j, "qk_rope_head_dim", c->qk_rope_head_dim);
    cJSON_AddNumberToObject(j, "v_head_dim", c->v_head_dim);
    cJSON_AddNumberToObject(j, "n_routed_experts", c->n_routed_experts);
    cJSON_AddNumberToObject(j, "n_shared_experts", c->n_shared_experts);
    cJSON_AddNumberToObject(j, "num_experts_per_tok", c->num_experts_per_tok);
    cJSON_AddNumberToObject(j, "n_group", c->n_group);
    cJSON_AddNumberToObject(j, "topk_group", c->topk_group);
    cJSON_AddStringToObject(j, "topk_method", topk_names[c->topk_method]);
    cJSON_AddStringToObject(j, "scoring_func", score_names[c->scoring_func]);
    cJSON_AddBoolToObject(j, "norm_topk_prob", c->norm_topk_prob);
    add_float(j, "routed_scaling_factor", c->routed_scaling_factor);
    // Without routed experts every layer is dense; transformers' classes know that only
    // through first_k_dense_replace, so it covers all layers then.
    int fk = c->first_k_dense_replace;
    if (c->n_routed_experts == 0 && fk < c->num_hidden_layers + c->num_nextn_predict_layers)
        fk = c->num_hidden_layers + c->num_nextn_predict_layers;
    cJSON_AddNumberToObject(j, "first_k_dense_replace", fk);
    cJSON_AddNumberToObject(j, "moe_layer_freq", c->moe_layer_freq);
    add_float(j, "aux_loss_alpha", c->aux_loss_alpha);
    cJSON_AddBoolToObject(j, "seq_aux", 1);
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    add_float(j, "rms_norm_eps", c->rms_norm_eps);
    cJSON_AddNumberToObject(j, "max_position_embeddings", c->max_position_embeddings);
    // RoPE in both forms: rope_parameters (transformers v5) and rope_theta + rope_scaling
    // (older transformers, vLLM, llama.cpp's converter). Current transformers uses
    // rope_scaling when both are present; they always agree here.
    add_float(j, "rope_theta", c->rope_theta);
    if (c->yarn) {
        cJSON *rs = cJSON_AddObjectToObject(j, "rope_scaling");
        cJSON_AddStringToObject(rs, "type", "yarn");
        add_float(rs, "factor", c->rope_factor);
        cJSON_AddNumberToObject(rs, "original_max_position_embeddings", c->original_max_position_embeddings);
        add_float(rs, "beta_fast", c->beta_fast);
        add_float(rs, "beta_slow", c->beta_slow);
        if (c->mscale != 0) add_float(rs, "mscale", c->mscale);
        if (c->mscale_all_dim != 0) add_float(rs, "mscale_all_dim", c->mscale_all_dim);
    } else {
        cJSON_AddNullToObject(j, "rope_scaling");
    }
    cJSON *rp = cJSON_AddObjectToObject(j, "rope_parameters");
    cJSON_AddStringToObject(rp, "rope_type", c->yarn ? "yarn" : "default");
    add_float(rp, "rope_theta", c->rope_theta);
    if (c->yarn) {
        add_float(rp, "factor", c->rope_factor);
        cJSON_AddNumberToObject(rp, "original_max_position_embeddings", c->original_max_position_embeddings);
        add_float(rp, "beta_fast", c->beta_fast);
        add_float(rp, "beta_slow", c->beta_slow);
        if (c->mscale != 0) add_float(rp, "mscale", c->mscale);
        if (c->mscale_all_dim != 0) add_float(rp, "mscale_all_dim", c->mscale_all_dim);
    }
    if (c->version == 3) {
        cJSON_AddNumberToObject(j, "num_nextn_predict_layers", c->num_nextn_predict_layers);
        cJSON_AddBoolToObject(j, "rope_interleave", 1);
    }
    cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tie_word_embeddings);
    if (c->attn_mha) cJSON_AddStringToObject(j, "deepc_attention", "mha");
    cJSON_AddBoolToObject(j, "attention_bias", 0);
    add_float(j, "attention_dropout", 0.0f);
    add_int_or_null(j, "bos_token_id", c->bos_token_id, -1);
    add_int_or_null(j, "eos_token_id", c->eos_token_id, -1);
    add_float(j, "initializer_range", 0.006f);
    cJSON_AddBoolToObject(j, "use_cache", 1);
    if (c->fp8_weights) {
        cJSON *q = cJSON_AddObjectToObject(j, "quantization_config");
        cJSON_AddStringToObject(q, "activation_scheme", "dynamic");
        cJSON_AddStringToObject(q, "fmt", "e4m3");
        cJSON_AddStringToObject(q, "quant_method", "fp8");
        cJSON *b = cJSON_AddArrayToObject(q, "weight_block_size");
        cJSON_AddItemToArray(b, cJSON_CreateNumber(128));
        cJSON_AddItemToArray(b, cJSON_CreateNumber(128));
    }
    return j;
}

int config_save(const char *path, const Config *c) {
    TRY(config_validate(c, path));
    cJSON *j = config_to_json(c);
    int r = json_save_file(path, j);
    cJSON_Delete(j);
    return r;
}

// ---------------------------------------------------------------- presets

static const char *preset_list = "tiny, small, base, v2-lite, v3, bench-train, bench-infer";
const char *config_preset_names(void) { return preset_list; }

// V3-style routing on a small model: sigmoid scores, correction bias (noaux_tc),
// normalized top-K, scaled by 2.5; one MTP module; no YaRN.
static void small_v3(Config *c, int V, int D, int L, int dense, int H, int rq, int rkv, int dn, int dr, int dv,
                     int inter, int E, int Im, int K, int S, int ng, int tg) {
    defaults_v3(c);
    c->vocab_size = V; c->hidden_size = D; c->num_hidden_layers = L; c->first_k_dense_replace = dense;
    c->num_attention_heads = H; c->q_lora_rank = rq; c->kv_lora_rank = rkv;
    c->qk_nope_head_dim = dn; c->qk_rope_head_dim = dr; c->v_head_dim = dv;
    c->intermediate_size = inter; c->n_routed_experts = E; c->moe_intermediate_size = Im;
    c->num_experts_per_tok = K; c->n_shared_experts = S; c->n_group = ng; c->topk_group = tg;
    c->num_nextn_predict_layers = 1;
}

static void yarn_40(Config *c, float mscale) {
    c->yarn = 1; c->rope_factor = 40; c->original_max_position_embeddings = 4096;
    c->beta_fast = 32; c->beta_slow = 1; c->mscale = mscale; c->mscale_all_dim = mscale;
    c->max_position_embeddings = 163840;
}

int config_preset(const char *name, Config *c) {
    if (!strcmp(name, "tiny")) {
        small_v3(c, 4096, 128, 4, 1, 4, 64, 64, 32, 16, 32, 384, 8, 96, 2, 1, 2, 1);
        c->max_position_embeddings = 1024;
    } else if (!strcmp(name, "small")) {
        small_v3(c, 8192, 256, 4, 1, 4, 128, 128, 64, 32, 64, 1024, 16, 256, 4, 2, 4, 2);
    } else if (!strcmp(name, "base")) {
        small_v3(c, 32000, 768, 12, 1, 12, 384, 256, 64, 32, 64, 2048, 32, 512, 6, 2, 4, 2);
    } else if (!strcmp(name, "bench-train")) {
        // issue 4's fixed training benchmark shape: every layer MoE, no MTP
        small_v3(c, 8192, 256, 4, 0, 4, 128, 128, 64, 32, 64, 1024, 16, 256, 4, 2, 4, 2);
        c->num_nextn_predict_layers = 0;
    } else if (!strcmp(name, "v2-lite")) {
        defaults_v2(c);
        c->vocab_size = 102400; c->hidden_size = 2048; c->intermediate_size = 10944; c->moe_intermediate_size = 1408;
        c->num_hidden_layers = 27; c->num_attention_heads = 16; c->q_lora_rank = 0; c->kv_lora_rank = 512;
        c->qk_nope_head_dim = 128; c->qk_rope_head_dim = 64; c->v_head_dim = 128;
        c->n_routed_experts = 64; c->n_shared_experts = 2; c->num_experts_per_tok = 6;
        c->n_group = 1; c->topk_group = 1; c->topk_method = TOPK_GREEDY; c->scoring_func = SCORE_SOFTMAX;
        c->norm_topk_prob = 0; c->routed_scaling_factor = 1.0f;
        c->first_k_dense_replace = 1; c->moe_layer_freq = 1; c->aux_loss_alpha = 0.001f;
        c->rms_norm_eps = 1e-6f; c->rope_theta = 10000; yarn_40(c, 0.707f);
        c->bos_token_id = 100000; c->eos_token_id = 100001; c->tie_word_embeddings = 0;
        c->num_nextn_predict_layers = 0;
    } else if (!strcmp(name, "bench-infer")) {
        // issue 5's fixed inference benchmark shape: V2-Lite scaled down, query compression on
        config_preset("v2-lite", c);
        c->vocab_size = 32000; c->hidden_size = 1024; c->num_hidden_layers = 12; c->intermediate_size = 5472;
        c->q_lora_rank = 512; c->moe_intermediate_size = 704;
        c->bos_token_id = 0; c->eos_token_id = 1;
    } else if (!strcmp(name, "v3")) {
        defaults_v3(c);   // the class defaults are DeepSeek-V3's shapes
        c->vocab_size = 129280; c->hidden_size = 7168; c->intermediate_size = 18432; c->moe_intermediate_size = 2048;
        c->num_hidden_layers = 61; c->num_nextn_predict_layers = 1; c->num_attention_heads = 128;
        c->q_lora_rank = 1536; c->kv_lora_rank = 512;
        c->n_routed_experts = 256; c->n_shared_experts = 1; c->num_experts_per_tok = 8;
        c->first_k_dense_replace = 3; c->n_group = 8; c->topk_group = 4;
        yarn_40(c, 1.0f);
        c->bos_token_id = 0; c->eos_token_id = 1;
    } else {
        return fail("unknown preset \"%s\" (presets: %s)", name, preset_list);
    }
    return config_validate(c, name);
}
