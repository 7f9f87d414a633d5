// sampler.c — filters and seeded draw (see sampler.h).
#include "infer/sampler.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/check.h"

SamplerOpts sampler_defaults(void) {
    return (SamplerOpts){.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .repetition_penalty = 1.0f,
                         .seed = 0};
}

void sampler_init(Sampler *s, const SamplerOpts *o, int V) {
    s->o = *o;
    s->V = V;
    rng_seed(&s->rng, o->seed);
    s->prob = xmalloc(sizeof(float) * (size_t)V);
    s->order = xmalloc(sizeof(int) * (size_t)V);
}

void sampler_free(Sampler *s) { free(s->prob); free(s->order); s->prob = NULL; s->order = NULL; }

static const float *sort_key;
static int by_desc(const void *a, const void *b) {
    float x = sort_key[*(const int *)a], y = sort_key[*(const int *)b];
    if (x != y) return x > y ? -1 : 1;
    return *(const int *)a - *(const int *)b;   // lower id first on ties (deterministic)
}

void sampler_distribution(Sampler *s, const float *logits, const int32_t *hist, int nhist, float *prob) {
    int V = s->V;
    float *z = s->prob;   // working logits
    memcpy(z, logits, sizeof(float) * V);
    if (s->o.repetition_penalty != 1.0f && s->o.repetition_penalty > 0) {
        float p = s->o.repetition_penalty;
        // Each distinct past token once: penalize from the original logit (mark done with a NaN-free flag pass).
        for (int i = 0; i < nhist; i++) {
            int t = hist[i];
            if (t < 0 || t >= V) continue;
            float l = logits[t];
            z[t] = l > 0 ? l / p : l * p;
        }
    }
    if (s->o.temperature <= 0) {
        int b = 0;
        for (int i = 1; i < V; i++) if (z[i] > z[b]) b = i;
        memset(prob, 0, sizeof(float) * V);
        prob[b] = 1.0f;
        return;
    }
    for (int i = 0; i < V; i++) z[i] /= s->o.temperature;
    int *ord = s->order;
    for (int i = 0; i < V; i++) ord[i] = i;
    sort_key = z;
    qsort(ord, V, sizeof(int), by_desc);
    int keep = V;
    if (s->o.top_k > 0 && s->o.top_k < keep) {
        keep = s->o.top_k;
        while (keep < V && z[ord[keep]] == z[ord[keep - 1]]) keep++;   // ties with the k-th survive (as HF)
    }
    // Softmax over the survivors (descending order).
    float mx = z[ord[0]];
    double sum = 0;
    for (int i = 0; i < keep; i++) sum += exp((double)z[ord[i]] - mx);
    if (s->o.top_p < 1.0f) {
        double before = 0;
        int k2 = 0;
        for (; k2 < keep; k2++) {
            if (k2 > 0 && before >= s->o.top_p) break;   // keep a token while the mass above it is < top_p
            before += exp((double)z[ord[k2]] - mx) / sum;
        }
        keep = k2;
        sum = 0;
        for (int i = 0; i < keep; i++) sum += exp((double)z[ord[i]] - mx);
    }
    if (s->o.min_p > 0) {
        double pmax = 1.0 / sum;   // probability of the top token among survivors
        int k3 = 1;
        while (k3 < keep && exp((double)z[ord[k3]] - mx) / sum >= s->o.min_p * pmax) k3++;
        keep = k3;
        sum = 0;
        for (int i = 0; i < keep; i++) sum += exp((double)z[ord[i]] - mx);
    }
    memset(prob, 0, sizeof(float) * V);
    for (int i = 0; i < keep; i++) prob[ord[i]] = (float)(exp((double)z[ord[i]] - mx) / sum);
}

int32_t sampler_next(Sampler *s, const float *logits, const int32_t *hist, int nhist) {
    float *p = xmalloc(sizeof(float) * (size_t)s->V);
    sampler_distribution(s, logits, hist, nhist, p);
    int32_t pick = -1;
    if (s->o.temperature <= 0) {
        for (int i = 0; i < s->V; i++) if (p[i] == 1.0f) { pick = i; break; }
    } else {
        double u = rng_uniform(&s->rng), c = 0;
        int last = 0;
        for (int i = 0; i < s->V; i++) {
            if (p[i] <= 0) continue;
            last = i;
            c += p[i];
            if (u < c) { pick = i; break; }
        }
        if (pick < 0) pick = last;   // rounding: u beyond the summed mass
    }
    free(p);
    return pick;
}
