// test_train.c — schedules, the size knob against the presets of config.h,
// equal-compute dense ablation, checkpoint keep-last-k, RNG state JSON (with
// mutated inputs), the default corpus gatherer, metrics reports and charts, and
// short runs of every ablation switch on synthetic shards.
#include "test.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include "base/rng.h"
#include "data/shard.h"
#include "model/model.h"
#include "train/checkpoint.h"
#include "train/corpus.h"
#include "train/flops.h"
#include "train/report.h"
#include "train/scale.h"
#include "train/schedule.h"
#include "train/trainer.h"
#include <time.h>
#include <unistd.h>

static char root[256];
static uint64_t seed;
static char *sub(const char *n) { return path_join(root, n); }

TEST(schedule_shapes) {
    Schedule s;
    schedule_default(&s, 1e-3, 10, 100);
    CHECK(fabs(schedule_lr(&s, 0) - 1e-4) < 1e-12, "warm-up start %g", schedule_lr(&s, 0));
    CHECK(fabs(schedule_lr(&s, 9) - 1e-3) < 1e-12, "warm-up end %g", schedule_lr(&s, 9));
    CHECK(fabs(schedule_lr(&s, 10) - 1e-3) < 1e-9, "cosine start %g", schedule_lr(&s, 10));
    CHECK(fabs(schedule_lr(&s, 55) - 0.55e-3) < 1e-9, "cosine middle %g", schedule_lr(&s, 55));
    CHECK(fabs(schedule_lr(&s, 100) - 1e-4) < 1e-12, "cosine end %g", schedule_lr(&s, 100));
    s.kind = SCHED_MULTISTEP;
    CHECK(schedule_lr(&s, 79) == 1e-3 && fabs(schedule_lr(&s, 80) - 0.316e-3) < 1e-12 &&
          fabs(schedule_lr(&s, 90) - 0.316 * 0.316e-3) < 1e-12, "multistep %g %g %g", schedule_lr(&s, 79),
          schedule_lr(&s, 80), schedule_lr(&s, 90));
    s.kind = SCHED_WSD;
    CHECK(schedule_lr(&s, 79) == 1e-3 && fabs(schedule_lr(&s, 90) - 0.55e-3) < 1e-9 && fabs(schedule_lr(&s, 100) - 1e-4) < 1e-12,
          "wsd %g %g %g", schedule_lr(&s, 79), schedule_lr(&s, 90), schedule_lr(&s, 100));
    CHECK(schedule_mtp_lambda(0.3, 67, 100) == 0.3 && fabs(schedule_mtp_lambda(0.3, 69, 100) - 0.1) < 1e-12, "mtp lambda");
    CHECK(schedule_bias_gamma(0.001, 96, 100) == 0.001 && schedule_bias_gamma(0.001, 97, 100) == 0, "bias gamma");
    SchedKind k;
    CHECK(schedule_parse("wsd", &k) == 0 && k == SCHED_WSD, "parse wsd");
    CHECK(schedule_parse("linear", &k) < 0 && strstr(last_error(), "cosine"), "bad name: %s", last_error());
}

static int same_config(const Config *a, const Config *b) {
    cJSON *x = config_to_json(a), *y = config_to_json(b);
    int same = cJSON_Compare(x, y, 1);
    if (!same)
        for (cJSON *e = x->child; e; e = e->next) {
            cJSON *f = cJSON_GetObjectItemCaseSensitive(y, e->string);
            if (!f || !cJSON_Compare(e, f, 1)) {
                char *p = cJSON_PrintUnformatted(e), *q = f ? cJSON_PrintUnformatted(f) : NULL;
                printf("  %s: knob %s, preset %s\n", e->string, p, q ? q : "absent");
                free(p); free(q);
            }
        }
    cJSON_Delete(x); cJSON_Delete(y);
    return same;
}

