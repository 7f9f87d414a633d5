// test_resume.c — checkpoints and resume of the pre-training loop on a tiny model
// with synthetic shards: 20 steps straight vs 10 + resume + 10 (identical losses
// and bit-identical weights and optimizer state), a simulated crash between the
// temp write and the rename, a real SIGKILL of a training child, and bad input.
#include "test.h"
#include "base/check.h"
#include "base/io.h"
#include "base/progress.h"
#include "base/rng.h"
#include "data/shard.h"
#include "model/model.h"
#include "train/checkpoint.h"
#include "train/trainer.h"
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char root[256];
static uint64_t seed;

// Documents with structure a model can learn: runs of an arithmetic progression mod V.
static void write_shard(const char *path, int V, int ndocs, uint64_t s) {
    Rng r; rng_seed(&r, s);
    ShardWriter *w;
    if (shard_writer_open(&w, path, (uint32_t)V, 0, 0) < 0) fatal_last();
    int32_t doc[400];
    for (int d = 0; d < ndocs; d++) {
        int n = 20 + (int)rng_below(&r, 180), step = 1 + (int)rng_below(&r, 3), x = 1 + (int)rng_below(&r, (uint64_t)V - 1);
        doc[0] = 0;   // BOS
        for (int i = 1; i < n; i++) { doc[i] = 1 + x % (V - 1); x += step; }
        if (shard_writer_add(w, doc, (size_t)n, 0) < 0) fatal_last();
    }
    if (shard_writer_commit(w) < 0) fatal_last();
}

static char *sub(const char *name) { return path_join(root, name); }

static void base_opts(TrainOptions *o, const char *out) {
    train_options_default(o);
    o->preset = "tiny";
    o->data_dir = sub("data");
    o->out_dir = out;
    o->steps = 20; o->batch = 4; o->seq = 32;
    o->eval_every = 5; o->eval_batches = 1; o->save_every = 100; o->keep = 5;
    o->seed = (int64_t)(seed % 100000); o->has_seed = 1;
    o->samples = 0; o->quiet = 1; o->threads = 1;
}

static int same_file(const char *a, const char *b) {
    char *x, *y; size_t nx, ny;
    if (io_read_all(a, &x, &nx) < 0) { printf("  %s\n", last_error()); return 0; }
    if (io_read_all(b, &y, &ny) < 0) { printf("  %s\n", last_error()); free(x); return 0; }
    int same = nx == ny && memcmp(x, y, nx) == 0;
    free(x); free(y);
    return same;
}

// Loss values of metrics.jsonl as text "step:loss,grad_norm;..." (only step lines).
static char *losses(const char *run) {
    char *p = path_join(run, "metrics.jsonl"), *buf; size_t n;
    if (io_read_all(p, &buf, &n) < 0) { free(p); return xstrdup("(none)"); }
    free(p);
    char *out = xmalloc(n + 1); size_t w = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char *l = strstr(line, "\"loss\":"), *g = strstr(line, "\"grad_norm\":");
        if (!l || !g) continue;
        char *le = strchr(l, ','), *ge = strchr(g, ',');
        w += (size_t)sprintf(out + w, "%.*s %.*s;", (int)(le - l), l, (int)(ge - g), g);
    }
    out[w] = 0;
    free(buf);
    return out;
}

static char *ckfile(const char *run, int step, const char *file) {
    char *c = checkpoint_path(run, step), *f = path_join(c, file);
    free(c);
    return f;
}

static int same_ckpt(const char *runa, const char *runb, int step) {
    int ok = 1;
    const char *files[] = {"model.safetensors", "optimizer.safetensors"};
    for (int i = 0; i < 2; i++) {
        char *a = ckfile(runa, step, files[i]), *b = ckfile(runb, step, files[i]);
        if (!same_file(a, b)) { printf("  %s and %s differ\n", a, b); ok = 0; }
        free(a); free(b);
    }
    return ok;
}

static char *runA;
static char self[4096];

