// sample.h — sampled continuations from a model under training: repeated full
// forward passes on the growing context (fine for the small models pre-training
// produces on a CPU; `deepc generate` is the fast path with a KV cache).
#pragma once
#include <stdint.h>
#include "base/rng.h"
#include "data/tokenizer.h"
#include "model/model.h"

// Append up to max_new tokens to ids[0..n) (capacity n + max_new); temperature
// 0 = greedy; stops early at eos (eos < 0: never). Returns the new length, or -1.
int sample_continue(Model *m, int32_t *ids, int n, int max_new, float temperature, int32_t eos, Rng *rng);
// Continue a few fixed prompts (code and prose) and write them as Markdown to
// path (atomically); also used by the speedrun report.
int sample_write_report(Model *m, const Tokenizer *tok, const char *path, int n_prompts, uint64_t seed);