TEST(size_knob_matches_presets) {
    Config k, p;
    CHECK(scale_config(4, 8192, &k) == 0, "depth 4: %s", last_error());
    config_preset("small", &p);
    CHECK(same_config(&k, &p), "depth 4 differs from preset small");
    CHECK(scale_config(12, 32000, &k) == 0, "depth 12: %s", last_error());
    config_preset("base", &p);
    CHECK(same_config(&k, &p), "depth 12 differs from preset base");
    CHECK(scale_preset_depth("small") == 4 && scale_preset_depth("base") == 12 && scale_preset_depth("tiny") < 0, "preset depths");
    CHECK(scale_config(0, 100, &k) < 0 && strstr(last_error(), "depth"), "depth 0 accepted");
    // hyper-parameters move the right way with size
    ScaleHparams a, b;
    config_preset("small", &p); scale_hparams(&p, &a);
    config_preset("base", &p); scale_hparams(&p, &b);
    CHECK(a.lr > b.lr && a.steps > 0 && b.steps > a.steps && b.seq >= a.seq && b.batch >= a.batch,
          "small lr %g steps %lld, base lr %g steps %lld", a.lr, (long long)a.steps, b.lr, (long long)b.steps);
    for (int d = 1; d <= 16; d++) CHECK(scale_config(d, 4096, &k) == 0, "depth %d invalid: %s", d, last_error());
}

TEST(dense_ablation_equal_active_flops) {
    Config m, d;
    config_preset("small", &m);
    scale_dense_equivalent(&m, &d);
    CHECK(d.n_routed_experts == 0, "still MoE");
    double fm = flops_active_matmul_params(&m), fd = flops_active_matmul_params(&d);
    double router = (double)m.hidden_size * m.n_routed_experts * (m.num_hidden_layers - m.first_k_dense_replace + m.num_nextn_predict_layers);
    CHECK(fabs((fm - router) - fd) < 1e-3 * fd, "MoE %g (router %g) vs dense %g active weights", fm, router, fd);
    Model mm;
    CHECK(model_create(&d, &mm) == 0, "dense model: %s", last_error());
    model_free(&mm);
    double peak = flops_sgemm_peak();
    CHECK(peak > 1e8 && peak < 1e14, "sgemm peak %g", peak);
}

TEST(rng_state_json_and_mutations) {
    Rng r, q;
    rng_seed(&r, seed);
    for (int i = 0; i < 5; i++) rng_u64(&r);
    cJSON *j = rng_to_json(&r);
    CHECK(rng_from_json(j, &q) == 0 && !memcmp(&r, &q, sizeof r), "round trip");
    cJSON_Delete(j);
    const char *bad[] = {"[]", "[1,2,3,4]", "[\"x\",\"0\",\"0\",\"0\"]", "[\"0\",\"0\",\"0\"]", "{}", "\"0\"",
                         "[\"\",\"1\",\"2\",\"3\"]", "[\"12345678901234567890123\",\"1\",\"2\",\"3\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cJSON *b = cJSON_Parse(bad[i]);
        CHECK(rng_from_json(b, &q) < 0, "accepted %s", bad[i]);
        cJSON_Delete(b);
    }
}

static void write_shard(const char *path, int V, int ndocs, uint64_t s) {
    Rng r; rng_seed(&r, s);
    ShardWriter *w;
    if (shard_writer_open(&w, path, (uint32_t)V, 0, 1) < 0) fatal_last();
    int32_t doc[300];
    for (int d = 0; d < ndocs; d++) {
        int n = 20 + (int)rng_below(&r, 150), step = 1 + (int)rng_below(&r, 3), x = 1 + (int)rng_below(&r, (uint64_t)V - 1);
        doc[0] = 0;
        for (int i = 1; i < n; i++) { doc[i] = 1 + x % (V - 1); x += step; }
        if (shard_writer_add(w, doc, (size_t)n, (float)step) < 0) fatal_last();
    }
    if (shard_writer_commit(w) < 0) fatal_last();
}

static void opts(TrainOptions *o, const char *out, int steps) {
    train_options_default(o);
    o->preset = "tiny";
    o->data_dir = sub("data");
    o->out_dir = out;
    o->steps = steps; o->batch = 4; o->seq = 32;
    o->eval_every = 1000; o->eval_batches = 1; o->save_every = 1000; o->keep = 2;
    o->seed = (int64_t)(seed % 1000); o->has_seed = 1;
    o->samples = 0; o->quiet = 1; o->threads = 1;
}

