// curriculum.c — sequence-length stages, batch-size warm-up, difficulty pacing: pure functions of (config, step).
#include "data/curriculum.h"
#include "base/check.h"
#include "base/json.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void curriculum_default(Curriculum *c) {
    memset(c, 0, sizeof *c);
    c->B_multiple = 1;
    c->order = CUR_ORDER_SHUFFLE;
    c->c0 = 0.1;
    c->pace_frac = 0.2;
    c->mix_a0 = 4.0;
    c->mix_a1 = 1.0;
}

static const char *order_name(CurOrder o) {
    return o == CUR_ORDER_EASY_HARD ? "easy_to_hard" : o == CUR_ORDER_MIX ? "mix" : "shuffle";
}

int curriculum_validate(const Curriculum *c) {
    int needs_total = c->n_stages > 0 || c->B0 > 0 || c->order != CUR_ORDER_SHUFFLE;
    if (needs_total && c->total_steps <= 0)
        return fail("curriculum: total_steps must be positive when stages, a batch warm-up or difficulty ordering are used");
    if (c->n_stages < 0 || c->n_stages > CUR_MAX_STAGES)
        return fail("curriculum: %d sequence-length stages (at most %d)", c->n_stages, CUR_MAX_STAGES);
    for (int i = 0; i < c->n_stages; i++) {
        if (c->stage_T[i] <= 0) return fail("curriculum: stage %d has sequence length %d (must be positive)", i, c->stage_T[i]);
        if (!(c->stage_from[i] >= 0 && c->stage_from[i] < 1))
            return fail("curriculum: stage %d starts at fraction %g (must be in [0, 1))", i, c->stage_from[i]);
        if (i == 0 && c->stage_from[0] != 0) return fail("curriculum: the first stage must start at fraction 0, not %g", c->stage_from[0]);
        if (i > 0 && !(c->stage_from[i] > c->stage_from[i - 1]))
            return fail("curriculum: stage %d starts at %g, not after stage %d (%g)", i, c->stage_from[i], i - 1, c->stage_from[i - 1]);
    }
    if (c->B_multiple < 1) return fail("curriculum: B_multiple is %d (must be >= 1)", c->B_multiple);
    if (c->B0 < 0 || c->B < 0) return fail("curriculum: batch sizes B0 = %d, B = %d must not be negative", c->B0, c->B);
    if (c->B0 > 0) {
        if (c->B < c->B0) return fail("curriculum: batch warm-up from B0 = %d to a smaller B = %d", c->B0, c->B);
        if (!(c->ramp_frac > 0 && c->ramp_frac <= 1)) return fail("curriculum: ramp_frac %g must be in (0, 1]", c->ramp_frac);
    }
    if (c->order < CUR_ORDER_SHUFFLE || c->order > CUR_ORDER_MIX) return fail("curriculum: unknown order %d", (int)c->order);
    if (c->order != CUR_ORDER_SHUFFLE && !(c->pace_frac > 0 && c->pace_frac <= 1))
        return fail("curriculum: pace_frac %g must be in (0, 1]", c->pace_frac);
    if (c->order == CUR_ORDER_EASY_HARD && !(c->c0 > 0 && c->c0 <= 1))
        return fail("curriculum: starting competence c0 %g must be in (0, 1]", c->c0);
    if (c->order == CUR_ORDER_MIX && !(c->mix_a0 > 0 && c->mix_a1 > 0 && isfinite(c->mix_a0) && isfinite(c->mix_a1)))
        return fail("curriculum: mix exponents %g, %g must be positive", c->mix_a0, c->mix_a1);
    return 0;
}

double curriculum_progress(const Curriculum *c, int64_t step) {
    if (c->total_steps <= 0) return 1.0;
    if (step <= 0) return 0.0;
    if (step >= c->total_steps) return 1.0;
    return (double)step / (double)c->total_steps;
}

