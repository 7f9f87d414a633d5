// test_config.c — model/config: presets, both RoPE forms (v4 rope_scaling, v5
// rope_parameters), defaults, write/read round trips, refusals of unsupported values
// (message names the key), softmax scale vs the spec's table, and a fuzz test.
// (tests/ref/test_formats.py checks the same files against transformers.)
#include "test.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include "base/rng.h"
#include "model/config.h"
#include <time.h>
#include <unistd.h>

static char tmpdir[256];
static uint64_t seed;

static int parse(const char *text, Config *c) {
    cJSON *j;
    if (json_parse(text, strlen(text), "cfg.json", &j) < 0) return -1;
    int r = config_from_json(j, "cfg.json", c);
    cJSON_Delete(j);
    return r;
}

// DeepSeek-V2-Lite's Hub config.json (v4 form), values from the spec's §7.1 table.
static const char *v2_lite_hub =
    "{\"architectures\": [\"DeepseekV2ForCausalLM\"], \"model_type\": \"deepseek_v2\","
    " \"vocab_size\": 102400, \"hidden_size\": 2048, \"intermediate_size\": 10944, \"moe_intermediate_size\": 1408,"
    " \"num_hidden_layers\": 27, \"num_attention_heads\": 16, \"num_key_value_heads\": 16, \"q_lora_rank\": null,"
    " \"kv_lora_rank\": 512, \"qk_nope_head_dim\": 128, \"qk_rope_head_dim\": 64, \"v_head_dim\": 128,"
    " \"n_routed_experts\": 64, \"n_shared_experts\": 2, \"num_experts_per_tok\": 6, \"first_k_dense_replace\": 1,"
    " \"moe_layer_freq\": 1, \"scoring_func\": \"softmax\", \"topk_method\": \"greedy\", \"n_group\": 1, \"topk_group\": 1,"
    " \"norm_topk_prob\": false, \"routed_scaling_factor\": 1.0, \"aux_loss_alpha\": 0.001, \"seq_aux\": true,"
    " \"hidden_act\": \"silu\", \"rms_norm_eps\": 1e-06, \"rope_theta\": 10000,"
    " \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 40, \"original_max_position_embeddings\": 4096,"
    "   \"beta_fast\": 32, \"beta_slow\": 1, \"mscale\": 0.707, \"mscale_all_dim\": 0.707},"
    " \"max_position_embeddings\": 163840, \"bos_token_id\": 100000, \"eos_token_id\": 100001,"
    " \"tie_word_embeddings\": false, \"attention_bias\": false, \"attention_dropout\": 0.0, \"torch_dtype\": \"bfloat16\"}";

// DeepSeek-V3's Hub config.json (v4 form, FP8 quantization), values from the spec's §7.1 / §6.6.
static const char *v3_hub =
    "{\"architectures\": [\"DeepseekV3ForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0,"
    " \"auto_map\": {\"AutoConfig\": \"configuration_deepseek.DeepseekV3Config\"}, \"aux_loss_alpha\": 0.001,"
    " \"bos_token_id\": 0, \"eos_token_id\": 1, \"ep_size\": 1, \"first_k_dense_replace\": 3, \"hidden_act\": \"silu\","
    " \"hidden_size\": 7168, \"initializer_range\": 0.02, \"intermediate_size\": 18432, \"kv_lora_rank\": 512,"
    " \"max_position_embeddings\": 163840, \"model_type\": \"deepseek_v3\", \"moe_intermediate_size\": 2048,"
    " \"moe_layer_freq\": 1, \"n_group\": 8, \"n_routed_experts\": 256, \"n_shared_experts\": 1, \"norm_topk_prob\": true,"
    " \"num_attention_heads\": 128, \"num_experts_per_tok\": 8, \"num_hidden_layers\": 61, \"num_key_value_heads\": 128,"
    " \"num_nextn_predict_layers\": 1, \"pretraining_tp\": 1, \"q_lora_rank\": 1536, \"qk_nope_head_dim\": 128,"
    " \"qk_rope_head_dim\": 64, \"quantization_config\": {\"activation_scheme\": \"dynamic\", \"fmt\": \"e4m3\","
    " \"quant_method\": \"fp8\", \"weight_block_size\": [128, 128]}, \"rms_norm_eps\": 1e-06, \"rope_scaling\": {"
    " \"beta_fast\": 32, \"beta_slow\": 1, \"factor\": 40, \"mscale\": 1.0, \"mscale_all_dim\": 1.0,"
    " \"original_max_position_embeddings\": 4096, \"type\": \"yarn\"}, \"rope_theta\": 10000, \"routed_scaling_factor\": 2.5,"
    " \"scoring_func\": \"sigmoid\", \"seq_aux\": true, \"tie_word_embeddings\": false, \"topk_group\": 4,"
    " \"topk_method\": \"noaux_tc\", \"torch_dtype\": \"bfloat16\", \"transformers_version\": \"4.33.1\","
    " \"use_cache\": true, \"v_head_dim\": 128, \"vocab_size\": 129280}";

