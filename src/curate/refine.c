// refine.c — seed → classifier → score pool → expand seed, for N rounds.
#include "curate/refine.h"
#include "base/check.h"
#include "base/rng.h"
#include <stdlib.h>
#include <string.h>

typedef struct { float score; size_t idx; } Scored;

static int cmp_scored(const void *a, const void *b) {
    const Scored *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int refine_run(const ClassifierConfig *c, const LabelledSet *seeds, const LabelledSet *pool,
               const LabelledSet *heldout, const char *pos_label, int rounds, size_t top_k,
               RefineRound *out, Classifier *final) {
    if (!seeds->n || !pool->n) return fail("refine: needs seed positives and an unlabelled pool");
    uint8_t *in_pos = xcalloc(pool->n + 1, 1);
    size_t cap = 4 * (seeds->n + pool->n) + 1024;
    int neg_ratio = c->refine_neg_ratio;
    const char **tx = xmalloc(cap * sizeof(char *));
    size_t *ln = xmalloc(cap * sizeof(size_t));
    int *y = xmalloc(cap * sizeof(int));
    size_t *negs = xmalloc((pool->n + 1) * sizeof(size_t));
    Scored *sc = xmalloc((pool->n + 1) * sizeof(Scored));
    const char *names[2] = {"pos", "neg"};
    Rng r; rng_seed_stream(&r, c->seed, 0x726566ull);
    ClassifyScratch s = {0};
    Classifier m = {0};
    size_t added_total = 0;
    for (int k = 0; k < rounds; k++) {
        size_t n = 0;
        for (size_t i = 0; i < seeds->n; i++) { tx[n] = seeds->texts[i]; ln[n] = seeds->lens[i]; y[n++] = 0; }
        for (size_t i = 0; i < pool->n; i++) if (in_pos[i]) { tx[n] = pool->texts[i]; ln[n] = pool->lens[i]; y[n++] = 0; }
        size_t npos = n;
        // negatives: a random sample of the pool (not yet positive), neg_ratio times the positives
        size_t nn = 0;
        for (size_t i = 0; i < pool->n; i++) if (!in_pos[i]) negs[nn++] = i;
        size_t want = npos * (size_t)(neg_ratio > 0 ? neg_ratio : 1);
        if (want < 200) want = 200;   // small early rounds: more negatives for diversity, positives repeated below
        if (want > nn) want = nn;
        for (size_t i = 0; i < want; i++) {
            size_t j = i + rng_below(&r, nn - i);
            size_t t = negs[i]; negs[i] = negs[j]; negs[j] = t;
            tx[n] = pool->texts[negs[i]]; ln[n] = pool->lens[negs[i]]; y[n++] = 1;
        }
        // balance the classes: repeat positives until they match the negatives
        size_t base = npos;
        while (npos + base <= n - npos && n + base <= cap) {
            for (size_t i = 0; i < base; i++) { tx[n] = tx[i]; ln[n] = ln[i]; y[n++] = 0; }
            npos += base;
        }
        classifier_free(&m);
        ClassifierConfig cc = *c;
        cc.seed = c->seed + (uint64_t)k;
        // small early rounds need more passes: at least ~20k SGD steps
        if ((size_t)cc.epochs * n < 20000) cc.epochs = (int)(20000 / (n ? n : 1)) + 1;
        classifier_train(&m, &cc, tx, ln, y, n, names, 2);
        // held-out precision / recall
        size_t tp = 0, fp = 0, fn = 0;
        float p[2];
        for (size_t i = 0; heldout && i < heldout->n; i++) {
            classifier_predict(&m, &s, heldout->texts[i], heldout->lens[i], p);
            int pred = p[0] >= 0.5f, truth = !strcmp(heldout->labels[i], pos_label);
            tp += pred && truth; fp += pred && !truth; fn += !pred && truth;
        }
        out[k].round = k + 1;
        out[k].positives = base;   // distinct positives (before repetition)
        out[k].precision = tp + fp ? (double)tp / (tp + fp) : 0;
        out[k].recall = tp + fn ? (double)tp / (tp + fn) : 0;
        // score the pool and add the top_k (with p >= 0.5) to the positives
        size_t ns = 0;
        for (size_t i = 0; i < pool->n; i++) {
            if (in_pos[i]) continue;
            classifier_predict(&m, &s, pool->texts[i], pool->lens[i], p);
            sc[ns++] = (Scored){p[0], i};
        }
        qsort(sc, ns, sizeof(Scored), cmp_scored);
        size_t add = 0, add_pos = 0, labelled = 0;
        for (size_t i = 0; i < ns && add < top_k && sc[i].score >= 0.5f; i++) {
            in_pos[sc[i].idx] = 1;
            add++;
            const char *pl = pool->labels ? pool->labels[sc[i].idx] : "";
            if (pl[0]) { labelled++; add_pos += !strcmp(pl, pos_label); }
        }
        added_total += add;
        out[k].added = add;
        out[k].added_precision = labelled ? (double)add_pos / labelled : -1;
    }
    (void)added_total;
    if (final) *final = m; else classifier_free(&m);
    classify_scratch_free(&s);
    free(in_pos); free(tx); free(ln); free(y); free(negs); free(sc);
    return 0;
}
