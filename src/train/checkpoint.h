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
// (lo 0, n == m->n_params; ZeRO-1 runs gather them first, train/dist.h).
int checkpoint_save(const char *run_dir, int64_t step, const Model *m, const AdamW *o, const cJSON *state,
                    const char *const *extra_files, int n_extra, int keep);
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