TEST(presets_match_the_published_shapes) {
    {
        Config p, h;
        CHECK(config_preset("v3", &p) == 0, "%s", last_error());
        CHECK(parse(v3_hub, &h) == 0, "%s", last_error());
        CHECK(h.fp8_weights == 1, "V3 ships FP8 weights");
        p.fp8_weights = 1;
        CHECK(!memcmp(&p, &h, sizeof p), "v3 preset (+fp8) differs from DeepSeek-V3's Hub config");
    }
    Config c;
    CHECK(config_preset("v2-lite", &c) == 0, "%s", last_error());
    Config h;
    CHECK(parse(v2_lite_hub, &h) == 0, "%s", last_error());
    CHECK(!memcmp(&c, &h, sizeof c), "v2-lite preset differs from the Hub config");
    CHECK(c.q_lora_rank == 0 && c.yarn && c.mscale_all_dim == 0.707f && c.rope_factor == 40, "v2-lite fields");
    CHECK(config_preset("v3", &c) == 0, "%s", last_error());
    CHECK(c.version == 3 && c.hidden_size == 7168 && c.num_hidden_layers == 61 && c.n_routed_experts == 256 &&
          c.num_experts_per_tok == 8 && c.n_group == 8 && c.topk_group == 4 && c.first_k_dense_replace == 3 &&
          c.num_nextn_predict_layers == 1 && c.vocab_size == 129280 && c.q_lora_rank == 1536 &&
          c.topk_method == TOPK_NOAUX_TC && c.scoring_func == SCORE_SIGMOID && c.routed_scaling_factor == 2.5f &&
          c.max_position_embeddings == 163840, "v3 fields");
    CHECK(config_preset("tiny", &c) == 0, "%s", last_error());
    CHECK(c.vocab_size == 4096 && c.hidden_size == 128 && c.num_hidden_layers == 4 && c.first_k_dense_replace == 1 &&
          c.num_attention_heads == 4 && c.q_lora_rank == 64 && c.kv_lora_rank == 64 && c.qk_nope_head_dim == 32 &&
          c.qk_rope_head_dim == 16 && c.v_head_dim == 32 && c.intermediate_size == 384 && c.n_routed_experts == 8 &&
          c.moe_intermediate_size == 96 && c.num_experts_per_tok == 2 && c.n_shared_experts == 1 && c.n_group == 2 &&
          c.topk_group == 1 && c.num_nextn_predict_layers == 1 && c.max_position_embeddings == 1024 && !c.yarn,
          "tiny fields");
    // issue 4: hidden 256, 4 layers all MoE, 4 heads, V 8192, 16 experts of 256, top-4, 2 shared, kv 128, rope 32, nope 64, v 64
    CHECK(config_preset("bench-train", &c) == 0, "%s", last_error());
    CHECK(c.hidden_size == 256 && c.num_hidden_layers == 4 && c.num_attention_heads == 4 && c.vocab_size == 8192 &&
          c.first_k_dense_replace == 0 && c.n_routed_experts == 16 && c.moe_intermediate_size == 256 &&
          c.num_experts_per_tok == 4 && c.n_shared_experts == 2 && c.kv_lora_rank == 128 && c.qk_rope_head_dim == 32 &&
          c.qk_nope_head_dim == 64 && c.v_head_dim == 64, "bench-train fields");
    for (int l = 0; l < 4; l++) CHECK(config_is_moe_layer(&c, l), "bench-train layer %d must be MoE", l);
    // issue 5: H 16, q_lora 512, kv 512, rope 64, nope 128, v 128, YaRN as V2-Lite, D 1024, L 12 first dense
    // (inter 5472), 64 experts top-6 softmax no renorm + 2 shared, width 704, V 32000
    CHECK(config_preset("bench-infer", &c) == 0, "%s", last_error());
    CHECK(c.num_attention_heads == 16 && c.q_lora_rank == 512 && c.kv_lora_rank == 512 && c.qk_rope_head_dim == 64 &&
          c.qk_nope_head_dim == 128 && c.v_head_dim == 128 && c.yarn && c.mscale_all_dim == 0.707f &&
          c.hidden_size == 1024 && c.num_hidden_layers == 12 && c.first_k_dense_replace == 1 &&
          c.intermediate_size == 5472 && c.n_routed_experts == 64 && c.num_experts_per_tok == 6 &&
          c.scoring_func == SCORE_SOFTMAX && !c.norm_topk_prob && c.n_shared_experts == 2 &&
          c.moe_intermediate_size == 704 && c.vocab_size == 32000, "bench-infer fields");
    CHECK(!config_is_moe_layer(&c, 0) && config_is_moe_layer(&c, 1) && config_is_moe_layer(&c, 11), "bench-infer layout");
    CHECK(config_preset("small", &c) == 0 && config_preset("base", &c) == 0, "%s", last_error());
    CHECK(config_preset("huge", &c) < 0 && strstr(last_error(), "tiny"), "unknown preset lists the presets: %s", last_error());
}

