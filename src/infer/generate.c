// generate.c — feed, sample, stream (see generate.h).
#include "infer/generate.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/check.h"
#include "base/progress.h"

void hist_push(TokHist *h, int32_t id) {
    if (h->n == h->cap) { h->cap = h->cap ? 2 * h->cap : 256; h->ids = xrealloc(h->ids, sizeof(int32_t) * h->cap); }
    h->ids[h->n++] = id;
}

void hist_free(TokHist *h) { free(h->ids); memset(h, 0, sizeof *h); }

int gen_sync(const Engine *e, KVCache *kv, TokHist *h, const int32_t *ids, int n, float *logits) {
    int common = 0;
    int have = h->n < kv->len ? h->n : kv->len;
    while (common < have && common < n && h->ids[common] == ids[common]) common++;
    if (common == n && n > 0) common = n - 1;   // re-feed the last token to get its logits
    kv_truncate(kv, common);
    h->n = common;
    SeqChunk ch = {kv, ids + common, n - common};
    TRY(engine_forward(e, &ch, 1, logits, 0, NULL));
    for (int i = common; i < n; i++) hist_push(h, ids[i]);
    return n - common;
}

int gen_run(const Engine *e, const Tokenizer *t, KVCache *kv, TokHist *h, const int32_t *ids, int n,
            const GenOpts *o, GenStats *st) {
    int V = e->m->c.vocab_size;
    memset(st, 0, sizeof *st);
    float *logits = xmalloc(sizeof(float) * V);
    double t0 = now_seconds();
    int fed = gen_sync(e, kv, h, ids, n, logits);
    if (fed < 0) { free(logits); return -1; }
    st->n_fed = fed;
    st->t_fed = now_seconds() - t0;
    t0 = now_seconds();
    Sampler s;
    sampler_init(&s, &o->sampler, V);
    TextStream ts;
    stream_init(&ts, o->stops, o->nstops, o->out, o->ctx);
    int rc = 0;
    for (;;) {
        if (o->interrupt && *o->interrupt) { st->reason = GEN_STOP_INTERRUPT; break; }
        if (st->n_gen >= o->max_tokens) { st->reason = GEN_STOP_MAX; break; }
        int32_t next = sampler_next(&s, logits, h->ids, h->n);
        st->n_gen++;
        if (next == o->eos) { hist_push(h, next); st->reason = GEN_STOP_EOS; break; }
        const char *b; size_t bl;
        if (tok_token_bytes(t, next, &b, &bl) < 0) { b = ""; bl = 0; }   // ids past the tokenizer: print nothing
        int stop = stream_push(&ts, b, bl);
        hist_push(h, next);
        if (stop) { st->reason = GEN_STOP_STRING; break; }
        if (kv->max_len > 0 && kv->len + 1 > kv->max_len) { st->reason = GEN_STOP_CONTEXT; break; }
        SeqChunk ch = {kv, &h->ids[h->n - 1], 1};
        if (engine_forward(e, &ch, 1, logits, 0, NULL) < 0) { rc = -1; break; }
    }
    stream_finish(&ts);
    stream_free(&ts);
    sampler_free(&s);
    st->t_gen = now_seconds() - t0;
    free(logits);
    return rc;
}

void proc_memory(size_t *rss, size_t *peak) {
    *rss = *peak = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned long v;
        if (sscanf(line, "VmRSS: %lu kB", &v) == 1) *rss = (size_t)v * 1024;
        if (sscanf(line, "VmHWM: %lu kB", &v) == 1) *peak = (size_t)v * 1024;
    }
    fclose(f);
}
