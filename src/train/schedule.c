// schedule.c — learning-rate, MTP-weight and bias-speed schedules.
#include "train/schedule.h"
#include "base/check.h"
#include <math.h>
#include <string.h>

static const char *names[] = {"cosine", "wsd", "multistep", "constant"};

void schedule_default(Schedule *s, double lr, int64_t warmup, int64_t total) {
    memset(s, 0, sizeof *s);
    s->kind = SCHED_COSINE;
    s->lr = lr;
    s->min_frac = 0.1;
    s->warmup = warmup;
    s->total = total;
    s->decay_frac = 0.2;
}

int schedule_parse(const char *name, SchedKind *kind) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, names[i])) { *kind = (SchedKind)i; return 0; }
    return fail("unknown learning-rate schedule \"%s\": use cosine, wsd, multistep or constant", name);
}

const char *schedule_name(SchedKind kind) { return (unsigned)kind < 4 ? names[kind] : "?"; }

double schedule_lr(const Schedule *s, int64_t step) {
    if (s->warmup > 0 && step < s->warmup) return s->lr * (double)(step + 1) / (double)s->warmup;
    double total = s->total > 0 ? (double)s->total : 1.0;
    double p = (double)step / total;   // progress of the whole run in [0, 1)
    switch (s->kind) {
    case SCHED_CONSTANT: return s->lr;
    case SCHED_MULTISTEP:
        if (p >= 0.9) return s->lr * 0.316 * 0.316;
        if (p >= 0.8) return s->lr * 0.316;
        return s->lr;
    case SCHED_WSD: {
        double start = 1.0 - s->decay_frac;   // decay over [start, 1): linear to min_frac
        if (p < start || s->decay_frac <= 0) return s->lr;
        double q = (p - start) / s->decay_frac;
        if (q > 1) q = 1;
        return s->lr * (1.0 - q * (1.0 - s->min_frac));
    }
    case SCHED_COSINE:
    default: {
        double span = total - (double)s->warmup;
        double q = span > 0 ? ((double)step - (double)s->warmup) / span : 1.0;
        if (q < 0) q = 0;
        if (q > 1) q = 1;
        double c = 0.5 * (1.0 + cos(M_PI * q));
        return s->lr * (s->min_frac + (1.0 - s->min_frac) * c);
    }
    }
}

double schedule_mtp_lambda(double lambda0, int64_t step, int64_t total) {
    if (total <= 0) return lambda0;
    return (double)step < 0.68 * (double)total ? lambda0 : lambda0 / 3.0;
}

double schedule_bias_gamma(double gamma, int64_t step, int64_t total) {
    if (total <= 0) return gamma;
    return (double)step < 0.966 * (double)total ? gamma : 0.0;
}
