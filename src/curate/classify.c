// classify.c — fastText-style classifier: features, SGD training, prediction, model file.
#include "curate/classify.h"
#include "base/check.h"
#include "base/io.h"
#include "base/rng.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

void classifier_default_config(ClassifierConfig *c) {
    c->dim = 32; c->buckets = 1 << 18; c->word_ngrams = 2; c->minn = 3; c->maxn = 5;
    c->epochs = 5; c->lr = 0.5f; c->max_chars = 8192; c->seed = 1; c->refine_neg_ratio = 1;
}

static void push(ClassifyScratch *s, size_t *n, uint32_t v) {
    if (*n == s->cap) { s->cap = s->cap ? 2 * s->cap : 4096; s->f = xrealloc(s->f, s->cap * sizeof(uint32_t)); }
    s->f[(*n)++] = v;
}

// Feature rows of a text: word 1..word_ngrams-grams and character n-grams of "<word>".
static size_t features(const ClassifierConfig *c, ClassifyScratch *s, const char *t, size_t n) {
    if (n > (size_t)c->max_chars) n = (size_t)c->max_chars;
    size_t nf = 0;
    uint64_t prev[8] = {0};
    int nprev = 0;
    char w[66];
    size_t i = 0;
    uint32_t B = (uint32_t)c->buckets;
    while (i < n) {
        while (i < n && isspace((unsigned char)t[i])) i++;
        size_t b = i;
        while (i < n && !isspace((unsigned char)t[i])) i++;
        if (i == b) break;
        size_t wl = i - b < 64 ? i - b : 64;
        w[0] = '<';
        for (size_t k = 0; k < wl; k++) w[k + 1] = (char)tolower((unsigned char)t[b + k]);
        w[wl + 1] = '>';
        uint64_t h = XXH3_64bits(w + 1, wl);
        push(s, &nf, (uint32_t)(h % B));
        // word n-grams ending here
        uint64_t g = h;
        for (int k = 0; k < nprev && k + 2 <= c->word_ngrams; k++) {
            g = XXH3_64bits_withSeed(&g, sizeof g, prev[k]);
            push(s, &nf, (uint32_t)(g % B));
        }
        for (int k = 7; k > 0; k--) prev[k] = prev[k - 1];
        prev[0] = h;
        if (nprev < 7) nprev++;
        // character n-grams of "<word>"
        if (c->maxn > 0) {
            size_t L = wl + 2;
            for (int m = c->minn; m <= c->maxn; m++)
                for (size_t a = 0; a + (size_t)m <= L; a++) {
                    if ((size_t)m == L) continue;   // the whole "<word>" is the word feature already
                    push(s, &nf, (uint32_t)(XXH3_64bits_withSeed(w + a, (size_t)m, 0x63686172ull) % B));
                }
        }
    }
    return nf;
}

// hidden[dim] = mean of E rows; logits → softmax probs. Returns the number of features.
static size_t forward(const Classifier *m, ClassifyScratch *s, const char *t, size_t n, float *hidden, float *probs) {
    int D = m->c.dim, L = m->nlabels;
    size_t nf = features(&m->c, s, t, n);
    for (int d = 0; d < D; d++) hidden[d] = 0;
    for (size_t k = 0; k < nf; k++) {
        const float *e = m->E + (size_t)s->f[k] * D;
        for (int d = 0; d < D; d++) hidden[d] += e[d];
    }
    if (nf) for (int d = 0; d < D; d++) hidden[d] /= (float)nf;
    float mx = -INFINITY;
    for (int l = 0; l < L; l++) {
        float z = 0;
        const float *w = m->W + (size_t)l * D;
        for (int d = 0; d < D; d++) z += w[d] * hidden[d];
        probs[l] = z;
        if (z > mx) mx = z;
    }
    float sum = 0;
    for (int l = 0; l < L; l++) { probs[l] = expf(probs[l] - mx); sum += probs[l]; }
    for (int l = 0; l < L; l++) probs[l] /= sum;
    return nf;
}

