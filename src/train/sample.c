// sample.c — temperature sampling with repeated forward passes.
#include "train/sample.h"
#include "base/check.h"
#include "base/io.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sample_continue(Model *m, int32_t *ids, int n, int max_new, float temperature, int32_t eos, Rng *rng) {
    int V = m->c.vocab_size, maxT = m->c.max_position_embeddings;
    int cap = n + max_new;
    float *logits = xmalloc((size_t)cap * V * sizeof(float));   // [1, T, V]
    int32_t *tg = xmalloc((size_t)cap * sizeof(int32_t));
    for (int i = 0; i < cap; i++) tg[i] = -1;
    StepOpts so = {0};
    so.logits = logits;
    for (int k = 0; k < max_new; k++) {
        int start = n > maxT ? n - maxT : 0, T = n - start;
        StepOut out;
        if (model_step(m, ids + start, tg, 1, T, &so, &out) < 0) { free(logits); free(tg); return -1; }
        const float *row = logits + (size_t)(T - 1) * V;   // [V] last position
        int next = 0;
        if (temperature <= 0) {
            for (int v = 1; v < V; v++) if (row[v] > row[next]) next = v;
        } else {
            double mx = row[0], sum = 0;
            for (int v = 1; v < V; v++) if (row[v] > mx) mx = row[v];
            for (int v = 0; v < V; v++) sum += exp((row[v] - mx) / temperature);
            double u = rng_uniform(rng) * sum, acc = 0;
            next = V - 1;
            for (int v = 0; v < V; v++) { acc += exp((row[v] - mx) / temperature); if (acc >= u) { next = v; break; } }
        }
        ids[n++] = next;
        if (next == eos) break;
    }
    free(logits); free(tg);
    return n;
}

static const char *prompts[] = {
    "def fibonacci(n):\n",
    "#include <stdio.h>\n\nint main(int argc, char **argv)\n{\n",
    "import os\nimport sys\n\n",
    "The purpose of this package is",
    "static inline int\n",
    "class Config:\n    def __init__(self",
};

int sample_write_report(Model *m, const Tokenizer *tok, const char *path, int n_prompts, uint64_t seed) {
    int np = (int)(sizeof prompts / sizeof *prompts);
    if (n_prompts > np) n_prompts = np;
    Rng rng;
    rng_seed(&rng, seed ^ 0xa5a5);
    size_t cap = 4096, len = 0;
    char *md = xmalloc(cap);
    md[0] = 0;
#define APPEND(...) do { int need_ = snprintf(NULL, 0, __VA_ARGS__); \
        while (len + (size_t)need_ + 1 > cap) { cap *= 2; md = xrealloc(md, cap); } \
        len += (size_t)sprintf(md + len, __VA_ARGS__); } while (0)
    APPEND("# Samples\n\nTemperature 0.8, up to 48 new tokens after each prompt (the prompt is the start of each block).\n\n");
    for (int p = 0; p < n_prompts; p++) {
        int32_t *pid; size_t pn;
        if (tok_encode(tok, prompts[p], strlen(prompts[p]), 0, &pid, &pn) < 0) { free(md); return -1; }
        int max_new = 48, bos = tok_bos(tok);
        int32_t *ids = xmalloc((pn + 1 + (size_t)max_new) * sizeof(int32_t));
        int n = 0;
        if (bos >= 0) ids[n++] = bos;
        memcpy(ids + n, pid, pn * sizeof(int32_t));
        n += (int)pn;
        int n0 = n;
        n = sample_continue(m, ids, n, max_new, 0.8f, tok_eos(tok), &rng);
        free(pid);
        if (n < 0) { free(ids); free(md); return -1; }
        char *text; size_t tl;
        if (tok_decode(tok, ids + n0, (size_t)(n - n0), &text, &tl) < 0) { free(ids); free(md); return -1; }
        // code fence that the text cannot close
        APPEND("## Prompt %d\n\n````\n%s%s\n````\n\n", p + 1, prompts[p], text);
        free(text); free(ids);
    }
#undef APPEND
    int rc = io_write_file(path, md, len);
    free(md);
    return rc;
}
