// sampler.h — next-token choice from logits: repetition penalty, temperature
// (0 = greedy, deterministic), top-k, top-p, min-p, seeded sampling. The filter
// order is the one Hugging Face generate uses: penalty → temperature → top-k →
// top-p → min-p.
#pragma once
#include <stdint.h>
#include "base/rng.h"

typedef struct {
    float temperature;          // 0 = greedy
    int top_k;                  // 0 = off
    float top_p;                // 1 = off
    float min_p;                // 0 = off
    float repetition_penalty;   // 1 = off (HF rule: logit > 0 ? logit / p : logit * p, per distinct past token)
    uint64_t seed;
} SamplerOpts;

typedef struct {
    SamplerOpts o;
    Rng rng;
    int V;
    float *prob;                // [V] scratch
    int *order;                 // [V] scratch
} Sampler;

SamplerOpts sampler_defaults(void);   // everything off, temperature 1, seed 0
void sampler_init(Sampler *s, const SamplerOpts *o, int V);
void sampler_free(Sampler *s);
// The distribution the sampler draws from: prob [V] (zeros for filtered tokens),
// given logits [V] and the tokens so far. With temperature 0: one-hot argmax.
void sampler_distribution(Sampler *s, const float *logits, const int32_t *hist, int nhist, float *prob);
// Choose the next token.
int32_t sampler_next(Sampler *s, const float *logits, const int32_t *hist, int nhist);
