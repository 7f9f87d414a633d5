// curriculum.h — what changes over training, as pure functions of (config, step):
// sequence-length stages, batch-size warm-up, and difficulty pacing for
// score-ordered document sampling. Deterministic; resuming needs only the step
// (and the loader's RNG, which lives in the loader cursor).
#pragma once
#include "base/rng.h"
#include <cjson/cJSON.h>
#include <stdint.h>

#define CUR_MAX_STAGES 8

typedef enum {
    CUR_ORDER_SHUFFLE = 0,   // plain shuffled epochs; scores ignored
    CUR_ORDER_EASY_HARD,     // competence pacing: sample uniformly from the easiest c(p) of documents, c grows to 1
    CUR_ORDER_MIX,           // every document possible; rank fraction u^a with a moving from mix_a0 (easy-heavy) to mix_a1
} CurOrder;

typedef struct {
    int64_t total_steps;            // steps of the whole run (progress p = step / total_steps)
    // sequence-length stages: stage i applies from fraction stage_from[i] of the steps on.
    int n_stages;                   // 0 = no stages (caller's T throughout)
    double stage_from[CUR_MAX_STAGES];   // increasing, stage_from[0] = 0
    int stage_T[CUR_MAX_STAGES];         // sequence length in that stage
    // batch-size warm-up: linear from B0 to B over the first ramp_frac of steps.
    int B0, B;                      // B0 = 0: no warm-up (B throughout)
    double ramp_frac;
    int B_multiple;                 // round ramped sizes down to a multiple (e.g. data-parallel world), >= 1
    // difficulty ordering (per-document score: low = easy, unless invert)
    CurOrder order;
    int invert;                     // 1: high score = easy (e.g. a quality score)
    double c0;                      // EASY_HARD: starting competence (fraction of documents available), e.g. 0.1
    double pace_frac;               // EASY_HARD/MIX: fraction of steps over which pacing runs (e.g. 0.2); then full data
    double mix_a0;                  // MIX: exponent at the start (> 1 favours easy), e.g. 4
    double mix_a1;                  // MIX: exponent from pace_frac on (1 = uniform, < 1 favours hard)
} Curriculum;

// A curriculum that changes nothing (shuffled epochs, no stages, no ramp).
void curriculum_default(Curriculum *c);
// Check the fields (increasing stages, positive sizes, fractions in [0,1]); message names the field.
int curriculum_validate(const Curriculum *c);
double curriculum_progress(const Curriculum *c, int64_t step);        // p in [0, 1]
// Sequence length at step (T_full when there are no stages).
int curriculum_seq_len(const Curriculum *c, int64_t step, int T_full);
// Global batch size at step (linear ramp B0 -> B, rounded down to B_multiple, at least B_multiple).
int curriculum_batch_size(const Curriculum *c, int64_t step);
// EASY_HARD competence c(p) in [c0, 1] (root pacing: sqrt(c0^2 + (1-c0^2) p/pace_frac)).
double curriculum_competence(const Curriculum *c, int64_t step);
// MIX exponent a(p): geometric from mix_a0 at p = 0 to mix_a1 at p = pace_frac, then mix_a1.
double curriculum_mix_exponent(const Curriculum *c, int64_t step);
// Draw a difficulty rank fraction in [0, 1) (0 = easiest) for a document at step.
double curriculum_sample_rank(const Curriculum *c, int64_t step, Rng *r);
// JSON form (for trainer_state.json / the loader cursor) and back.
cJSON *curriculum_to_json(const Curriculum *c);
int curriculum_from_json(const cJSON *j, Curriculum *c);
// Parse "--seq-stages" text "0:256,0.3:512,0.6:1024" (from-fraction:T pairs).
int curriculum_parse_stages(Curriculum *c, const char *spec);