int curriculum_seq_len(const Curriculum *c, int64_t step, int T_full) {
    if (c->n_stages <= 0) return T_full;
    double p = curriculum_progress(c, step);
    int T = c->stage_T[0];
    for (int i = 1; i < c->n_stages; i++)
        if (p >= c->stage_from[i]) T = c->stage_T[i];
    return T;
}

int curriculum_batch_size(const Curriculum *c, int64_t step) {
    int m = c->B_multiple > 0 ? c->B_multiple : 1;
    if (c->B0 <= 0 || c->ramp_frac <= 0) return c->B;
    double p = curriculum_progress(c, step);
    if (p >= c->ramp_frac) return c->B;
    double b = c->B0 + (double)(c->B - c->B0) * (p / c->ramp_frac);
    long long bi = (long long)floor(b);
    bi = bi / m * m;
    if (bi < m) bi = m;
    if (bi > c->B) bi = c->B;
    return (int)bi;
}

static double pace(const Curriculum *c, int64_t step) {
    double p = curriculum_progress(c, step);
    if (c->pace_frac <= 0) return 1.0;
    double q = p / c->pace_frac;
    return q > 1 ? 1 : q;
}

double curriculum_competence(const Curriculum *c, int64_t step) {
    double q = pace(c, step);
    double c2 = c->c0 * c->c0;
    double v = sqrt(c2 + (1 - c2) * q);
    return v > 1 ? 1 : v;
}

double curriculum_mix_exponent(const Curriculum *c, int64_t step) {
    double q = pace(c, step);
    if (q >= 1) return c->mix_a1;
    return exp((1 - q) * log(c->mix_a0) + q * log(c->mix_a1));
}

double curriculum_sample_rank(const Curriculum *c, int64_t step, Rng *r) {
    double u = rng_uniform(r);
    double v;
    switch (c->order) {
    case CUR_ORDER_EASY_HARD: v = u * curriculum_competence(c, step); break;
    case CUR_ORDER_MIX: v = pow(u, curriculum_mix_exponent(c, step)); break;
    default: v = u; break;
    }
    if (!(v >= 0)) v = 0;
    if (v >= 1) v = nextafter(1.0, 0.0);
    return v;
}

cJSON *curriculum_to_json(const Curriculum *c) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "total_steps", (double)c->total_steps);
    cJSON *st = cJSON_AddArrayToObject(j, "seq_stages");
    for (int i = 0; i < c->n_stages; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddNumberToObject(s, "from", c->stage_from[i]);
        cJSON_AddNumberToObject(s, "T", c->stage_T[i]);
        cJSON_AddItemToArray(st, s);
    }
    cJSON_AddNumberToObject(j, "B0", c->B0);
    cJSON_AddNumberToObject(j, "B", c->B);
    cJSON_AddNumberToObject(j, "ramp_frac", c->ramp_frac);
    cJSON_AddNumberToObject(j, "B_multiple", c->B_multiple);
    cJSON_AddStringToObject(j, "order", order_name(c->order));
    cJSON_AddBoolToObject(j, "invert", c->invert != 0);
    cJSON_AddNumberToObject(j, "c0", c->c0);
    cJSON_AddNumberToObject(j, "pace_frac", c->pace_frac);
    cJSON_AddNumberToObject(j, "mix_a0", c->mix_a0);
    cJSON_AddNumberToObject(j, "mix_a1", c->mix_a1);
    return j;
}

