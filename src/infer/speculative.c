// speculative.c — MTP draft + 2-token verification, greedy (see speculative.h).
#include "infer/speculative.h"
#include <stdlib.h>
#include <string.h>
#include "base/check.h"
#include "base/progress.h"

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (v[i] > v[b]) b = i;
    return b;
}

int plain_greedy(const Engine *e, KVCache *kv, const int32_t *prompt, int n, int max_new, int32_t eos,
                 int32_t *out, int *nout, double *seconds) {
    int V = e->m->c.vocab_size;
    float *lg = xmalloc(sizeof(float) * V);
    SeqChunk ch = {kv, prompt, n};
    *nout = 0;
    if (engine_forward(e, &ch, 1, lg, 0, NULL) < 0) { free(lg); return -1; }
    double t0 = now_seconds();
    while (*nout < max_new) {
        int32_t t = argmax(lg, V);
        out[(*nout)++] = t;
        if (t == eos || *nout == max_new) break;
        ch = (SeqChunk){kv, &out[*nout - 1], 1};
        if (engine_forward(e, &ch, 1, lg, 0, NULL) < 0) { free(lg); return -1; }
    }
    *seconds = now_seconds() - t0;
    free(lg);
    return 0;
}

int spec_greedy(const Engine *e, KVCache *kv, const int32_t *prompt, int n, int max_new, int32_t eos,
                int32_t *out, int *nout, SpecStats *st) {
    const InferModel *m = e->m;
    int V = m->c.vocab_size, D = m->c.hidden_size;
    memset(st, 0, sizeof *st);
    *nout = 0;
    if (m->n_mtp < 1) return fail("speculative decoding needs a model with an MTP module (num_nextn_predict_layers)");
    if (n < 1 || max_new < 1) return 0;
    float *lg = xmalloc(sizeof(float) * (size_t)(n > 2 ? n : 2) * V);      // [rows, V]
    float *hid = xmalloc(sizeof(float) * (size_t)(n > 2 ? n : 2) * D);     // [rows, D]
    int32_t *mt = xmalloc(sizeof(int32_t) * (size_t)(n > 2 ? n : 2));
    int rc = -1, mtp_len = 0;
    SeqChunk ch = {kv, prompt, n};
    if (engine_forward(e, &ch, 1, lg, 1, hid) < 0) goto done;
    int32_t cur = argmax(lg + (size_t)(n - 1) * V, V);                   // t_n: the next confirmed token
    out[(*nout)++] = cur;
    if (cur == eos || *nout >= max_new) { rc = 0; goto done; }
    // MTP over the prompt: row i = (h_i, t_{i+1}); the last row drafts t_{n+1}.
    for (int i = 0; i < n - 1; i++) mt[i] = prompt[i + 1];
    mt[n - 1] = cur;
    if (engine_mtp_forward(e, 0, kv, &mtp_len, hid, mt, n, lg) < 0) goto done;
    int32_t draft = argmax(lg + (size_t)(n - 1) * V, V);
    double t0 = now_seconds();
    while (*nout < max_new) {
        int32_t pair[2] = {cur, draft};
        int p = kv->len;                                                  // position of cur
        ch = (SeqChunk){kv, pair, 2};
        if (engine_forward(e, &ch, 1, lg, 1, hid) < 0) goto done;
        st->main_steps++;
        st->drafted++;
        int32_t a = argmax(lg, V);                                        // main's choice after cur
        if (a == draft) {
            st->accepted++;
            out[(*nout)++] = draft;
            if (draft == eos || *nout >= max_new) break;
            int32_t b = argmax(lg + V, V);                                // bonus token after the draft
            out[(*nout)++] = b;
            if (b == eos || *nout >= max_new) break;
            int32_t nx[2] = {draft, b};
            if (engine_mtp_forward(e, 0, kv, &mtp_len, hid, nx, 2, lg) < 0) goto done;
            draft = argmax(lg + V, V);
            cur = b;
        } else {
            kv_truncate(kv, p + 1);                                       // drop the rejected draft's row
            out[(*nout)++] = a;
            if (a == eos || *nout >= max_new) break;
            if (engine_mtp_forward(e, 0, kv, &mtp_len, hid, &a, 1, lg) < 0) goto done;
            draft = argmax(lg, V);
            cur = a;
        }
    }
    st->seconds = now_seconds() - t0;
    rc = 0;
done:
    free(lg); free(hid); free(mt);
    return rc;
}