double classifier_train(Classifier *m, const ClassifierConfig *c, const char *const *texts, const size_t *lens,
                        const int *y, size_t n, const char *const *label_names, int nlabels) {
    memset(m, 0, sizeof *m);
    m->c = *c;
    m->nlabels = nlabels;
    m->labels = xmalloc(nlabels * sizeof(char *));
    for (int l = 0; l < nlabels; l++) m->labels[l] = xstrdup(label_names[l]);
    int D = c->dim;
    m->E = xmalloc((size_t)c->buckets * D * sizeof(float));   // [buckets, dim]
    m->W = xcalloc((size_t)nlabels * D, sizeof(float));       // [labels, dim], zero as in fastText
    Rng r; rng_seed_stream(&r, c->seed, 0x636c73ull);
    float a = 1.0f / D;
    for (size_t i = 0; i < (size_t)c->buckets * D; i++) m->E[i] = (float)(2 * rng_uniform(&r) - 1) * a;
    size_t *order = xmalloc((n + 1) * sizeof(size_t));
    for (size_t i = 0; i < n; i++) order[i] = i;
    float *hidden = xmalloc(D * sizeof(float)), *grad = xmalloc(D * sizeof(float)), *p = xmalloc(nlabels * sizeof(float));
    ClassifyScratch s = {0};
    double loss = 0;
    size_t total = (size_t)c->epochs * n, step = 0;
    for (int ep = 0; ep < c->epochs; ep++) {
        for (size_t i = n; i > 1; i--) { size_t j = rng_below(&r, i); size_t t = order[i - 1]; order[i - 1] = order[j]; order[j] = t; }
        loss = 0;
        for (size_t k = 0; k < n; k++, step++) {
            size_t i = order[k];
            float lr = c->lr * (1.0f - (float)step / (float)(total ? total : 1));
            size_t nf = forward(m, &s, texts[i], lens[i], hidden, p);
            loss -= log(p[y[i]] > 1e-12f ? p[y[i]] : 1e-12f);
            if (!nf) continue;
            for (int d = 0; d < D; d++) grad[d] = 0;
            for (int l = 0; l < nlabels; l++) {
                float g = p[l] - (l == y[i] ? 1.0f : 0.0f);    // dLoss/dlogit
                float *w = m->W + (size_t)l * D;
                for (int d = 0; d < D; d++) { grad[d] += g * w[d]; w[d] -= lr * g * hidden[d]; }
            }
            float sc = lr / (float)nf;
            for (size_t f = 0; f < nf; f++) {
                float *e = m->E + (size_t)s.f[f] * D;
                for (int d = 0; d < D; d++) e[d] -= sc * grad[d];
            }
        }
        loss /= n ? (double)n : 1.0;
    }
    free(order); free(hidden); free(grad); free(p);
    classify_scratch_free(&s);
    return loss;
}

int classifier_predict(const Classifier *m, ClassifyScratch *s, const char *text, size_t n, float *probs) {
    float hidden[512];
    float *h = m->c.dim <= 512 ? hidden : xmalloc(m->c.dim * sizeof(float));
    forward(m, s, text, n, h, probs);
    if (h != hidden) free(h);
    int best = 0;
    for (int l = 1; l < m->nlabels; l++) if (probs[l] > probs[best]) best = l;
    return best;
}

int classifier_label_index(const Classifier *m, const char *label) {
    for (int l = 0; l < m->nlabels; l++) if (!strcmp(m->labels[l], label)) return l;
    return -1;
}

void classifier_free(Classifier *m) {
    if (m->labels) for (int l = 0; l < m->nlabels; l++) free(m->labels[l]);
    free(m->labels); free(m->E); free(m->W);
    memset(m, 0, sizeof *m);
}

void classify_scratch_free(ClassifyScratch *s) { free(s->f); s->f = NULL; s->cap = 0; }

// ---- model file: "DCCLS001", int32 header, labels (u16 length + bytes), E, W (little-endian f32)

static const char MAGIC[8] = {'D', 'C', 'C', 'L', 'S', '0', '0', '1'};

int classifier_save(const Classifier *m, const char *path) {
    AtomicFile a;
    TRY(io_atomic_open(&a, path));
    int32_t hdr[9] = {m->c.dim, m->c.buckets, m->c.word_ngrams, m->c.minn, m->c.maxn, m->c.max_chars, m->nlabels, 0, 0};
    int ok = io_atomic_write(&a, MAGIC, 8) == 0 && io_atomic_write(&a, hdr, sizeof hdr) == 0;
    for (int l = 0; ok && l < m->nlabels; l++) {
        uint16_t n = (uint16_t)strlen(m->labels[l]);
        ok = io_atomic_write(&a, &n, 2) == 0 && io_atomic_write(&a, m->labels[l], n) == 0;
    }
    ok = ok && io_atomic_write(&a, m->E, (size_t)m->c.buckets * m->c.dim * sizeof(float)) == 0;
    ok = ok && io_atomic_write(&a, m->W, (size_t)m->nlabels * m->c.dim * sizeof(float)) == 0;
    if (!ok) { io_atomic_abort(&a); return -1; }
    return io_atomic_commit(&a);
}

