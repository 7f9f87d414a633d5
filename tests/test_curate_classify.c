// test_curate_classify.c — the fastText-style classifier on real text: code (C headers from
// /usr/include), prose (tinyshakespeare) and math (GSM8K, MATH) from ../shared/data; held-out
// accuracy, a shuffled-label control, model save/load (and corrupt files), and the DeepSeekMath-
// style refinement loop with precision/recall per round.
#include "test.h"
#include "base/check.h"
#include "base/io.h"
#include "base/rng.h"
#include "curate/classify.h"
#include "curate/refine.h"
#include <cjson/cJSON.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

static uint64_t SEED;
static LabelledSet CODE, PROSE, MATH, GSM_TEST;
static int have_data;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Chunks of `lines` lines from a text.
static void add_chunks(LabelledSet *s, const char *t, size_t n, int lines, const char *label, size_t max) {
    size_t pos = 0;
    while (pos < n && s->n < max) {
        size_t st = pos;
        for (int l = 0; l < lines && pos < n; l++) { const char *nl = memchr(t + pos, '\n', n - pos); pos = nl ? (size_t)(nl - t) + 1 : n; }
        if (pos - st > 200) labelled_add(s, t + st, pos - st, label);
    }
}

static void load_code(size_t max) {
    DIR *d = opendir("/usr/include");
    if (!d) return;
    char **names = NULL; size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l > 2 && !strcmp(e->d_name + l - 2, ".h")) { names = xrealloc(names, (n + 1) * sizeof(char *)); names[n++] = xstrdup(e->d_name); }
    }
    closedir(d);
    qsort(names, n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < n; i++) {
        char *p = path_join("/usr/include", names[i]), *buf; size_t len;
        if (CODE.n < max && io_read_all(p, &buf, &len) == 0) { add_chunks(&CODE, buf, len, 40, "code", max); free(buf); }
        free(p); free(names[i]);
    }
    free(names);
}

static void load_jsonl_field(LabelledSet *s, const char *path, const char *f1, const char *f2, const char *label, size_t max) {
    char *buf; size_t len;
    if (io_read_all(path, &buf, &len) < 0) return;
    for (char *p = buf, *e; p < buf + len && s->n < max; p = e + 1) {
        e = memchr(p, '\n', (size_t)(buf + len - p));
        if (!e) e = buf + len;
        cJSON *o = cJSON_ParseWithLength(p, (size_t)(e - p));
        cJSON *a = cJSON_GetObjectItem(o, f1), *b = f2 ? cJSON_GetObjectItem(o, f2) : NULL;
        if (cJSON_IsString(a)) {
            char *t = xmalloc(strlen(a->valuestring) + (cJSON_IsString(b) ? strlen(b->valuestring) : 0) + 2);
            sprintf(t, "%s\n%s", a->valuestring, cJSON_IsString(b) ? b->valuestring : "");
            labelled_add(s, t, strlen(t), label);
            free(t);
        }
        cJSON_Delete(o);
    }
    free(buf);
}

static void load_all(void) {
    load_code(1500);
    char *buf; size_t len;
    if (io_read_all("../shared/data/tinyshakespeare/input.txt", &buf, &len) == 0) { add_chunks(&PROSE, buf, len, 20, "prose", 1500); free(buf); }
    load_jsonl_field(&MATH, "../shared/data/gsm8k/train.jsonl", "question", "answer", "math", 800);
    size_t before = MATH.n;
    LabelledSet m2 = {0};
    load_jsonl_field(&m2, "../shared/data/math/test.json", "problem", "solution", "math", 800);
    for (size_t i = 0; i < m2.n; i++) labelled_add(&MATH, m2.texts[i], m2.lens[i], "math");
    labelled_free(&m2);
    (void)before;
    load_jsonl_field(&GSM_TEST, "../shared/data/gsm8k/test.jsonl", "question", NULL, "math", 400);
    have_data = CODE.n >= 500 && PROSE.n >= 500 && MATH.n >= 1000;
}

static void shuffle(size_t *v, size_t n, Rng *r) {
    for (size_t i = n; i > 1; i--) { size_t j = rng_below(r, i); size_t t = v[i - 1]; v[i - 1] = v[j]; v[j] = t; }
}

typedef struct { const char **t; size_t *l; int *y; size_t n; } Set;

