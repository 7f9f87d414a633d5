// test_curate_mix.c — domain-balanced mixing: achieved byte shares follow the weights, epochs are
// capped, the output is deterministic for a seed, every document carries a curriculum score.
#include "test.h"
#include "base/check.h"
#include "base/io.h"
#include "base/rng.h"
#include "curate/mix.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];
static uint64_t SEED;

// n documents of `len` bytes each in a domain.
static void write_docs(FILE *f, const char *domain, int n, int len, Rng *r) {
    for (int i = 0; i < n; i++) {
        fprintf(f, "{\"id\":\"%s%d\",\"domain\":\"%s\",\"q\":%.3f,\"text\":\"", domain, i, domain, rng_uniform(r));
        for (int k = 0; k < len; k++) fputc(k % 6 == 5 ? ' ' : 'a' + (int)rng_below(r, 26), f);
        fprintf(f, "\"}\n");
    }
}

static cJSON *manifest(const char *dir) {
    char *p = path_join(dir, "manifest.json"), *b; size_t n;
    cJSON *m = io_read_all(p, &b, &n) == 0 ? cJSON_Parse(b) : NULL;
    if (m) free(b);
    free(p);
    return m;
}

static double dnum(cJSON *m, const char *dom, const char *k) {
    return cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "domains"), dom), k)->valuedouble;
}

