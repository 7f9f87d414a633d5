// schedule.h — what changes with the step: learning rate (warm-up + cosine,
// warm-up–stable–decay, DeepSeek's multi-step), the MTP loss weight λ and the
// bias update speed γ of auxiliary-loss-free balancing. Pure functions of the step.
#pragma once
#include <stdint.h>

typedef enum { SCHED_COSINE = 0, SCHED_WSD, SCHED_MULTISTEP, SCHED_CONSTANT } SchedKind;

typedef struct {
    SchedKind kind;
    double lr;             // peak learning rate
    double min_frac;       // cosine / WSD end at lr * min_frac (0.1)
    int64_t warmup;        // linear warm-up steps from lr/warmup to lr
    int64_t total;         // steps of the whole run
    double decay_frac;     // WSD: fraction of steps at the end that decay (0.2)
} Schedule;

// Defaults: cosine, min_frac 0.1, decay_frac 0.2.
void schedule_default(Schedule *s, double lr, int64_t warmup, int64_t total);
// "cosine" | "wsd" | "multistep" | "constant" -> kind; -1 + fail() on anything else.
int schedule_parse(const char *name, SchedKind *kind);
const char *schedule_name(SchedKind kind);
// Learning rate for step (0-based). multistep: ×0.316 from 80% of the steps, ×0.316² from 90%.
double schedule_lr(const Schedule *s, int64_t step);
// MTP weight: lambda0 for the first 68% of the steps, lambda0/3 after (DeepSeek-V3's 0.3 -> 0.1).
double schedule_mtp_lambda(double lambda0, int64_t step, int64_t total);
// Bias update speed: gamma for the first 96.6% of the steps, 0 for the rest (V3: 14.3T of 14.8T tokens).
double schedule_bias_gamma(double gamma, int64_t step, int64_t total);