// mean loss of the first / last k step lines of metrics.jsonl
static void loss_ends(const char *run, int k, double *first, double *last) {
    char *p = path_join(run, "metrics.jsonl"), *buf; size_t n;
    *first = *last = NAN;
    if (io_read_all(p, &buf, &n) < 0) { free(p); return; }
    double v[512]; int m = 0;
    for (char *l = strtok(buf, "\n"); l && m < 512; l = strtok(NULL, "\n")) {
        char *s = strstr(l, "\"loss\":");
        if (s) v[m++] = strtod(s + 7, NULL);
    }
    double a = 0, b = 0;
    for (int i = 0; i < k && i < m; i++) { a += v[i]; b += v[m - 1 - i]; }
    *first = a / k; *last = b / k;
    free(buf); free(p);
}

TEST(loss_decreases_on_learnable_data) {
    TrainOptions o; TrainResult r;
    char *run = sub("learn");
    opts(&o, run, 40);
    o.lr = 3e-3; o.warmup = 4;
    CHECK(trainer_run(&o, &r) == 0, "run failed: %s", last_error());
    double a, b;
    loss_ends(run, 5, &a, &b);
    CHECK(b < a - 0.5, "loss did not fall: first 5 steps %.3f, last 5 %.3f", a, b);
    // report and charts from its metrics
    MetricsSummary s;
    char *mp = path_join(run, "metrics.jsonl");
    CHECK(report_summarize(mp, &s) == 0, "summary: %s", last_error());
    CHECK(s.steps == 40 && s.n_moe_layers > 0 && isfinite(s.last_maxvio) && s.tok_per_s > 0,
          "steps %lld moe %d maxvio %g tok/s %g", (long long)s.steps, s.n_moe_layers, s.last_maxvio, s.tok_per_s);
    CHECK(isfinite(s.last_val_loss), "no validation loss in the metrics");
    char *rp = path_join(run, "report.md");
    CHECK(io_exists(rp), "no report.md");
    if (access("/usr/bin/gnuplot", X_OK) == 0) {
        char *png = path_join(run, "loss.png"), *epng = path_join(run, "expert_load.png");
        size_t sz = 0;
        CHECK(io_file_size(png, &sz) == 0 && sz > 1000, "loss.png missing or empty");
        CHECK(io_exists(epng), "expert_load.png missing");
        free(png); free(epng);
    }
    free(mp); free(rp); free(run);
}

TEST(ablation_switches_run) {
    struct { const char *name; int dense, bal, mtp, cur, mha, sched; } v[] = {
        {"dense", 1, -1, -1, -1, 0, -1}, {"auxloss", -1, BAL_AUX_LOSS, -1, -1, 0, SCHED_WSD},
        {"nobal", -1, BAL_NONE, 0, -1, 0, SCHED_MULTISTEP}, {"curric", -1, -1, -1, 1, 0, -1}, {"mha", -1, -1, -1, -1, 1, -1},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        TrainOptions o; TrainResult r;
        char *run = sub(v[i].name);
        opts(&o, run, 6);
        o.ffn_dense = v[i].dense; o.balance = v[i].bal; o.mtp = v[i].mtp; o.curriculum = v[i].cur; o.attn_mha = v[i].mha;
        o.sched = v[i].sched;
        o.seq = 64;
        int rc = trainer_run(&o, &r);
        CHECK(rc == 0 && isfinite(r.last_loss), "%s: %s (loss %g)", v[i].name, rc ? last_error() : "", r.last_loss);
        if (v[i].dense == 1) {
            char *ck = checkpoint_path(run, 6), *cf = path_join(ck, "config.json");
            Config c;
            CHECK(config_load(cf, &c) == 0 && c.n_routed_experts == 0, "dense run saved a MoE config");
            free(ck); free(cf);
        }
        free(run);
    }
}