TEST(mixture_follows_weights_with_epoch_caps) {
    Rng r; rng_seed_stream(&r, SEED, 1);
    char *in = path_join(tmpdir, "in.jsonl");
    FILE *f = fopen(in, "w");
    write_docs(f, "text", 2000, 500, &r);   // 1.0 MB
    write_docs(f, "code", 400, 500, &r);    // 0.2 MB
    write_docs(f, "math", 40, 500, &r);     // 0.02 MB
    write_docs(f, "other", 50, 500, &r);    // not in the weights: left out
    fclose(f);
    const char *inputs[1] = {in};
    MixOptions o;
    mix_default_options(&o);
    o.inputs = inputs; o.n_inputs = 1; o.seed = SEED;
    // 1) weights reachable without caps: total 1 MB, text 0.5 (0.5 epochs), code 0.4 (2 epochs), math 0.1 (5 > cap 8? no: 0.1/0.02 = 5)
    char *out1 = path_join(tmpdir, "m1");
    o.out_dir = out1; o.total_bytes = 1e6; o.max_epochs = 8; o.score_field = "q";
    CHECK(mix_parse_weights(&o, "text=5,code=4,math=1") == 0, "%s", last_error());
    CHECK(mix_run(&o) == 0, "%s", last_error());
    cJSON *m = manifest(out1);
    CHECK(m != NULL, "manifest missing");
    if (!m) return;
    double exp_ep[3] = {0.5, 2.0, 5.0};
    const char *doms[3] = {"text", "code", "math"};
    double want[3] = {0.5, 0.4, 0.1};
    for (int k = 0; k < 3; k++) {
        double ep = dnum(m, doms[k], "epochs"), share = dnum(m, doms[k], "share");
        CHECK(fabs(ep - exp_ep[k]) < 1e-9, "%s epochs %.4f, want %.4f", doms[k], ep, exp_ep[k]);
        // stochastic rounding of 0.5 epochs over 2000 docs: share within a few percent
        CHECK(fabs(share - want[k]) < 0.03, "%s share %.4f, want %.4f", doms[k], share, want[k]);
    }
    CHECK(dnum(m, "code", "docs_written") == 800 && dnum(m, "math", "docs_written") == 200, "integer epochs copy every document exactly");
    cJSON_Delete(m);
    // every line has domain, a numeric score equal to the q field, and mix_copy
    char *mp = path_join(out1, "mixture.jsonl"), *b1; size_t n1;
    CHECK(io_read_all(mp, &b1, &n1) == 0, "%s", last_error());
    int bad = 0, lines = 0;
    for (char *p = b1, *e; p < b1 + n1; p = e + 1) {
        e = strchr(p, '\n'); *e = 0; lines++;
        cJSON *j = cJSON_Parse(p);
        cJSON *sc = cJSON_GetObjectItem(j, "score"), *q = cJSON_GetObjectItem(j, "q");
        if (!cJSON_IsNumber(sc) || !q || sc->valuedouble != q->valuedouble || !cJSON_GetObjectItem(j, "mix_copy") ||
            !strcmp(cJSON_GetObjectItem(j, "domain")->valuestring, "other")) bad++;
        cJSON_Delete(j);
        *e = '\n';
    }
    CHECK(bad == 0 && lines > 1000, "%d bad of %d lines", bad, lines);
    // 2) same seed, same bytes
    char *out2 = path_join(tmpdir, "m2");
    o.out_dir = out2;
    CHECK(mix_run(&o) == 0, "%s", last_error());
    char *mp2 = path_join(out2, "mixture.jsonl"), *b2; size_t n2;
    io_read_all(mp2, &b2, &n2);
    CHECK(n1 == n2 && !memcmp(b1, b2, n1), "mixture differs for the same seed");
    free(b1); free(b2);
    // 3) caps: math weight 0.5 needs 25 epochs at 1 MB; capped at 4, so math falls short and others keep their ratio
    char *out3 = path_join(tmpdir, "m3");
    o.out_dir = out3; o.max_epochs = 4; o.score_field = NULL;
    mix_parse_weights(&o, "text=0.25,code=0.25,math=0.5");
    CHECK(mix_run(&o) == 0, "%s", last_error());
    m = manifest(out3);
    CHECK(dnum(m, "math", "epochs") == 4 && dnum(m, "math", "docs_written") == 160, "math epochs %.3f", dnum(m, "math", "epochs"));
    // text: 0.25 epochs of 2000 docs (each kept with p 0.25), code: 1.25 epochs of 400 (every doc once, then p 0.25):
    // both expect 500 documents of 500 bytes; allow 5 binomial standard deviations (a ratio test at ±10% failed ~2% of seeds)
    double tdocs = dnum(m, "text", "bytes_written") / 500, cdocs = dnum(m, "code", "bytes_written") / 500;
    CHECK(fabs(tdocs - 500) < 5 * sqrt(2000 * 0.25 * 0.75) && fabs(cdocs - 500) < 5 * sqrt(400 * 0.25 * 0.75),
          "text %.0f, code %.0f documents, both should be near 500", tdocs, cdocs);
    cJSON_Delete(m);
    // 4) total 0: the largest mixture the caps allow — math at exactly 4 epochs, shares exact up to rounding
    char *out4 = path_join(tmpdir, "m4");
    o.out_dir = out4; o.total_bytes = 0;
    CHECK(mix_run(&o) == 0, "%s", last_error());
    m = manifest(out4);
    CHECK(dnum(m, "math", "epochs") == 4 && fabs(dnum(m, "math", "share") - 0.5) < 0.08, "math share %.3f (text and code are ~80 and ~130 sampled documents)", dnum(m, "math", "share"));
    cJSON_Delete(m);
    // errors: a weighted domain without documents, bad weight syntax
    o.out_dir = out4;
    mix_parse_weights(&o, "text=1,poetry=1");
    CHECK(mix_run(&o) < 0 && strstr(last_error(), "poetry"), "missing domain: %s", last_error());
    CHECK(mix_parse_weights(&o, "text=abc") < 0 && mix_parse_weights(&o, "=1") < 0 && mix_parse_weights(&o, "a=0") < 0, "bad specs accepted");
    CHECK(lexical_diversity("a a a a", 7) == 0.25 && lexical_diversity("a b c d", 7) == 1.0, "lexical diversity");
    free(in); free(out1); free(out2); free(out3); free(out4); free(mp); free(mp2);
}

int main(void) {
    SEED = test_seed();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/deepc_test_mix_%d", (int)getpid());
    io_mkdir_p(tmpdir);
    RUN(mixture_follows_weights_with_epoch_caps);
    io_rm_rf(tmpdir);
    return test_summary();
}