// Children are fresh processes (this program re-executed): OpenMP thread pools
// do not survive a plain fork.
static pid_t spawn_child(const char *mode, const char *run) {
    char s[32];
    snprintf(s, sizeof s, "%llu", (unsigned long long)seed);
    pid_t pid = fork();
    if (pid == 0) {
        execl(self, self, "child", mode, root, run, s, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int child_main(const char *mode, const char *run) {
    TrainOptions o; TrainResult r;
    base_opts(&o, run);
    if (!strcmp(mode, "crash")) {
        setenv("DEEPC_TEST_CRASH_CHECKPOINT", "1", 1);
        o.preset = NULL; o.resume = run; o.stop_after = 5;
    } else {
        o.save_every = 1;
    }
    if (trainer_run(&o, &r) < 0) { fprintf(stderr, "child: %s\n", last_error()); return 1; }
    return 0;
}

TEST(straight_vs_resumed_bit_exact) {
    TrainOptions o; TrainResult r;
    runA = sub("runA");
    base_opts(&o, runA);
    int rc = trainer_run(&o, &r);
    CHECK(rc == 0, "straight run failed: %s", last_error());
    CHECK(r.steps_done == 20, "steps %lld", (long long)r.steps_done);
    CHECK(isfinite(r.last_loss) && isfinite(r.val_loss), "loss %g val %g", r.last_loss, r.val_loss);
    char *runB = sub("runB");
    base_opts(&o, runB);
    o.stop_after = 10;
    CHECK(trainer_run(&o, &r) == 0, "first half failed: %s", last_error());
    CHECK(r.steps_done == 10, "first half stopped at %lld", (long long)r.steps_done);
    char *c10 = checkpoint_path(runB, 10);
    CHECK(io_exists(c10), "no checkpoint %s", c10);
    base_opts(&o, runB);
    o.preset = NULL;          // the model comes from the checkpoint
    o.resume = runB;
    CHECK(trainer_run(&o, &r) == 0, "resumed half failed: %s", last_error());
    CHECK(r.steps_done == 20, "resumed run ended at %lld", (long long)r.steps_done);
    char *la = losses(runA), *lb = losses(runB);
    CHECK(!strcmp(la, lb), "losses differ:\n  straight %s\n  resumed  %s", la, lb);
    CHECK(strlen(la) > 100, "too few metric lines: %s", la);
    CHECK(same_ckpt(runA, runB, 20), "final checkpoints differ");
    // the checkpoint is a model folder: it loads
    Model m;
    char *c20 = checkpoint_path(runA, 20);
    CHECK(model_load(c20, &m) == 0, "checkpoint does not load: %s", last_error());
    model_free(&m);
    free(la); free(lb); free(c10); free(c20); free(runB);
}

TEST(crash_between_temp_write_and_rename) {
    TrainOptions o; TrainResult r;
    char *run = sub("runC");
    base_opts(&o, run);
    o.stop_after = 5;
    CHECK(trainer_run(&o, &r) == 0, "first 5 steps failed: %s", last_error());
    fflush(stdout);
    pid_t pid = spawn_child("crash", run);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 77, "child did not crash in the checkpoint write (status %d)", status);
    char *c5 = checkpoint_path(run, 5), *c10 = checkpoint_path(run, 10);
    CHECK(io_exists(c5), "previous checkpoint %s is gone", c5);
    CHECK(!io_exists(c10), "half-written checkpoint %s appeared", c10);
    char *latest = checkpoint_latest(run);
    CHECK(latest && !strcmp(latest, c5), "latest is %s, want %s", latest ? latest : last_error(), c5);
    base_opts(&o, run);
    o.preset = NULL; o.resume = run;
    CHECK(trainer_run(&o, &r) == 0, "resume after the crash failed: %s", last_error());
    CHECK(same_ckpt(runA, run, 20), "run resumed after a crash differs from the straight run");
    char *la = losses(runA), *lc = losses(run);
    CHECK(!strcmp(la, lc), "losses differ after crash + resume");
    free(la); free(lc); free(c5); free(c10); free(latest); free(run);
}

TEST(sigkill_during_training_leaves_resumable_checkpoint) {
    char *run = sub("runD");
    // time one run of this size to pick a kill moment inside it
    double t0 = now_seconds();
    TrainOptions o; TrainResult r;
    char *probe = sub("probe");
    base_opts(&o, probe);
    o.save_every = 1; o.steps = 6;
    trainer_run(&o, &r);
    double per_step = (now_seconds() - t0) / 6;
    fflush(stdout);
    pid_t pid = spawn_child("long", run);
    // The kill lands after the child's first checkpoint — its start-up (exec, data, model) can take longer than a
    // few steps when the cores are oversubscribed — at a random point of the steps after it.
    for (double t1 = now_seconds(); now_seconds() - t1 < 120;) {
        char *first = checkpoint_latest(run);
        int got = first != NULL;
        free(first);
        if (got) break;
        struct timespec poll = {0, 2000000};
        nanosleep(&poll, NULL);
    }
    Rng rr; rng_seed(&rr, seed ^ 99);
    double wait = per_step * 8.0 * rng_uniform(&rr);
    struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    char *latest = checkpoint_latest(run);
    CHECK(latest != NULL, "no checkpoint after the kill (%s)", last_error());
    if (latest) {
        Model m; AdamW a;
        CHECK(model_load(latest, &m) == 0, "%s does not load: %s", latest, last_error());
        adamw_init(&a, m.n_params);
        CHECK(checkpoint_load_optimizer(latest, &m, &a) == 0, "optimizer state does not load: %s", last_error());
        adamw_free(&a); model_free(&m);
    }
    base_opts(&o, run);
    o.preset = NULL; o.resume = run; o.save_every = 1;
    CHECK(trainer_run(&o, &r) == 0, "resume after SIGKILL failed: %s", last_error());
    CHECK(r.steps_done == 20, "ended at %lld", (long long)r.steps_done);
    CHECK(same_ckpt(runA, run, 20), "run resumed after SIGKILL differs from the straight run");
    char *la = losses(runA), *ld = losses(run);
    CHECK(!strcmp(la, ld), "losses differ after kill + resume:\n  %s\n  %s", la, ld);
    free(la); free(ld); free(latest); free(run); free(probe);
}

static int fails_with(TrainOptions *o, const char *needle) {
    TrainResult r;
    int rc = trainer_run(o, &r);
    if (rc == 0) { printf("  expected a failure mentioning \"%s\", it succeeded\n", needle); return 0; }
    if (!strstr(last_error(), needle)) { printf("  message \"%s\" lacks \"%s\"\n", last_error(), needle); return 0; }
    return 1;
}

TEST(bad_input_clear_messages) {
    TrainOptions o;
    base_opts(&o, sub("bad1"));
    o.data_dir = sub("no-such-folder");
    CHECK(fails_with(&o, "not a folder"), "missing data");
    base_opts(&o, sub("bad2"));
    o.data_dir = sub("empty");
    io_mkdir_p(o.data_dir);
    CHECK(fails_with(&o, "shards"), "empty data folder");
    // a model folder with another vocabulary than the shards
    Config c; Model m;
    config_preset("tiny", &c);
    c.vocab_size = 80;
    model_create(&c, &m);
    model_init_random(&m, 1, 0.02f);
    char *md = sub("model80");
    CHECK(model_save(&m, md, 0) == 0, "save: %s", last_error());
    model_free(&m);
    base_opts(&o, sub("bad3"));
    o.preset = NULL; o.model_dir = md;
    CHECK(fails_with(&o, "vocabulary"), "vocab mismatch");
    // resume with a different model config / different batch
    base_opts(&o, runA);
    o.preset = NULL; o.depth = 2; o.resume = runA;
    CHECK(fails_with(&o, "different model config"), "different config");
    base_opts(&o, runA);
    o.preset = NULL; o.resume = runA; o.batch = 8;
    CHECK(fails_with(&o, "--batch"), "different batch");
    base_opts(&o, sub("bad4"));
    o.preset = NULL; o.resume = sub("empty");
    CHECK(fails_with(&o, "no checkpoint"), "resume from a folder without checkpoints");
    base_opts(&o, runA);
    CHECK(fails_with(&o, "already has metrics"), "fresh run into a used folder");
    free(md);
}

TEST(nan_stop_and_skip) {
    TrainOptions o; TrainResult r;
    base_opts(&o, sub("nan1"));
    o.debug_nan_step = 3; o.nan_stop = 1;
    CHECK(fails_with(&o, "at step 3"), "NaN stop");
    base_opts(&o, sub("nan2"));
    o.debug_nan_step = 3; o.nan_stop = 0; o.steps = 8;
    CHECK(trainer_run(&o, &r) == 0, "NaN skip run failed: %s", last_error());
    CHECK(r.skipped == 1, "skipped %lld steps, want 1", (long long)r.skipped);
    CHECK(isfinite(r.last_loss), "loss after the skip is %g", r.last_loss);
    char *p = sub("nan2/metrics.jsonl"), *buf; size_t n;
    CHECK(io_read_all(p, &buf, &n) == 0 && strstr(buf, "\"skipped\""), "metrics do not record the skipped step");
    free(p); free(buf);
}

int main(int argc, char **argv) {
    if (argc == 6 && !strcmp(argv[1], "child")) {
        snprintf(root, sizeof root, "%s", argv[3]);
        seed = strtoull(argv[5], NULL, 10);
        return child_main(argv[2], argv[4]);
    }
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) { printf("FAIL setup (no /proc/self/exe)\n"); return 1; }
    self[sl] = 0;
    seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    printf("# seed %llu\n", (unsigned long long)seed);
    snprintf(root, sizeof root, "/tmp/deepc_test_resume_%d", (int)getpid());
    io_rm_rf(root);
    char *d = sub("data");
    io_mkdir_p(d);
    char *t = path_join(d, "train_0000.bin"), *v = path_join(d, "val_0000.bin");
    write_shard(t, 64, 300, seed);
    write_shard(v, 64, 40, seed + 1);
    free(t); free(v); free(d);
    RUN(straight_vs_resumed_bit_exact);
    RUN(crash_between_temp_write_and_rename);
    RUN(sigkill_during_training_leaves_resumable_checkpoint);
    RUN(bad_input_clear_messages);
    RUN(nan_stop_and_skip);
    io_rm_rf(root);
    return test_summary();
}
