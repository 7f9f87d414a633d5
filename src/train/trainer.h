// trainer.h — the pre-training loop: gradient accumulation, AdamW with a
// schedule, MTP loss with its λ schedule, balance modes (aux-free bias /
// sequence-wise loss / none), curriculum, NaN/Inf detection, validation loss and
// bits per byte, per-step JSON metrics, checkpoints and bit-exact resume, and a
// few sampled continuations at the end.
//
// Files in the run folder: metrics.jsonl (one JSON object per step, plus
// {"step", "val_loss", "val_bpb"} lines), ckpt-NNNNNNNN/ checkpoints, samples.md.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "train/schedule.h"

typedef enum { BAL_AUX_FREE = 0, BAL_AUX_LOSS, BAL_NONE } BalanceMode;

// Unset fields (0, -1 or < 0 as noted) are derived: from the checkpoint when
// resuming (and explicit values must then agree with it), else from the size
// knob (scale.h) for the model's shape.
typedef struct {
    // model: exactly one of model_dir / preset / depth (none when resuming)
    const char *model_dir;
    const char *preset;
    int depth;                 // 0 = unset
    int ffn_dense;             // -1 unset, 1: dense SwiGLU of equal active FLOPs instead of MoE
    int attn_mha;              // 1: plain multi-head attention with the same heads and head dims (ablation)
    const char *data_dir;      // token shards (train_*.bin, val_*.bin)
    const char *tokenizer;     // tokenizer.json for bits per byte and samples (NULL: <data>/tokenizer.json if present)
    const char *out_dir;       // run folder
    const char *resume;        // run folder or checkpoint to continue from (NULL = fresh)
    int64_t steps;             // 0 unset
    double minutes;            // > 0 and steps unset: horizon fixed after 5 timed steps to fit this budget
    int64_t stop_after;        // > 0: stop (and checkpoint) after this many steps in this invocation
    int batch, seq, accum;     // 0 unset
    double lr;                 // 0 unset
    int sched;                 // -1 unset, else SchedKind
    int64_t warmup;            // -1 unset
    double mtp_lambda;         // < 0 unset (0.3); mtp = 0 forces 0
    int mtp;                   // -1 unset, 0 off, 1 on
    int balance;               // -1 unset, else BalanceMode
    double bias_gamma;         // < 0 unset (0.001)
    double alpha;              // < 0 unset (aux-free 1e-4 complementary, aux-loss 1e-3, none 0)
    int curriculum;            // -1 unset, 0 off, 1 on (sequence-length stages + easy-to-hard pacing)
    double fim_rate;           // accepted; FIM is applied when tokenizing (deepc tokenize), see docs/training.md
    int eval_every, eval_batches, save_every, keep;   // 0 = defaults (every 100 steps, 4 batches, every 500, keep 3)
    int nan_stop;              // 1: stop on NaN/Inf (default), 0: skip the step
    int64_t seed; int has_seed;
    int threads;               // 0 = OpenMP default
    int zero;                  // -1 unset (fresh: 0; resume: the run's), 0 off, 1 ZeRO-1 optimizer sharding over MPI ranks
    int samples;               // sampled continuations at the end (default 4; 0 = none)
    int quiet;                 // no progress bar
    int64_t debug_nan_step;    // test hook: poison the gradient at this step (-1 = never)
} TrainOptions;

typedef struct {
    int64_t steps_done;        // step counter at the end
    int64_t total_steps;
    double last_loss, val_loss, val_bpb;   // NaN when not measured
    double tok_per_s, mfu, sgemm_peak;     // averages over this invocation
    int64_t skipped;           // steps skipped for NaN/Inf
    size_t params_total, params_active;
} TrainResult;

void train_options_default(TrainOptions *o);
// Run (or resume) training. 0 on success, -1 with fail() (bad input, NaN under stop, I/O).
int trainer_run(const TrainOptions *o, TrainResult *res);
