// engine.h — the inference forward pass over a batch of sequences: embedding,
// per layer RMSNorm → MLA (latent cache) → RMSNorm → dense FFN / MoE, final
// norm and lm_head. Each sequence contributes n new tokens appended to its own
// cache (prefill: many, decode: one); rows of all sequences share the matmuls
// and the MoE routing.
#pragma once
#include <stdint.h>
#include "infer/kvcache.h"
#include "infer/weights.h"

enum { ATTN_AUTO = 0, ATTN_ABSORBED = 1, ATTN_NAIVE = 2 };

typedef struct {
    const InferModel *m;
    int attn_mode;          // ATTN_*
    int naive_min_tokens;   // ATTN_AUTO: 0 = choose by multiply-add count; > 0: chunks of >= this many new tokens go naive
    union { int kv_dtype; int kv_bf16; };   // KVDtype of caches made by engine_kv_init (kv_bf16 = 1: BF16)
} Engine;

// n new tokens of one sequence, appended at kv->len (kv->len advances by n).
typedef struct { KVCache *kv; const int32_t *tokens; int n; } SeqChunk;

void engine_init(Engine *e, const InferModel *m);
// A cache for one sequence of this model (main layers + MTP layers), at most max_len tokens.
void engine_kv_init(const Engine *e, KVCache *kv, int max_len);
// Run the chunks. logits: [nch, V] (each chunk's last token) or, with all_logits,
// [Σn, V] in row order. hidden (may be NULL): [Σn, D] final-normed hidden states.
// Fails (nothing changed) on a token id outside the vocabulary or a full cache.
int engine_forward(const Engine *e, SeqChunk *ch, int nch, float *logits, int all_logits, float *hidden);
// MTP module k: inputs hidden h [n, D] (main model's final-normed states at
// positions p..p+n-1) and the tokens at p+1..p+n; caches into layer L+k of kv at
// positions kv_mtp_len...; logits [n, V] predict tokens p+2..p+n+1.
int engine_mtp_forward(const Engine *e, int k, KVCache *kv, int *mtp_len, const float *h, const int32_t *tokens,
                       int n, float *logits);