int curriculum_from_json(const cJSON *j, Curriculum *c) {
    const char *W = "curriculum";
    Curriculum d;
    curriculum_default(&d);
    if (!cJSON_IsObject(j)) return fail("curriculum: expected a JSON object");
    long long v;
    TRY(json_int_opt(j, "total_steps", W, 0, &v)); d.total_steps = v;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "seq_stages");
    if (st && !cJSON_IsNull(st)) {
        if (!cJSON_IsArray(st)) return fail("curriculum: \"seq_stages\" must be an array");
        int n = cJSON_GetArraySize(st);
        if (n > CUR_MAX_STAGES) return fail("curriculum: %d sequence-length stages (at most %d)", n, CUR_MAX_STAGES);
        for (int i = 0; i < n; i++) {
            const cJSON *s = cJSON_GetArrayItem(st, i);
            TRY(json_num_req(s, "from", "curriculum seq_stages entry", &d.stage_from[i]));
            TRY(json_int_req(s, "T", "curriculum seq_stages entry", &v));
            if (v <= 0 || v > (1 << 30)) return fail("curriculum: seq_stages[%d].T = %lld out of range", i, v);
            d.stage_T[i] = (int)v;
        }
        d.n_stages = n;
    }
    TRY(json_int_opt(j, "B0", W, 0, &v)); if (v < 0 || v > (1 << 30)) return fail("curriculum: B0 %lld out of range", v); d.B0 = (int)v;
    TRY(json_int_opt(j, "B", W, 0, &v)); if (v < 0 || v > (1 << 30)) return fail("curriculum: B %lld out of range", v); d.B = (int)v;
    TRY(json_num_opt(j, "ramp_frac", W, 0, &d.ramp_frac));
    TRY(json_int_opt(j, "B_multiple", W, 1, &v)); if (v < 1 || v > (1 << 30)) return fail("curriculum: B_multiple %lld out of range", v); d.B_multiple = (int)v;
    const char *o;
    TRY(json_str_opt(j, "order", W, "shuffle", &o));
    if (!strcmp(o, "shuffle")) d.order = CUR_ORDER_SHUFFLE;
    else if (!strcmp(o, "easy_to_hard")) d.order = CUR_ORDER_EASY_HARD;
    else if (!strcmp(o, "mix")) d.order = CUR_ORDER_MIX;
    else return fail("curriculum: unknown order \"%s\" (expected shuffle, easy_to_hard or mix)", o);
    TRY(json_bool_opt(j, "invert", W, 0, &d.invert));
    TRY(json_num_opt(j, "c0", W, d.c0, &d.c0));
    TRY(json_num_opt(j, "pace_frac", W, d.pace_frac, &d.pace_frac));
    TRY(json_num_opt(j, "mix_a0", W, d.mix_a0, &d.mix_a0));
    TRY(json_num_opt(j, "mix_a1", W, d.mix_a1, &d.mix_a1));
    TRY(curriculum_validate(&d));
    *c = d;
    return 0;
}

int curriculum_parse_stages(Curriculum *c, const char *spec) {
    int n = 0;
    const char *s = spec;
    while (*s) {
        if (n == CUR_MAX_STAGES) return fail("--seq-stages \"%s\": more than %d stages", spec, CUR_MAX_STAGES);
        char *end;
        double from = strtod(s, &end);
        if (end == s || *end != ':') return fail("--seq-stages \"%s\": expected FROM:T at character %d", spec, (int)(s - spec));
        s = end + 1;
        long T = strtol(s, &end, 10);
        if (end == s || T <= 0 || T > (1 << 30)) return fail("--seq-stages \"%s\": bad sequence length at character %d", spec, (int)(s - spec));
        c->stage_from[n] = from;
        c->stage_T[n] = (int)T;
        n++;
        s = end;
        if (*s == ',') s++;
        else if (*s) return fail("--seq-stages \"%s\": unexpected '%c' at character %d", spec, *s, (int)(s - spec));
    }
    if (n == 0) return fail("--seq-stages \"%s\": no stages", spec);
    c->n_stages = n;
    for (int i = 0; i < n; i++) {
        if (i == 0 && c->stage_from[0] != 0) return fail("--seq-stages \"%s\": the first stage must start at 0", spec);
        if (i > 0 && !(c->stage_from[i] > c->stage_from[i - 1] && c->stage_from[i] < 1))
            return fail("--seq-stages \"%s\": stage starts must increase and stay below 1", spec);
    }
    return 0;
}
