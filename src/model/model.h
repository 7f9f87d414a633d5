// model.h — a DeepSeek-V2/V3 model in FP32 for training and scoring: all
// parameters in one contiguous block addressed through named views (the Hugging
// Face safetensors names), gradients in a second block with the same layout.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "model/config.h"

// A named view into the parameter block (and, at the same offset, the gradient block).
typedef struct {
    char name[96];          // HF tensor name, e.g. "model.layers.0.self_attn.kv_b_proj.weight"
    int ndim;
    int64_t shape[3];
    size_t offset, numel;   // in floats, into params / grads
    int trainable;          // 0 for e_score_correction_bias (updated by the balance rule, not by gradients)
    int decay;              // 1 for matrices (weight decay applies), 0 for norms, biases
} ParamView;

// Pointers of one decoder layer (main layers 0..L-1, MTP layers L..L+n_mtp-1) into
// a block (params or grads). NULL where the config has no such tensor.
typedef struct {
    float *attn_norm;                    // [D]          input_layernorm
    float *q_a, *q_a_norm, *q_b;         // [rq, D], [rq], [H*dqk, rq]   (q_lora_rank > 0)
    float *q;                            // [H*dqk, D]   q_proj          (q_lora_rank == 0, or MHA)
    float *k_proj, *v_proj;              // [H*dqk, D], [H*dv, D]        (MHA ablation only)
    float *kv_a;                         // [rkv+dr, D]  kv_a_proj_with_mqa
    float *kv_a_norm;                    // [rkv]
    float *kv_b;                         // [H*(dn+dv), rkv]
    float *o;                            // [D, H*dv]
    float *ffn_norm;                     // [D]          post_attention_layernorm
    float *gate, *up, *down;             // dense: [I, D], [I, D], [D, I]
    float *router;                       // [E, D]       mlp.gate.weight
    float *router_bias;                  // [E]          mlp.gate.e_score_correction_bias (noaux_tc only)
    float *sh_gate, *sh_up, *sh_down;    // [S*Im, D], [S*Im, D], [D, S*Im]
    float *ex_gate, *ex_up, *ex_down;    // [E, Im, D], [E, Im, D], [E, D, Im] (expert e at e*Im*D)
    float *enorm, *hnorm, *eh_proj, *head_norm;  // MTP only: [D], [D], [D, 2D], [D]
    int is_moe;
} LayerW;

typedef struct {
    Config c;
    size_t n_params;       // floats in the block
    float *params;         // [n_params], 64-byte aligned
    float *grads;          // [n_params] or NULL (model_alloc_grads)
    ParamView *views; int n_views;
    int n_layers_total;    // L + num_nextn_predict_layers
    LayerW *lw;            // [n_layers_total] views into params
    LayerW *lg;            // [n_layers_total] views into grads (when allocated)
    float *embed;          // [V, D]
    float *final_norm;     // [D]
    float *lm_head;        // [V, D] (== embed when tie_word_embeddings)
    struct ModelWork *work; // activations of the last forward (private)
} Model;

// Build the view table and allocate the parameter block (zeroed) for a config.
int model_create(const Config *c, Model *m);
void model_free(Model *m);
void model_alloc_grads(Model *m);            // zeroed gradient block
void model_zero_grads(Model *m);
// Papers' init: every matrix N(0, std^2) (std 0.006), norms 1, router bias 0.
void model_init_random(Model *m, uint64_t seed, float std);
const ParamView *model_find(const Model *m, const char *name);   // NULL if absent
// Load a model folder (config.json + safetensors, single or sharded; F32/BF16/F16/FP8
// weights converted to FP32). Missing tensors, wrong shapes: message naming the tensor.
int model_load(const char *dir, Model *m);
// Write config.json + model.safetensors (F32, or BF16 when bf16 != 0) into dir
// atomically (a temp folder renamed into place; an existing dir is replaced).
int model_save(const Model *m, const char *dir, int bf16);
// Write config.json + model.safetensors into an existing/new folder (files atomic,
// folder not): for checkpoints that add their own files before renaming.
int model_write_files(const Model *m, const char *dir, int bf16);
// Total parameters, and parameters touched per token (dense + shared + K of E experts).
void model_param_counts(const Config *c, size_t *total, size_t *active);

// Options of one training / scoring step.
typedef struct {
    int compute_grads;     // 1: backward pass, accumulating into m->grads (+=)
    float mtp_lambda;      // weight λ of the MTP loss (0 disables MTP; needs num_nextn_predict_layers)
    float balance_alpha;   // weight α of the sequence-wise balance loss (0 disables)
    float *logits;         // optional output [B, T, V] (main head), or NULL
} StepOpts;

typedef struct {
    double loss;           // main cross-entropy, mean over targets >= 0
    double mtp_loss;       // mean over depths of the MTP cross-entropies (before λ)
    double balance_loss;   // Σ over MoE layers of mean over sequences of Σ_i f_i P_i (before α)
    double total;          // loss + λ·mtp_loss + α·balance_loss  (what the gradient is of)
    int n_targets;         // counted targets of the main loss
    int32_t *expert_load;  // [n_layers_total, E] (token, slot) assignments this step; owned by the model
    uint64_t routing_hash; // hash of every token's selected experts (tests use it to spot routing flips)
} StepOut;

// One forward (+ backward) over tokens [B, T] with targets [B, T] (target < 0 = ignore).
// The gradient accumulates into m->grads (call model_zero_grads first for a fresh step).
int model_step(Model *m, const int32_t *tokens, const int32_t *targets, int B, int T, const StepOpts *o, StepOut *out);

// The auxiliary-loss-free balance rule (spec §3.3) for every MoE layer of the main
// model and MTP: b_i += gamma * sign(mean_load - load_i), with the loads of a step.
void model_update_router_bias(Model *m, const int32_t *expert_load, float gamma);
