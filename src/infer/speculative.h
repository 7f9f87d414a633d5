// speculative.h — greedy decoding with MTP self-speculation (spec §5.3): the main
// model's final-normed hidden state h_i and the next token feed MTP module 0
// ([enorm(emb) ; hnorm(h)] → eh_proj → block → norm → lm_head, as vLLM), which
// drafts one token; the main model verifies [token, draft] in one 2-token step
// and keeps the draft when it equals its own greedy choice. The output equals
// plain greedy decoding token for token. MTP rows use RoPE position i (that of h_i).
#pragma once
#include <stdint.h>
#include "infer/engine.h"

typedef struct {
    int drafted, accepted;   // drafts checked, drafts kept
    int main_steps;          // main-model forward calls after the prompt
    double seconds;          // decode time (after the prompt)
} SpecStats;

// Greedy continuation of prompt[0..n) (kv must be empty): up to max_new tokens into
// out (stops after eos, which is included). Needs a model with an MTP module.
int spec_greedy(const Engine *e, KVCache *kv, const int32_t *prompt, int n, int max_new, int32_t eos,
                int32_t *out, int *nout, SpecStats *st);
// Plain greedy continuation (same contract, no MTP), for comparison.
int plain_greedy(const Engine *e, KVCache *kv, const int32_t *prompt, int n, int max_new, int32_t eos,
                 int32_t *out, int *nout, double *seconds);
