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

typedef struct { char *b; size_t n, cap; } TextBuf;

static void textbuf_out(const char *b, size_t n, void *ctx) {
    TextBuf *t = ctx;
    if (t->n + n + 1 > t->cap) {
        t->cap = (t->n + n + 1) * 2;
        t->b = xrealloc(t->b, t->cap);
    }
    memcpy(t->b + t->n, b, n);
    t->n += n;
    t->b[t->n] = 0;
}

int gen_batch(const Engine *e, const Tokenizer *t, int ctx, const int32_t *const *ids, const int *n, int nseq,
              const GenOpts *o, char **text, size_t *len, GenStats *st) {
    int V = e->m->c.vocab_size, rc = 0;
    KVCache *kv = xcalloc((size_t)nseq, sizeof(KVCache));
    TokHist *h = xcalloc((size_t)nseq, sizeof(TokHist));
    Sampler *s = xcalloc((size_t)nseq, sizeof(Sampler));
    TextStream *ts = xcalloc((size_t)nseq, sizeof(TextStream));
    TextBuf *tb = xcalloc((size_t)nseq, sizeof(TextBuf));
    float *logits = xmalloc(sizeof(float) * (size_t)nseq * V);    // [nseq, V] each sequence's next-token logits
    float *lg = xmalloc(sizeof(float) * (size_t)nseq * V);        // [active, V] one batched step
    SeqChunk *ch = xmalloc(sizeof(SeqChunk) * (size_t)nseq);
    int *who = xmalloc(sizeof(int) * (size_t)nseq), *done = xcalloc((size_t)nseq, sizeof(int));
    double t0 = now_seconds();
    for (int i = 0; i < nseq; i++) {
        memset(&st[i], 0, sizeof st[i]);
        engine_kv_init(e, &kv[i], ctx);
        SamplerOpts so = o->sampler;
        so.seed += (uint64_t)i;
        sampler_init(&s[i], &so, V);
        stream_init(&ts[i], o->stops, o->nstops, textbuf_out, &tb[i]);
        textbuf_out("", 0, &tb[i]);                                  // text[i] is a string even when empty
    }
    for (int i = 0; i < nseq && rc == 0; i++) {                       // prefill, one prompt at a time
        int fed = gen_sync(e, &kv[i], &h[i], ids[i], n[i], logits + (size_t)i * V);
        if (fed < 0) rc = fail_ctx("prompt %d: ", i + 1);
        else st[i].n_fed = fed;
    }
    double t_fed = now_seconds() - t0;
    t0 = now_seconds();
    while (rc == 0) {
        int na = 0;
        for (int i = 0; i < nseq; i++) {
            if (done[i]) continue;
            GenStats *g = &st[i];
            if (o->interrupt && *o->interrupt) { g->reason = GEN_STOP_INTERRUPT; done[i] = 1; continue; }
            if (g->n_gen >= o->max_tokens) { g->reason = GEN_STOP_MAX; done[i] = 1; continue; }
            int32_t next = sampler_next(&s[i], logits + (size_t)i * V, h[i].ids, h[i].n);
            g->n_gen++;
            if (next == o->eos) { hist_push(&h[i], next); g->reason = GEN_STOP_EOS; done[i] = 1; continue; }
            const char *b; size_t bl;
            if (tok_token_bytes(t, next, &b, &bl) < 0) { b = ""; bl = 0; }
            int stop = stream_push(&ts[i], b, bl);
            hist_push(&h[i], next);
            if (stop) { g->reason = GEN_STOP_STRING; done[i] = 1; continue; }
            if (kv[i].max_len > 0 && kv[i].len + 1 > kv[i].max_len) { g->reason = GEN_STOP_CONTEXT; done[i] = 1; continue; }
            ch[na] = (SeqChunk){&kv[i], &h[i].ids[h[i].n - 1], 1};
            who[na++] = i;
        }
        if (na == 0) break;
        if (engine_forward(e, ch, na, lg, 0, NULL) < 0) { rc = -1; break; }
        for (int k = 0; k < na; k++) memcpy(logits + (size_t)who[k] * V, lg + (size_t)k * V, sizeof(float) * V);
    }
    double t_gen = now_seconds() - t0;
    for (int i = 0; i < nseq; i++) {
        stream_finish(&ts[i]);
        stream_free(&ts[i]);
        sampler_free(&s[i]);
        hist_free(&h[i]);
        kv_free(&kv[i]);
        text[i] = tb[i].b;
        if (len) len[i] = tb[i].n;
        st[i].t_fed = t_fed;
        st[i].t_gen = t_gen;
    }
    free(kv); free(h); free(s); free(ts); free(tb); free(logits); free(lg); free(ch); free(who); free(done);
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
