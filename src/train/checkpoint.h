// checkpoint.h — training checkpoints: RUN/ckpt-<step 8 digits>/ holding a
// Hugging Face model folder (config.json, model.safetensors, tokenizer files),
// optimizer.safetensors (AdamW moments per trainable tensor: "<name>.exp_avg",
// "<name>.exp_avg_sq", and "adamw.step") and trainer_state.json. Written into a
// temp folder, fsynced, then renamed: a crash at any moment leaves the previous
// checkpoints intact. Keep-last-k removes older ones after a successful write.
#pragma once
#include <cjson/cJSON.h>
#include <stdint.h>
#include "model/model.h"
#include "train/adamw.h"
#include "base/rng.h"

// Write a checkpoint for `step`; extra files (e.g. tokenizer.json) are copied in
// when they exist. keep > 0: afterwards keep only the newest `keep` checkpoints.
// Returns 0, or -1 with fail() (the previous checkpoints are untouched).
// Test hook: env DEEPC_TEST_CRASH_CHECKPOINT=1 makes the process _exit(77)
// after the temp folder is complete and before the rename. o: the full moments
// (lo 0, n == m->n_params; ZeRO-1 runs use checkpoint_save_stream).
int checkpoint_save(const char *run_dir, int64_t step, const Model *m, const AdamW *o, const cJSON *state,
                    const char *const *extra_files, int n_extra, int keep);
// Moments that no process holds whole (ZeRO-1): fetch(ctx, which, lo, n, dst) puts floats
// [lo, lo + n) of the whole block's first (which 0) or second (1) moment in dst[n], n <= window.
// It may be collective (train/dist.h zero_gather_window): every rank runs the same fetches in
// the same order (the file's), and dst is NULL except on the writer.
typedef struct {
    int (*fetch)(void *ctx, int which, size_t lo, size_t n, float *dst);
    void *ctx;
    size_t window;     // floats per fetch at most
    int64_t t;         // AdamW updates done (adamw.step)
} MomentStream;
// checkpoint_save with the moments streamed into optimizer.safetensors window by window (the
// same bytes; the writer's extra memory is one window). Every rank calls it for the same step:
// writer 1 writes the checkpoint (as checkpoint_save); writer 0 only runs the fetches (state,
// extra files and keep are ignored). The writer runs every fetch even when the write fails
// early, so no rank is left waiting in a collective.
int checkpoint_save_stream(const char *run_dir, int64_t step, const Model *m, const MomentStream *ms, int writer,
                           const cJSON *state, const char *const *extra_files, int n_extra, int keep);
// Path of the newest complete checkpoint in a run folder (or the folder itself
// when it is a checkpoint). Heap string, or NULL with fail() if there is none.
char *checkpoint_latest(const char *run_or_ckpt);
// Folder name of a checkpoint for step inside run_dir (heap string).
char *checkpoint_path(const char *run_dir, int64_t step);
// Load the AdamW moments of a checkpoint into o (initialized for m's layout): the
// floats o covers, [o->lo, o->lo + o->n), so a ZeRO-1 rank reads just its shard.
int checkpoint_load_optimizer(const char *ckpt_dir, const Model *m, AdamW *o);
// Load trainer_state.json of a checkpoint.
int checkpoint_load_state(const char *ckpt_dir, cJSON **state);
// RNG state to/from JSON (four 64-bit words as hex strings).
cJSON *rng_to_json(const Rng *r);
int rng_from_json(const cJSON *j, Rng *r);
