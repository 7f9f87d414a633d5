// weights.h — the inference engine's model: a Config and, per layer, one Lin
// per projection (per expert for MoE), read from a Hugging Face model folder
// (config.json + safetensors, HF tensor names, spec §7.3) in F32/BF16/F16 or
// DeepSeek-V3 FP8 (F8_E4M3 + weight_scale_inv 128x128 blocks), or made random.
#pragma once
#include <stdint.h>
#include "infer/linear.h"
#include "model/config.h"

typedef struct {
    float *attn_norm;      // [D]   input_layernorm
    float *ffn_norm;       // [D]   post_attention_layernorm
    // MLA
    Lin q_a;               // [r_q, D]          (r_q > 0)
    float *q_a_norm;       // [r_q]
    Lin q_b;               // [H*d_qk, r_q]     (r_q > 0)
    Lin q;                 // [H*d_qk, D]       (r_q == 0)
    Lin kv_a;              // [r_kv + d_rope, D]
    float *kv_a_norm;      // [r_kv]
    Lin kv_b;              // [H*(d_nope + d_v), r_kv]; per head W_UK [d_nope, r_kv] then W_UV [d_v, r_kv]
    Lin o;                 // [D, H*d_v]
    // FFN: dense (moe == 0) or MoE
    int moe;
    Lin gate, up, down;    // dense: [I, D], [I, D], [D, I]
    float *router;         // [E, D] FP32
    float *router_bias;    // [E] e_score_correction_bias (noaux_tc), else NULL
    Lin *eg, *eu, *ed;     // [E] experts: [I_moe, D], [I_moe, D], [D, I_moe]
    Lin sg, su, sd;        // shared experts (S > 0): [S*I_moe, D], [S*I_moe, D], [D, S*I_moe]
    // MTP module only (layers[L + k]): enorm, hnorm [D], eh_proj [D, 2D], final norm [D]
    float *enorm, *hnorm, *mtp_norm;
    Lin eh_proj;
} InferLayer;

typedef struct {
    Config c;
    float *embed;          // [V, D]
    float *norm;           // [D]   model.norm
    Lin head;              // [V, D] lm_head
    InferLayer *layers;    // [L + n_mtp]
    int n_mtp;             // MTP modules loaded (0 if absent from the folder)
    float *inv_freq;       // [d_rope/2] RoPE frequencies (YaRN-adjusted)
    float rope_mscale;     // cos/sin multiplier (HF's YaRN attention_factor; 1 in released configs)
    float softmax_scale;   // d_qk^-1/2 * m^2
    double load_seconds;   // time load took
    void *st;              // StFile* of the loaded folder (weights may be views into it), or NULL
} InferModel;

// Load a model folder (config.json + model.safetensors or a sharded index).
// Fails with a message for another architecture, missing tensors, wrong shapes.
int infer_model_load(const char *dir, InferModel *m);
// A model folder's config.json as infer_model_load reads it, and its quantization: fp8 (DeepSeek-V3's
// quantization_config) or deepc's int8 / int4 (bits 8 / 4; rows8: the int4 decode layout, infer/quantize.h).
typedef struct { int fp8, bits, rows8; } FolderQuant;
int infer_folder_config(const char *dir, Config *c, FolderQuant *q);
// A model with weights drawn uniformly with standard deviation std (norms near 1), for tests and benchmarks.
void infer_model_random(InferModel *m, const Config *c, uint64_t seed, float std);
// The same with every projection encoded in t as soon as it is drawn (peak memory: the encoded
// model plus one FP32 matrix). lm_head stays FP32; call infer_model_convert for it.
void infer_model_random_as(InferModel *m, const Config *c, uint64_t seed, float std, QType t);
void infer_model_free(InferModel *m);
// Derived RoPE tables and scales from m->c (called by load/random).
void infer_model_derive(InferModel *m);
// Re-encode every projection in t (bf16, fp8, int8, int4; lm_head: bf16 for bf16/fp8, int8 for
// int8/int4). Embedding, norms and router stay FP32.
int infer_model_convert(InferModel *m, QType t);
// int4 projections (all but kv_b) into the decode layout of qmat_interleave; load, random_as and convert call
// it. Owned copies: a loaded folder's int4 weights then live in memory instead of the mapped files.
void infer_model_interleave(InferModel *m);
// Internal helpers shared by weights.c and load.c.
int infer_is_moe_layer(const Config *c, int layer);
// Parameter count of the main model (excluding MTP) and bytes its weights occupy.
int64_t infer_model_params(const InferModel *m);
size_t infer_model_bytes(const InferModel *m);