TEST(softmax_scale_matches_spec_table) {
    Config c;
    config_preset("v3", &c);
    CHECK(fabs(config_softmax_scale(&c) - 0.135234) < 2e-6, "v3: %.6f", config_softmax_scale(&c));
    config_preset("v2-lite", &c);
    CHECK(fabs(config_softmax_scale(&c) - 0.114721) < 2e-6, "v2-lite: %.6f", config_softmax_scale(&c));
    CHECK(fabs(config_rope_attention_factor(&c) - 1.0) < 1e-6, "mscale == mscale_all_dim gives cos/sin factor 1");
    c.yarn = 0;
    CHECK(fabs(config_softmax_scale(&c) - 0.072169) < 2e-6, "no yarn: %.6f", config_softmax_scale(&c));
    CHECK(config_qk_head_dim(&c) == 192, "qk head dim");
}

TEST(round_trip_every_preset) {
    const char *names[] = { "tiny", "small", "base", "v2-lite", "v3", "bench-train", "bench-infer" };
    char *p = path_join(tmpdir, "config.json");
    for (int i = 0; i < 7; i++) {
        Config a, b;
        CHECK(config_preset(names[i], &a) == 0, "%s", last_error());
        CHECK(config_save(p, &a) == 0, "%s", last_error());
        CHECK(config_load(p, &b) == 0, "%s: %s", names[i], last_error());
        CHECK(!memcmp(&a, &b, sizeof a), "%s: read back differs", names[i]);
        a.attn_mha = i == 0;   // deepc's MHA-ablation extension key round-trips too
        CHECK(config_save(p, &a) == 0 && config_load(p, &b) == 0 && !memcmp(&a, &b, sizeof a),
              "%s with attn_mha: %s", names[i], last_error());
        a.attn_mha = 0;
        a.fp8_weights = 1;
        CHECK(config_save(p, &a) == 0 && config_load(p, &b) == 0 && b.fp8_weights == 1 && !memcmp(&a, &b, sizeof a),
              "%s with fp8: %s", names[i], last_error());
    }
    // a model without routed experts: first_k_dense_replace covers every layer for transformers
    Config a, b;
    config_preset("tiny", &a);
    a.n_routed_experts = 0;
    CHECK(config_save(p, &a) == 0 && config_load(p, &b) == 0, "%s", last_error());
    CHECK(b.n_routed_experts == 0 && b.first_k_dense_replace == a.num_hidden_layers + a.num_nextn_predict_layers,
          "dense model: first_k_dense_replace %d", b.first_k_dense_replace);
    for (int l = 0; l < a.num_hidden_layers; l++) CHECK(!config_is_moe_layer(&b, l), "layer %d dense", l);
    // floats are written as short decimals
    char *buf; size_t n;
    CHECK(io_read_all(p, &buf, &n) == 0, "%s", last_error());
    CHECK(strstr(buf, "1e-06") != NULL, "rms_norm_eps written as 1e-06");
    CHECK(strstr(buf, "\"rope_parameters\"") != NULL, "written in the rope_parameters form");
    free(buf);
    free(p);
}