TEST(keep_last_k_checkpoints) {
    TrainOptions o; TrainResult r;
    char *run = sub("keep");
    opts(&o, run, 5);
    o.save_every = 1; o.keep = 2;
    CHECK(trainer_run(&o, &r) == 0, "%s", last_error());
    for (int s = 1; s <= 5; s++) {
        char *p = checkpoint_path(run, s);
        CHECK(io_exists(p) == (s >= 4), "checkpoint %d exists=%d", s, io_exists(p));
        free(p);
    }
    free(run);
}

TEST(corrupt_trainer_state_is_refused) {
    TrainOptions o; TrainResult r;
    char *run = sub("corrupt");
    opts(&o, run, 3);
    CHECK(trainer_run(&o, &r) == 0, "%s", last_error());
    char *ck = checkpoint_path(run, 3), *sp = path_join(ck, "trainer_state.json"), *orig; size_t n;
    CHECK(io_read_all(sp, &orig, &n) == 0, "read state");
    Rng rr; rng_seed(&rr, seed ^ 3);
    for (int t = 0; t < 12; t++) {
        char *m = xmalloc(n + 1);
        memcpy(m, orig, n);
        size_t len = n;
        if (t % 3 == 0) len = rng_below(&rr, n);                                   // truncated
        else for (int k = 0; k < 4; k++) m[rng_below(&rr, n)] = (char)rng_below(&rr, 256);   // mutated bytes
        io_write_file(sp, m, len);
        opts(&o, run, 3);
        o.preset = NULL; o.resume = run; o.steps = 0;
        int rc = trainer_run(&o, &r);   // must not crash; may succeed when the mutation hit a harmless spot
        (void)rc;
        free(m);
    }
    io_write_file(sp, "{\"step\": 3}", 11);
    opts(&o, run, 3);
    o.preset = NULL; o.resume = run; o.steps = 0;
    CHECK(trainer_run(&o, &r) < 0 && strstr(last_error(), "trainer_state"), "missing keys accepted: %s", last_error());
    free(orig); free(ck); free(sp); free(run);
}

TEST(default_corpus_from_this_machine) {
    char *out = sub("corpus.jsonl");
    CorpusStats cs;
    int rc = corpus_gather(out, 400000, &cs);
    CHECK(rc == 0, "gather: %s", last_error());
    if (rc == 0) {
        char *buf; size_t n;
        CHECK(io_read_all(out, &buf, &n) == 0, "read");
        int lines = 0, bad = 0;
        for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
            cJSON *j = cJSON_Parse(l);
            lines++;
            if (!j || !cJSON_IsString(cJSON_GetObjectItem(j, "text")) || !cJSON_IsString(cJSON_GetObjectItem(j, "domain"))) bad++;
            cJSON_Delete(j);
        }
        CHECK(lines > 5 && bad == 0, "%d lines, %d bad", lines, bad);
        uint64_t tot = 0;
        for (int i = 0; i < CORPUS_NSRC; i++) tot += cs.bytes[i];
        CHECK(tot <= 400000 && tot > 100000, "gathered %llu bytes for a 400000 budget", (unsigned long long)tot);
        free(buf);
    }
    free(out);
}

int main(void) {
    seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    printf("# seed %llu\n", (unsigned long long)seed);
    snprintf(root, sizeof root, "/tmp/deepc_test_train_%d", (int)getpid());
    io_rm_rf(root);
    char *d = sub("data");
    io_mkdir_p(d);
    char *t = path_join(d, "train_0000.bin"), *v = path_join(d, "val_0000.bin");
    write_shard(t, 64, 300, seed);
    write_shard(v, 64, 30, seed + 1);
    free(t); free(v); free(d);
    RUN(schedule_shapes);
    RUN(size_knob_matches_presets);
    RUN(dense_ablation_equal_active_flops);
    RUN(rng_state_json_and_mutations);
    RUN(loss_decreases_on_learnable_data);
    RUN(ablation_switches_run);
    RUN(keep_last_k_checkpoints);
    RUN(corrupt_trainer_state_is_refused);
    RUN(default_corpus_from_this_machine);
    io_rm_rf(root);
    return test_summary();
}
