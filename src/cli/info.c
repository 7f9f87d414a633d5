// info.c — `deepc info`: parameters (total, active per token), layer layout,
// KV-cache bytes per token (MLA latent vs the equivalent multi-head cache), memory.
#include "base/args.h"
#include "base/check.h"
#include "base/io.h"
#include "cli/cli.h"
#include "infer/kvcache.h"
#include "infer/weights.h"
#include "model/model.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void human(char *b, size_t n, double bytes) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (bytes >= 1024 && i < 4) { bytes /= 1024; i++; }
    snprintf(b, n, "%.2f %s", bytes, u[i]);
}

static const char *count(char *b, size_t n, double x) {
    if (x >= 1e9) snprintf(b, n, "%.2fB", x / 1e9);
    else if (x >= 1e6) snprintf(b, n, "%.2fM", x / 1e6);
    else snprintf(b, n, "%.1fK", x / 1e3);
    return b;
}

int cmd_info(int argc, char **argv) {
    Opt o[] = {
        {"--preset", "NAME", "describe a preset instead of a folder", NULL, NULL, 0},
        {"--context", "N", "context length for the KV-cache total", "4096", NULL, 0},
    };
    int n = sizeof o / sizeof *o;
    char *pos[1]; int np = 1;
    args_parse(argc, argv, o, n, "usage: deepc info (DIR | --preset NAME) [--context N]", pos, &np);
    Config c;
    const char *preset = opt_str(o, n, "--preset");
    if (preset) { if (config_preset(preset, &c) < 0) fatal_last(); }
    char qdesc[96] = "";
    if (!preset && np == 1) {
        FolderQuant fq;
        if (infer_folder_config(pos[0], &c, &fq) < 0) fatal_last();
        if (fq.fp8) snprintf(qdesc, sizeof qdesc, "fp8 (DeepSeek-V3 128x128 blocks)");
        else if (fq.bits) snprintf(qdesc, sizeof qdesc, "deepc int%d, 32-blocks%s", fq.bits, fq.rows8 ? ", int4 decode layout (rows8)" : "");
    } else if (!preset) { args_usage("usage: deepc info (DIR | --preset NAME) [--context N]", o, n); return 2; }
    size_t total, active;
    model_param_counts(&c, &total, &active);
    size_t mtp = 0;   // MTP modules: one decoder layer each + eh_proj + enorm, hnorm, head norm
    if (c.num_nextn_predict_layers > 0) {
        Config a = c, b = c;
        a.num_nextn_predict_layers = 0;
        size_t t0, a0;
        model_param_counts(&a, &t0, &a0);
        b.num_hidden_layers = c.num_hidden_layers + c.num_nextn_predict_layers;   // MTP layer ≈ one more decoder layer
        size_t t1, a1;
        model_param_counts(&b, &t1, &a1);
        mtp = (t1 - t0) + c.num_nextn_predict_layers * ((size_t)2 * c.hidden_size * c.hidden_size + 3 * (size_t)c.hidden_size);
    }
    long ctx = opt_int(o, n, "--context");
    int L = c.num_hidden_layers, H = c.num_attention_heads;
    size_t mla = (size_t)(c.kv_lora_rank + c.qk_rope_head_dim) * L;
    size_t mha = (size_t)H * (c.qk_nope_head_dim + c.qk_rope_head_dim + c.v_head_dim) * L;
    char b1[32], b2[32], b3[32], b4[32], b5[32];
    printf("model: deepseek_v%d, vocab %d, hidden %d, %d layers, %d heads\n", c.version, c.vocab_size, c.hidden_size, L, H);
    printf("attention: MLA q_lora_rank %d, kv_lora_rank %d, nope %d, rope %d, v %d%s\n", c.q_lora_rank, c.kv_lora_rank,
           c.qk_nope_head_dim, c.qk_rope_head_dim, c.v_head_dim, c.yarn ? ", YaRN" : "");
    printf("layers: ");
    for (int l = 0; l < L; l++) printf("%c", config_is_moe_layer(&c, l) ? 'M' : 'D');
    printf("  (D dense FFN width %d, M MoE: %d routed experts of width %d, %d active, %d shared; %s routing)\n",
           c.intermediate_size, c.n_routed_experts, c.moe_intermediate_size, c.num_experts_per_tok, c.n_shared_experts,
           c.scoring_func == SCORE_SIGMOID ? "sigmoid" : "softmax");
    char c1[32], c2[32], c3[32];
    if (qdesc[0]) printf("weights: %s\n", qdesc);
    printf("parameters: %s total, %s active per token", count(c1, sizeof c1, total), count(c2, sizeof c2, active));
    if (mtp) printf(", + %s in %d MTP module(s)", count(c3, sizeof c3, mtp), c.num_nextn_predict_layers);
    printf("\n");
    human(b1, sizeof b1, mla * 2.0); human(b2, sizeof b2, mha * 2.0); human(b3, sizeof b3, (double)mla * 2 * ctx);
    printf("KV cache per token (BF16): MLA latent %s (%zu values), multi-head equivalent %s (%.1f%% of it); %ld tokens: %s\n",
           b1, mla, b2, 100.0 * mla / mha, ctx, b3);
    human(b1, sizeof b1, (double)kv_row_bytes(KV_F32, c.kv_lora_rank, c.qk_rope_head_dim) * L);
    human(b2, sizeof b2, (double)kv_row_bytes(KV_BF16, c.kv_lora_rank, c.qk_rope_head_dim) * L);
    human(b3, sizeof b3, (double)kv_row_bytes(KV_FP8, c.kv_lora_rank, c.qk_rope_head_dim) * L);
    human(b4, sizeof b4, (double)kv_row_bytes(KV_I8, c.kv_lora_rank, c.qk_rope_head_dim) * L);
    printf("KV cache per token by --kv-cache format: f32 %s, bf16 %s, fp8 %s (c_kv E4M3 + a scale per 128, k_pe BF16), "
           "int8 %s (a scale per 128)\n", b1, b2, b3, b4);
    human(b1, sizeof b1, (total + mtp) * 4.0); human(b2, sizeof b2, (total + mtp) * 2.0);
    human(b4, sizeof b4, (total + mtp) * 1.0); human(b5, sizeof b5, (total + mtp) * 16.0);
    printf("memory: weights FP32 %s, BF16 %s, FP8 %s; training (FP32 weights + grads + AdamW moments) %s + activations\n",
           b1, b2, b4, b5);
    return 0;
}