TEST(defaults_and_nulls_follow_transformers) {
    Config c;
    // DeepseekV3Config() with nothing set
    CHECK(parse("{\"model_type\": \"deepseek_v3\"}", &c) == 0, "%s", last_error());
    CHECK(c.hidden_size == 7168 && c.max_position_embeddings == 4096 && c.q_lora_rank == 1536 && !c.yarn &&
          c.num_nextn_predict_layers == 1 && c.bos_token_id == 0 && c.eos_token_id == 1 && c.n_group == 8, "v3 defaults");
    // DeepseekV2Config() has num_experts_per_tok = None: refused for a model with routed experts
    CHECK(parse("{\"model_type\": \"deepseek_v2\"}", &c) < 0 && strstr(last_error(), "num_experts_per_tok"),
          "v2 without num_experts_per_tok: %s", last_error());
    CHECK(parse("{\"model_type\": \"deepseek_v2\", \"num_experts_per_tok\": 6}", &c) == 0, "%s", last_error());
    CHECK(c.hidden_size == 4096 && c.moe_intermediate_size == 1407 && c.max_position_embeddings == 2048 &&
          c.bos_token_id == 1 && c.eos_token_id == 2 && c.topk_method == TOPK_GREEDY && c.first_k_dense_replace == 0 &&
          c.n_group == 1 && c.num_nextn_predict_layers == 0, "v2 defaults");
    // q_lora_rank: null = no compression; absent = default
    CHECK(parse("{\"model_type\": \"deepseek_v3\", \"q_lora_rank\": null}", &c) == 0 && c.q_lora_rank == 0, "null q_lora_rank");
    CHECK(parse("{\"model_type\": \"deepseek_v3\", \"q_lora_rank\": 0}", &c) == 0 && c.q_lora_rank == 0, "0 q_lora_rank");
    // n_routed_experts null = dense model
    CHECK(parse("{\"model_type\": \"deepseek_v3\", \"n_routed_experts\": null}", &c) == 0 && c.n_routed_experts == 0 &&
          !config_is_moe_layer(&c, 5), "dense: %s", last_error());
    // rope_parameters (v5) vs rope_theta + rope_scaling (v4): same Config
    Config a, b;
    CHECK(parse("{\"model_type\": \"deepseek_v3\", \"rope_parameters\": {\"rope_type\": \"yarn\", \"rope_theta\": 5000.0, "
                "\"factor\": 8.0, \"original_max_position_embeddings\": 512, \"beta_fast\": 16, \"beta_slow\": 2, "
                "\"mscale\": 1.0, \"mscale_all_dim\": 0.5}}", &a) == 0, "%s", last_error());
    CHECK(parse("{\"model_type\": \"deepseek_v3\", \"rope_theta\": 5000, \"rope_scaling\": {\"type\": \"yarn\", "
                "\"factor\": 8, \"original_max_position_embeddings\": 512, \"beta_fast\": 16, \"beta_slow\": 2, "
                "\"mscale\": 1.0, \"mscale_all_dim\": 0.5}}", &b) == 0, "%s", last_error());
    CHECK(!memcmp(&a, &b, sizeof a) && a.rope_theta == 5000 && a.yarn && a.rope_factor == 8 &&
          a.original_max_position_embeddings == 512 && a.beta_fast == 16 && a.beta_slow == 2, "rope forms differ");
    // both forms present: transformers takes rope_scaling; theta from the dict, else top level
    CHECK(parse("{\"model_type\": \"deepseek_v3\", \"rope_theta\": 3000, \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4},"
                " \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 7000}}", &c) == 0, "%s", last_error());
    CHECK(c.yarn && c.rope_factor == 4 && c.rope_theta == 3000 && c.original_max_position_embeddings == 4096, "rope_scaling wins");
    CHECK(parse("{\"model_type\": \"deepseek_v3\", \"rope_theta\": 3000, \"rope_scaling\": {},"
                " \"rope_parameters\": {\"rope_type\": \"yarn\", \"factor\": 2, \"rope_theta\": 7000}}", &c) == 0, "%s", last_error());
    CHECK(c.yarn && c.rope_factor == 2 && c.rope_theta == 7000, "empty rope_scaling is ignored");
    // rope_type default = no YaRN; eos list -> first id; num_mtp_layers alias
    CHECK(parse("{\"model_type\": \"deepseek_v3\", \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 20000}, "
                "\"eos_token_id\": [7, 9], \"num_mtp_layers\": 2}", &c) == 0, "%s", last_error());
    CHECK(!c.yarn && c.rope_theta == 20000 && c.eos_token_id == 7 && c.num_nextn_predict_layers == 2, "misc");
}

static void refuse(const char *extra, const char *key) {
    char text[1024];
    snprintf(text, sizeof text, "{\"model_type\": \"deepseek_v3\", %s}", extra);
    Config c;
    int r = parse(text, &c);
    CHECK(r < 0, "accepted %s", extra);
    if (r < 0) {
        CHECK(strstr(last_error(), key) != NULL, "message must name %s: %s", key, last_error());
        CHECK(strstr(last_error(), "cfg.json") != NULL, "message must name the file: %s", last_error());
    }
}

