// generate.h — the text generation loop shared by `deepc generate` and `deepc
// chat`: feed tokens into a sequence's cache, then sample, stream text (UTF-8
// safe, stop strings), stop at EOS / max tokens / a full context / an interrupt.
#pragma once
#include <signal.h>
#include <stdint.h>
#include "data/tokenizer.h"
#include "infer/engine.h"
#include "infer/sampler.h"
#include "infer/stream.h"

// The tokens a sequence's cache holds (ids[i] is at position i) plus room to grow.
typedef struct { int32_t *ids; int n, cap; } TokHist;

typedef struct {
    int max_tokens;
    SamplerOpts sampler;
    const char **stops; int nstops;
    int32_t eos;                              // -1: none
    StreamOut out; void *ctx;                 // streamed text
    volatile sig_atomic_t *interrupt;         // stop when it becomes non-zero (may be NULL)
} GenOpts;

enum { GEN_STOP_EOS = 1, GEN_STOP_STRING, GEN_STOP_MAX, GEN_STOP_CONTEXT, GEN_STOP_INTERRUPT };

typedef struct {
    int n_fed, n_gen, reason;                 // tokens fed (prefill), generated; GEN_STOP_*
    double t_fed, t_gen;                      // seconds
} GenStats;

void hist_push(TokHist *h, int32_t id);
void hist_free(TokHist *h);
// Make the cache hold exactly `ids[0..n)`: keep the longest common prefix with what
// it holds, then feed the rest (prefix reuse). Returns the number of tokens fed.
int gen_sync(const Engine *e, KVCache *kv, TokHist *h, const int32_t *ids, int n, float *logits);
// Sync to ids[0..n) (at least one token is fed so logits are fresh), then generate.
// The generated tokens are appended to h (the last one, if not fed, is not in the cache).
int gen_run(const Engine *e, const Tokenizer *t, KVCache *kv, TokHist *h, const int32_t *ids, int n,
            const GenOpts *o, GenStats *st);
// Several prompts together: each is prefilled into its own cache (context ctx), then every step advances
// all unfinished sequences by one token in one engine_forward call (batched decode: MoE routing once per
// token, each weight read once per step for all of them). Sequence i samples with seed o->sampler.seed + i
// and stops on its own (EOS, o->stops, o->max_tokens, a full context); o->out / o->ctx are not used:
// text[i] receives its generated text (malloc'd, NUL-terminated, stop string excluded; len[i] its byte count,
// which counts NUL bytes a token may carry; len may be NULL), st[i] its stats
// (t_fed / t_gen: the shared wall times of the prefill and decode phases). The same tokens as gen_run on
// each prompt alone with that seed.
int gen_batch(const Engine *e, const Tokenizer *t, int ctx, const int32_t *const *ids, const int *n, int nseq,
              const GenOpts *o, char **text, size_t *len, GenStats *st);
// Resident and peak resident memory of this process in bytes (0 if unknown).
void proc_memory(size_t *rss, size_t *peak);