// 600 of each class, shuffled; the first 80% train, the rest held out.
static void build(Set *all, Rng *r) {
    const LabelledSet *cls[3] = {&CODE, &PROSE, &MATH};
    all->n = 0;
    all->t = xmalloc(1800 * sizeof(char *)); all->l = xmalloc(1800 * sizeof(size_t)); all->y = xmalloc(1800 * sizeof(int));
    for (int c = 0; c < 3; c++) {
        size_t *idx = xmalloc(cls[c]->n * sizeof(size_t));
        for (size_t i = 0; i < cls[c]->n; i++) idx[i] = i;
        shuffle(idx, cls[c]->n, r);
        for (size_t i = 0; i < 600 && i < cls[c]->n; i++) {
            all->t[all->n] = cls[c]->texts[idx[i]]; all->l[all->n] = cls[c]->lens[idx[i]]; all->y[all->n++] = c;
        }
        free(idx);
    }
    size_t *p = xmalloc(all->n * sizeof(size_t));
    for (size_t i = 0; i < all->n; i++) p[i] = i;
    shuffle(p, all->n, r);
    Set s = {xmalloc(all->n * sizeof(char *)), xmalloc(all->n * sizeof(size_t)), xmalloc(all->n * sizeof(int)), all->n};
    for (size_t i = 0; i < all->n; i++) { s.t[i] = all->t[p[i]]; s.l[i] = all->l[p[i]]; s.y[i] = all->y[p[i]]; }
    free(all->t); free(all->l); free(all->y); free(p);
    *all = s;
}

static double accuracy(const Classifier *m, const Set *s, size_t from) {
    ClassifyScratch sc = {0};
    float p[8];
    size_t ok = 0;
    for (size_t i = from; i < s->n; i++) ok += classifier_predict(m, &sc, s->t[i], s->l[i], p) == s->y[i];
    classify_scratch_free(&sc);
    return (double)ok / (s->n - from);
}

static char tmpdir[256];

TEST(domain_classifier_heldout_accuracy) {
    if (!have_data) { printf("  (skipped: needs /usr/include and ../shared/data)\n"); return; }
    Rng r; rng_seed_stream(&r, SEED, 1);
    Set s; build(&s, &r);
    size_t ntrain = s.n * 8 / 10;
    ClassifierConfig c; classifier_default_config(&c);
    c.max_chars = 1024; c.seed = SEED; c.buckets = 1 << 16;
    const char *names[3] = {"code", "prose", "math"};
    Classifier m;
    double loss = classifier_train(&m, &c, s.t, s.l, s.y, ntrain, names, 3);
    double acc = accuracy(&m, &s, ntrain);
    printf("  code/prose/math: %zu train, %zu held out, last-epoch loss %.4f, held-out accuracy %.4f\n", ntrain, s.n - ntrain, loss, acc);
    CHECK(acc >= 0.97, "held-out accuracy %.4f < 0.97", acc);
    // save / load: identical predictions
    char *mp = path_join(tmpdir, "m.bin");
    CHECK(classifier_save(&m, mp) == 0, "%s", last_error());
    Classifier m3;
    CHECK(classifier_load(&m3, mp) == 0, "%s", last_error());
    ClassifyScratch sc = {0};
    int same = 1;
    float p1[3], p3[3];
    for (size_t i = ntrain; i < s.n; i++) {
        classifier_predict(&m, &sc, s.t[i], s.l[i], p1);
        classifier_predict(&m3, &sc, s.t[i], s.l[i], p3);
        same &= !memcmp(p1, p3, sizeof p1);
    }
    CHECK(same, "loaded model predicts differently");
    CHECK(classifier_label_index(&m3, "math") == 2, "labels kept");
    // corrupt files: truncated and mutated headers give errors, never crashes
    char *buf; size_t n;
    io_read_all(mp, &buf, &n);
    int errors = 0;
    for (int k = 0; k < 40; k++) {
        size_t cut = k < 20 ? rng_below(&r, n) : n;
        char *b2 = xmalloc(n + 1); memcpy(b2, buf, n);
        if (k >= 20) { size_t at = rng_below(&r, 60); b2[at] = (char)rng_below(&r, 256); }
        char *bp = path_join(tmpdir, "bad.bin");
        io_write_file(bp, b2, cut);
        Classifier mb;
        if (classifier_load(&mb, bp) < 0) errors++; else classifier_free(&mb);
        free(bp); free(b2);
    }
    CHECK(errors >= 20, "only %d of 40 corrupt models were rejected", errors);
    free(buf);
    classify_scratch_free(&sc);
    classifier_free(&m3); classifier_free(&m); free(mp);
    free(s.t); free(s.l); free(s.y);
}