TEST(unsupported_values_are_refused_by_key) {
    refuse("\"hidden_act\": \"gelu\"", "hidden_act");
    refuse("\"scoring_func\": \"tanh\"", "scoring_func");
    refuse("\"topk_method\": \"random\"", "topk_method");
    refuse("\"attention_bias\": true", "attention_bias");
    refuse("\"n_routed_experts\": 10, \"n_group\": 4", "n_group");
    refuse("\"num_experts_per_tok\": 300", "num_experts_per_tok");
    refuse("\"topk_group\": 9", "topk_group");
    refuse("\"n_routed_experts\": 8, \"n_group\": 8, \"topk_group\": 1, \"num_experts_per_tok\": 1", "noaux_tc");
    refuse("\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2}", "rope_scaling");
    refuse("\"rope_parameters\": {\"rope_type\": \"dynamic\", \"factor\": 2}", "rope_parameters");
    refuse("\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 40, \"original_max_position_embeddings\": -5}", "original_max_position_embeddings");
    refuse("\"rope_parameters\": {\"full_attention\": {\"rope_type\": \"yarn\", \"factor\": 4}}", "full_attention");
    refuse("\"rope_parameters\": {\"rope_type\": \"default\", \"partial_rotary_factor\": 0.5}", "partial_rotary_factor");
    refuse("\"quantization_config\": {\"quant_method\": \"bitsandbytes\"}", "quant_method");
    refuse("\"quantization_config\": {\"quant_method\": \"fp8\", \"weight_block_size\": [64, 64]}", "weight_block_size");
    refuse("\"quantization_config\": {\"quant_method\": \"fp8\", \"fmt\": \"e5m2\"}", "fmt");
    refuse("\"rope_interleave\": false", "rope_interleave");
    refuse("\"deepc_attention\": \"gqa\"", "deepc_attention");
    refuse("\"hidden_size\": \"big\"", "hidden_size");
    refuse("\"hidden_size\": 0", "hidden_size");
    refuse("\"qk_rope_head_dim\": 63", "qk_rope_head_dim");
    refuse("\"norm_topk_prob\": 1", "norm_topk_prob");
    refuse("\"bos_token_id\": 200000", "bos_token_id");
    refuse("\"num_hidden_layers\": 1e12", "num_hidden_layers");
    refuse("\"num_hidden_layers\": 2000000000", "num_hidden_layers");
    refuse("\"vocab_size\": 2000000000", "vocab_size");
    Config c;
    CHECK(parse("{\"model_type\": \"llama\"}", &c) < 0 && strstr(last_error(), "deepseek_v3"), "%s", last_error());
    CHECK(parse("{\"hidden_size\": 5}", &c) < 0 && strstr(last_error(), "model_type"), "%s", last_error());
    // a malformed file: path, line and column
    char *p = path_join(tmpdir, "bad.json");
    io_write_file(p, "{\"model_type\": \"deepseek_v3\",\n \"hidden_size\": ]", 47);
    CHECK(config_load(p, &c) < 0 && strstr(last_error(), p) && strstr(last_error(), "line 2"), "%s", last_error());
    free(p);
}

TEST(fuzz_config_never_crashes) {
    Rng r; rng_seed(&r, seed);
    size_t n = strlen(v2_lite_hub);
    char *buf = xmalloc(n + 1);
    static const char junk[] = "{}[],:\"0123456789-.eE nulltruefalse";
    int ok = 0, iters = 3000;
    for (int it = 0; it < iters; it++) {
        memcpy(buf, v2_lite_hub, n + 1);
        size_t len = n;
        int muts = 1 + (int)rng_below(&r, 3);
        for (int k = 0; k < muts; k++) {
            if (rng_below(&r, 4) == 0) len = rng_below(&r, len + 1);
            else buf[rng_below(&r, len)] = junk[rng_below(&r, sizeof junk - 1)];
        }
        cJSON *j;
        if (json_parse(buf, len, "fuzz.json", &j) == 0) {
            Config c;
            if (config_from_json(j, "fuzz.json", &c) == 0) { ok++; CHECK(config_validate(&c, "x") == 0, "valid"); }
            else CHECK(strstr(last_error(), "fuzz.json") != NULL, "message names the file: %s", last_error());
            cJSON_Delete(j);
        }
    }
    printf("  fuzz: %d mutated configs, %d accepted\n", iters, ok);
    free(buf);
}

int main(void) {
    seed = test_seed();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/deepc_test_cfg_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 2; }
    RUN(presets_match_the_published_shapes);
    RUN(softmax_scale_matches_spec_table);
    RUN(round_trip_every_preset);
    RUN(defaults_and_nulls_follow_transformers);
    RUN(unsupported_values_are_refused_by_key);
    RUN(fuzz_config_never_crashes);
    io_rm_rf(tmpdir);
    return test_summary();
}