int classifier_load(Classifier *m, const char *path) {
    memset(m, 0, sizeof *m);
    char *buf; size_t n;
    TRY(io_read_all(path, &buf, &n));
    int32_t hdr[9];
    if (n < 8 + sizeof hdr || memcmp(buf, MAGIC, 8)) { free(buf); return fail("%s: not a deepc classifier model (bad magic); train one with `deepc curate classify train`", path); }
    memcpy(hdr, buf + 8, sizeof hdr);
    size_t off = 8 + sizeof hdr;
    if (hdr[0] < 1 || hdr[0] > 512 || hdr[1] < 1 || hdr[1] > (1 << 26) || hdr[2] < 1 || hdr[2] > 8 || hdr[3] < 0 || hdr[4] < 0 ||
        hdr[4] > 16 || hdr[5] < 1 || hdr[6] < 1 || hdr[6] > 100000) {
        free(buf); return fail("%s: corrupt classifier header (dim %d, buckets %d, labels %d)", path, hdr[0], hdr[1], hdr[6]);
    }
    classifier_default_config(&m->c);
    m->c.dim = hdr[0]; m->c.buckets = hdr[1]; m->c.word_ngrams = hdr[2]; m->c.minn = hdr[3]; m->c.maxn = hdr[4];
    m->c.max_chars = hdr[5]; m->nlabels = hdr[6];
    m->labels = xcalloc(m->nlabels, sizeof(char *));
    for (int l = 0; l < m->nlabels; l++) {
        uint16_t ln;
        if (off + 2 > n) goto trunc;
        memcpy(&ln, buf + off, 2); off += 2;
        if (off + ln > n) goto trunc;
        m->labels[l] = xmalloc(ln + 1u);
        memcpy(m->labels[l], buf + off, ln); m->labels[l][ln] = 0; off += ln;
    }
    size_t ne = (size_t)m->c.buckets * m->c.dim, nw = (size_t)m->nlabels * m->c.dim;
    if (off + (ne + nw) * sizeof(float) != n) goto trunc;
    m->E = xmalloc(ne * sizeof(float)); m->W = xmalloc(nw * sizeof(float));
    memcpy(m->E, buf + off, ne * sizeof(float)); off += ne * sizeof(float);
    memcpy(m->W, buf + off, nw * sizeof(float));
    free(buf);
    return 0;
trunc:
    free(buf);
    classifier_free(m);
    return fail("%s: classifier file is truncated or has extra bytes (size %zu)", path, n);
}

// ---- labelled JSONL ----

void labelled_add(LabelledSet *s, const char *text, size_t n, const char *label) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->texts = xrealloc(s->texts, s->cap * sizeof(char *));
        s->lens = xrealloc(s->lens, s->cap * sizeof(size_t));
        s->labels = xrealloc(s->labels, s->cap * sizeof(char *));
    }
    s->texts[s->n] = xmalloc(n + 1);
    memcpy(s->texts[s->n], text, n); s->texts[s->n][n] = 0;
    s->lens[s->n] = n;
    s->labels[s->n] = xstrdup(label ? label : "");
    s->n++;
}

int labelled_load(LabelledSet *s, const char *path, const char *text_field, const char *label_field) {
    char *buf; size_t len;
    TRY(io_read_all(path, &buf, &len));
    long line = 0;
    for (char *p = buf, *e; p < buf + len; p = e + 1) {
        e = memchr(p, '\n', (size_t)(buf + len - p));
        if (!e) e = buf + len;
        line++;
        if (e == p) continue;
        cJSON *o = cJSON_ParseWithLength(p, (size_t)(e - p));
        cJSON *t = o ? cJSON_GetObjectItemCaseSensitive(o, text_field) : NULL;
        cJSON *l = o && label_field ? cJSON_GetObjectItemCaseSensitive(o, label_field) : NULL;
        if (!cJSON_IsString(t) || (label_field && !cJSON_IsString(l))) {
            cJSON_Delete(o); free(buf);
            return fail("%s:%ld: expected a JSON object with string fields \"%s\"%s%s%s", path, line, text_field,
                        label_field ? " and \"" : "", label_field ? label_field : "", label_field ? "\"" : "");
        }
        labelled_add(s, t->valuestring, strlen(t->valuestring), label_field ? l->valuestring : "");
        cJSON_Delete(o);
    }
    free(buf);
    return 0;
}

void labelled_free(LabelledSet *s) {
    for (size_t i = 0; i < s->n; i++) { free(s->texts[i]); free(s->labels[i]); }
    free(s->texts); free(s->lens); free(s->labels);
    memset(s, 0, sizeof *s);
}

const char **labelled_label_names(const LabelledSet *s, int *nl) {
    const char **v = xmalloc((s->n + 1) * sizeof(char *));
    int k = 0;
    for (size_t i = 0; i < s->n; i++) {
        int found = 0;
        for (int j = 0; j < k && !found; j++) found = !strcmp(v[j], s->labels[i]);
        if (!found) v[k++] = s->labels[i];
    }
    *nl = k;
    return v;
}