TEST(refinement_rounds_improve_recall) {
    if (!have_data || GSM_TEST.n < 300) { printf("  (skipped: needs ../shared/data)\n"); return; }
    // seeds: 20 math problems; pool: 300 MATH + GSM8K problems and 1400 code/prose chunks
    // (pool labels are used only to score what each round added); held out: 300 other math problems vs other prose/code.
    Rng r; rng_seed_stream(&r, SEED, 2);
    LabelledSet seeds = {0}, pool = {0}, held = {0};
    size_t *mi = xmalloc(MATH.n * sizeof(size_t));
    for (size_t i = 0; i < MATH.n; i++) mi[i] = i;
    shuffle(mi, MATH.n, &r);
    for (size_t i = 0; i < 20; i++) labelled_add(&seeds, MATH.texts[mi[i]], MATH.lens[mi[i]], "math");
    // as in Common Crawl, the pool is mostly not math, so random pool documents are fair negatives
    for (size_t i = 20; i < 320 && i < MATH.n; i++) labelled_add(&pool, MATH.texts[mi[i]], MATH.lens[mi[i]], "math");
    for (size_t i = 0; i < 700; i++) labelled_add(&pool, CODE.texts[i], CODE.lens[i], "other");
    for (size_t i = 0; i < 700; i++) labelled_add(&pool, PROSE.texts[i], PROSE.lens[i], "other");
    for (size_t i = 1000; i < 1300 && i < MATH.n; i++) labelled_add(&held, MATH.texts[mi[i]], MATH.lens[mi[i]], "math");
    for (size_t i = 0; i < 150; i++) labelled_add(&held, CODE.texts[CODE.n - 1 - i], CODE.lens[CODE.n - 1 - i], "other");
    for (size_t i = 0; i < 150; i++) labelled_add(&held, PROSE.texts[PROSE.n - 1 - i], PROSE.lens[PROSE.n - 1 - i], "other");
    ClassifierConfig c; classifier_default_config(&c);
    c.max_chars = 1024; c.seed = SEED; c.buckets = 1 << 16;
    RefineRound rr[4];
    CHECK(refine_run(&c, &seeds, &pool, &held, "math", 4, 120, rr, NULL) == 0, "%s", last_error());
    for (int k = 0; k < 4; k++)
        printf("  round %d: %zu positives, held-out precision %.3f recall %.3f, added %zu (%.3f of them math)\n",
               rr[k].round, rr[k].positives, rr[k].precision, rr[k].recall, rr[k].added, rr[k].added_precision);
    // Bars from 56 seeds (2026-11-29): first-round recall 0.09-0.33, final 0.56-1.00 (4 of 56 below 0.7, which an
    // earlier absolute bar of 0.7 turned into a 7 % flaky failure), gain 0.34-0.83, final >= 2.5x the first,
    // precision >= 0.935. A refinement that does not learn from its additions stays near the first round.
    CHECK(rr[3].positives > rr[0].positives, "positives did not grow");
    CHECK(rr[3].recall >= rr[0].recall + 0.25 && rr[3].recall >= 2 * rr[0].recall,
          "recall did not rise over the rounds: %.3f -> %.3f", rr[0].recall, rr[3].recall);
    CHECK(rr[3].precision >= 0.9 && rr[3].recall >= 0.45, "final precision %.3f recall %.3f", rr[3].precision, rr[3].recall);
    CHECK(rr[0].added_precision >= 0.9, "round 1 added non-math: %.3f math", rr[0].added_precision);
    labelled_free(&seeds); labelled_free(&pool); labelled_free(&held); free(mi);
}

int main(void) {
    SEED = test_seed();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/deepc_test_classify_%d", (int)getpid());
    io_mkdir_p(tmpdir);
    load_all();
    RUN(domain_classifier_heldout_accuracy);
    RUN(refinement_rounds_improve_recall);
    labelled_free(&CODE); labelled_free(&PROSE); labelled_free(&MATH); labelled_free(&GSM_TEST);
    io_rm_rf(tmpdir);
    return test_summary();
}
