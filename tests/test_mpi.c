// test_mpi.c — data-parallel pre-training under mpirun (./deepc-mpi, 2 ranks, tiny
// preset, random shards made here on a fresh seed):
//   - 2 ranks with --batch B --accum A follow one process with --batch 2B --accum 2A
//     (the same rows in the same steps): per-step losses, gradient norms, validation
//     losses and the final weights agree to float tolerance (sums run in another order);
//     one process that sees other rows does not (so the comparison can fail);
//   - the ranks' weights and AdamW moments are bitwise identical (the hashes every rank
//     reports at each checkpoint), and rank 0's hash is the hash of the saved weights;
//   - 10 steps, --resume, 10 more == 20 steps straight, bitwise (same process count and
//     threads: every summand is the same, and the 2-rank sum a + b is order-free); before
//     that resume, one that has rank 0 killed inside its next checkpoint write (the hook
//     DEEPC_TEST_CRASH_CHECKPOINT) must leave step 10's checkpoint the newest;
//   - resuming with another process count (2 ranks -> 1 process, 1 process -> 2 ranks under
//     --zero 1) keeps the global batch and follows the run that kept its count (float tolerance);
//     splits that do not exist are refused, naming the global batch;
//   - ZeRO-1 (--zero 1): bitwise the same run as --zero 0 (2 ranks), each rank holding about
//     half the AdamW moments (the start line's bytes); resumable bit-exactly under --zero 1 and
//     --zero 0; one process with --zero 1 is --zero 0; a NaN in one rank's shard is seen by all;
//     optimizer.safetensors, streamed to rank 0 window by window, has the --zero 0 run's bytes, and
//     a write failing in its middle stops every rank (none left waiting) with no checkpoint left.
// Prints "SKIP" (not a pass) when mpicc or mpirun are missing. Needs ./deepc and
// ./deepc-mpi (make test builds both); runs from the repository root.
#include "test.h"
#include "test_cmd.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include "base/rng.h"
#include "data/shard.h"
#include "model/model.h"
#include "model/safetensors.h"
#include <dirent.h>
#include <inttypes.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

static char tmpdir[256];
static uint64_t seed;
static char common[1024];   // options every pretrain run here shares

static const char *tail(const char *s) { size_t n = strlen(s); return n > 1500 ? s + n - 1500 : s; }

static const char *env_prefix = "";   // e.g. "DEEPC_TEST_CRASH_CHECKPOINT=1 " for one run

// ./deepc-mpi on np ranks (np > 1, under mpirun) or ./deepc (np = 1): pretrain with the
// common options, `extra` and --out TMP/run_name.
static int pretrain(int np, const char *extra, const char *run_name, char **out) {
    char cmd[3072];
    if (np > 1)
        snprintf(cmd, sizeof cmd, "%stimeout 120 mpirun --oversubscribe --bind-to none -np %d ./deepc-mpi pretrain %s %s --out %s/%s",
                 env_prefix, np, common, extra, tmpdir, run_name);
    else
        snprintf(cmd, sizeof cmd, "timeout 120 ./deepc pretrain %s %s --out %s/%s", common, extra, tmpdir, run_name);
    struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = run(cmd, out);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("# TIME %.1f s: %s %s\n", (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec), run_name, extra);
    return rc;
}

static int pretrain_ok(int np, const char *extra, const char *run_name) {
    char *out;
    int rc = pretrain(np, extra, run_name, &out);
    if (rc != 0) printf("  pretrain (%d process%s) %s --out %s: exit %d\n%s\n", np, np > 1 ? "es" : "", extra, run_name, rc, tail(out));
    free(out);
    return rc == 0;
}

static char *in_tmp(const char *name) { return path_join(tmpdir, name); }

// Random documents (BOS = 0, then ids 1..95, lengths 5..150) into DIR/<split>_0000.bin.
static void make_shards(void) {
    Rng r; rng_seed_stream(&r, seed, 11);
    char *dir = in_tmp("data");
    if (io_mkdir_p(dir) < 0) fatal_last();
    const char *names[2] = {"train_0000.bin", "val_0000.bin"};
    int ndocs[2] = {60, 12};
    for (int k = 0; k < 2; k++) {
        char *p = path_join(dir, names[k]);
        ShardWriter *w;
        if (shard_writer_open(&w, p, 96, 0, 0) < 0) fatal_last();
        int32_t doc[160];
        for (int d = 0; d < ndocs[k]; d++) {
            int n = 5 + (int)rng_below(&r, 146);
            doc[0] = 0;
            // a little structure (a per-document stride) so the loss moves within a few steps
            int32_t a = 1 + (int32_t)rng_below(&r, 95), st = 1 + (int32_t)rng_below(&r, 7);
            for (int i = 1; i < n; i++) doc[i] = rng_below(&r, 4) ? 1 + (a + st * i) % 95 : 1 + (int32_t)rng_below(&r, 95);
            if (shard_writer_add(w, doc, (size_t)n, 0) < 0) fatal_last();
        }
        if (shard_writer_commit(w) < 0) fatal_last();
        free(p);
    }
    free(dir);
}

// The training lines of RUN/metrics.jsonl (those with "loss"), as a JSON array (NULL on error).
static cJSON *metrics(const char *run_name) {
    char *run = in_tmp(run_name), *p = path_join(run, "metrics.jsonl");
    char *buf; size_t n;
    cJSON *arr = NULL;
    if (io_read_all(p, &buf, &n) == 0) {
        arr = cJSON_CreateArray();
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
            cJSON *j = cJSON_Parse(line);
            if (!j) { printf("  %s: bad JSON line %s\n", p, line); cJSON_Delete(arr); arr = NULL; break; }
            if (cJSON_GetObjectItemCaseSensitive(j, "loss")) cJSON_AddItemToArray(arr, j); else cJSON_Delete(j);
        }
        free(buf);
    } else printf("  %s: %s\n", p, last_error());
    free(p); free(run);
    return arr;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static double rel(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-30); }

// Largest relative per-step difference of key between two runs' metrics (same steps
// required; NaN when they do not line up).
// Worst relative difference of key over the metric lines [i0, i1) (i1 < 0: to the end).
static double worst_in(const cJSON *a, const cJSON *b, const char *key, int i0, int i1) {
    if (!a || !b || cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) return NAN;
    double w = 0;
    for (int i = i0; i < (i1 < 0 ? cJSON_GetArraySize(a) : i1); i++) {
        const cJSON *x = cJSON_GetArrayItem(a, i), *y = cJSON_GetArrayItem(b, i);
        if (num(x, "step") != num(y, "step")) return NAN;
        double u = num(x, key), v = num(y, key);
        if (isnan(u) && isnan(v)) continue;   // e.g. val_loss on steps without validation
        double r = rel(u, v);
        if (!(r <= w)) w = r;
    }
    return w;
}

static double worst(const cJSON *a, const cJSON *b, const char *key) { return worst_in(a, b, key, 0, -1); }

// The first step of a whose routing differs from b's at the same step (0: none differs): float noise tipping a
// router near-tie (see two_ranks_follow_one_process). Compared: the step's routing fingerprint load_xxh (every
// expert's token count); the per-layer imbalance maxvio missed a token moving between two experts below the maximum.
static int first_flip(const cJSON *a, const cJSON *b) {
    for (int i = 0; a && b && i < cJSON_GetArraySize(a); i++) {
        const cJSON *x = cJSON_GetArrayItem(a, i);
        for (int k = 0; k < cJSON_GetArraySize(b); k++) {
            const cJSON *y = cJSON_GetArrayItem(b, k);
            const cJSON *hx = cJSON_GetObjectItemCaseSensitive(x, "load_xxh"), *hy = cJSON_GetObjectItemCaseSensitive(y, "load_xxh");
            if (num(y, "step") == num(x, "step") && (!hx || !hy || !cJSON_Compare(hx, hy, 1))) return (int)num(x, "step");
        }
    }
    return 0;
}

// Compare every tensor of two model.safetensors (F32), worst over tensors: *max_rel of
// max|a - b| / max|b| (one element), *fro_rel of ||a - b|| / ||b|| (whole tensor; steadier:
// Adam can amplify float noise in a few elements whose gradient is near zero). Returns the
// number of tensors, or -1 on a mismatch of names/shapes.
static int compare_weights(const char *ck_a, const char *ck_b, double *max_rel, double *fro_rel, char *worst_name, size_t wn) {
    char *pa = path_join(ck_a, "model.safetensors"), *pb = path_join(ck_b, "model.safetensors");
    StFile fa, fb;
    int n = -1;
    *max_rel = 0; *fro_rel = 0;
    if (st_open(pa, &fa) < 0) { printf("  %s\n", last_error()); free(pa); free(pb); return -1; }
    if (st_open(pb, &fb) < 0) { printf("  %s\n", last_error()); st_close(&fa); free(pa); free(pb); return -1; }
    if (fa.n == fb.n) {
        n = 0;
        for (int i = 0; i < fa.n; i++) {
            const StTensor *x = &fa.tensors[i], *y = st_find(&fb, x->name);
            if (!y || st_numel(x) != st_numel(y) || x->dtype != ST_F32 || y->dtype != ST_F32) { n = -1; break; }
            int64_t k = st_numel(x);
            float *u = xmalloc((size_t)(k ? k : 1) * sizeof(float)), *v = xmalloc((size_t)(k ? k : 1) * sizeof(float));
            st_read_f32(x, u, k); st_read_f32(y, v, k);
            double r = rel_err(u, v, (size_t)k), dd = 0, bb = 0;
            for (int64_t i = 0; i < k; i++) { double d = (double)u[i] - v[i]; dd += d * d; bb += (double)v[i] * v[i]; }
            double f = sqrt(dd) / fmax(sqrt(bb), 1e-30);
            if (!(r <= *max_rel)) *max_rel = r;
            if (!(f <= *fro_rel)) { *fro_rel = f; snprintf(worst_name, wn, "%s", x->name); }
            free(u); free(v);
            n++;
        }
    }
    st_close(&fa); st_close(&fb);
    free(pa); free(pb);
    return n;
}

static cJSON *state_of(const char *run_name, int64_t step) {
    char rel_path[96];
    snprintf(rel_path, sizeof rel_path, "%s/ckpt-%08" PRId64 "/trainer_state.json", run_name, step);
    char *p = in_tmp(rel_path);
    cJSON *s = NULL;
    if (json_load_file(p, &s) < 0) printf("  %s\n", last_error());
    free(p);
    return s;
}

static const char *hash_at(const cJSON *state, const char *kind, int rank) {
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(state, "replicas");
    const cJSON *a = rep ? cJSON_GetObjectItemCaseSensitive(rep, kind) : NULL;
    const cJSON *h = cJSON_IsArray(a) ? cJSON_GetArrayItem(a, rank) : NULL;
    return cJSON_IsString(h) ? h->valuestring : NULL;
}

static int mpi_ran;   // the 8-step runs of the first test exist
static char *mpi8_out;  // what the 2-rank --zero 0 run printed

// "pretrain: optimizer state bytes per rank: A B ... the whole block's moments are C bytes" of
// rank 0's start line: per[0..n) (n <= 3, returned) and *whole; 0 if the line is missing.
static int state_bytes(const char *out, double per[], double *whole) {
    const char *l = out ? strstr(out, "optimizer state bytes per rank:") : NULL;
    const char *w = l ? strstr(l, "moments are ") : NULL;
    if (!l || !w) return 0;
    double p[3];
    int n = sscanf(l, "optimizer state bytes per rank: %lf %lf %lf", &p[0], &p[1], &p[2]);
    for (int i = 0; i < n; i++) per[i] = p[i];
    return n >= 1 && sscanf(w, "moments are %lf bytes", whole) == 1 ? n : 0;
}

TEST(two_ranks_follow_one_process) {
    // 2 ranks x (--batch 4 --accum 2): micro-batches of 2 rows; the job's global batch is 8
    // rows, drawn as 4 micro-batches: accumulation step a, rank q gets the job's micro-batch 2a + q.
    // One process with --batch 8 --accum 4 runs those same micro-batches in that order.
    int rc_mpi = pretrain(2, "--batch 4 --accum 2 --steps 8", "mpi8", &mpi8_out), ok_mpi = rc_mpi == 0;
    if (!ok_mpi) printf("  pretrain (2 processes) mpi8: exit %d\n%s\n", rc_mpi, tail(mpi8_out));
    int ok_one = pretrain_ok(1, "--batch 8 --accum 4 --steps 8", "one8");
    int ok_other = pretrain_ok(1, "--batch 4 --accum 2 --steps 8", "other8");   // half the rows: must differ
    CHECK(ok_mpi && ok_one && ok_other, "a run failed");
    if (!(ok_mpi && ok_one && ok_other)) return;
    mpi_ran = 1;
    cJSON *a = metrics("mpi8"), *b = metrics("one8"), *c = metrics("other8");
    CHECK(a && cJSON_GetArraySize(a) == 8, "mpi8: %d training lines, expected 8", a ? cJSON_GetArraySize(a) : -1);
    // Routing: float noise can tip a near-tie in the router, so one token goes to another expert
    // (seen with seed 1795994170 at step 7); the router-bias rule then moves biases by 2γ and that
    // expert's weights follow another path (first_flip finds the step; with maxvio alone a local run found none
    // and the weights were 3.4e-3 apart at step 8). The tight
    // bounds hold up to the step before the first such flip; from it on (a CI run: grad norm 3.7e-3 apart
    // at a flip at step 6) looser ones, still far below the control's 8e-3 / 1.5 on other rows.
    int flip = first_flip(a, b);                       // metric line i is step i + 1
    int cut = flip ? flip - 1 : -1;                    // metric lines before the flip's step
    double wl = worst_in(a, b, "loss", 0, cut), wg = worst_in(a, b, "grad_norm", 0, cut), wv = worst_in(a, b, "val_loss", 0, cut);
    double wl2 = flip ? worst_in(a, b, "loss", cut, -1) : 0, wg2 = flip ? worst_in(a, b, "grad_norm", cut, -1) : 0;
    double wt = worst(a, b, "tokens"), wlr = worst(a, b, "lr");
    printf("# 2 ranks vs 1 process, 8 steps: loss rel %.2e, grad norm rel %.2e, val loss rel %.2e%s", wl, wg, wv, flip ? "" : "\n");
    if (flip) printf(" before step %d; from it: loss rel %.2e, grad norm rel %.2e\n", flip, wl2, wg2);
    CHECK(wl <= 1e-4, "per-step loss differs by %.3g relative (limit 1e-4; ./deepc and ./deepc-mpi must be built from "
          "the same sources: make deepc deepc-mpi)", wl);
    CHECK(wg <= 1e-3, "per-step gradient norm differs by %.3g relative (limit 1e-3)", wg);
    CHECK(wv <= 1e-4, "validation loss differs by %.3g relative (limit 1e-4)", wv);
    CHECK(wl2 <= 1e-3 && wg2 <= 5e-2, "after the routing flip at step %d: loss %.3g (limit 1e-3), grad norm %.3g (limit 5e-2)",
          flip, wl2, wg2);
    CHECK(wt == 0 && wlr == 0, "tokens (%g) or learning rates (%g) differ", wt, wlr);
    const cJSON *last = a ? cJSON_GetArrayItem(a, cJSON_GetArraySize(a) - 1) : NULL;
    CHECK(last && num(last, "tokens") == 8.0 * 8 * 32, "the job's tokens after 8 steps: %g, expected %d", last ? num(last, "tokens") : NAN, 8 * 8 * 32);
    CHECK(!isnan(num(last, "val_loss")), "no validation loss at the last step");
    // the control: one process on other rows is visibly off (so the checks above can fail)
    double cl = worst(c, b, "loss"), cg = worst(c, b, "grad_norm");
    printf("# control (other rows): loss rel %.2e, grad norm rel %.2e\n", cl, cg);
    CHECK(cl > 1e-3 || cg > 1e-2, "a run on other rows is as close as the data-parallel one (loss %.3g, grad norm %.3g)", cl, cg);
    // The weights are compared at the last checkpoint (4 or 8) before the first routing flip.
    cJSON_Delete(a); cJSON_Delete(b); cJSON_Delete(c);
    int at = flip == 0 ? 8 : flip > 4 ? 4 : 0;
    if (flip) printf("# expert loads differ from step %d (routing tipped by float noise): weights compared at step %d\n", flip, at);
    if (!at) return;   // loads differ within 4 steps: the weights are not comparable (the losses were)

    char ck[3][64];
    snprintf(ck[0], sizeof ck[0], "mpi8/ckpt-%08d", at);
    snprintf(ck[1], sizeof ck[1], "one8/ckpt-%08d", at);
    snprintf(ck[2], sizeof ck[2], "other8/ckpt-%08d", at);
    char *ka = in_tmp(ck[0]), *kb = in_tmp(ck[1]), *kc = in_tmp(ck[2]);
    char name[128] = "", cname[128] = "";
    double wr, wf, cr, cf;
    int n = compare_weights(ka, kb, &wr, &wf, name, sizeof name), nc = compare_weights(kc, kb, &cr, &cf, cname, sizeof cname);
    printf("# weights at step %d: tensor norm relative difference %.2e (%s), largest element %.2e; control %.2e, %.2e\n",
           at, wf, name, wr, cf, cr);
    CHECK(n > 10, "could not compare the checkpoints' tensors (%d)", n);
    CHECK(wf <= 2e-4, "final weights differ: ||a - b|| / ||b|| of %s is %.3g (limit 2e-4)", name, wf);
    CHECK(wr <= 1e-2, "final weights differ: one element by %.3g of its tensor's largest entry (limit 1e-2)", wr);
    CHECK(nc > 10 && cf > 100 * wf && cf > 1e-2, "the control's weights are not further off (%.3g vs %.3g)", cf, wf);
    free(ka); free(kb); free(kc);
}

TEST(ranks_hold_identical_weights) {
    if (!mpi_ran) { CHECK(0, "needs the runs of two_ranks_follow_one_process"); return; }
    cJSON *s4 = state_of("mpi8", 4), *s8 = state_of("mpi8", 8);
    CHECK(s4 && s8, "trainer_state.json missing");
    if (!s4 || !s8) { cJSON_Delete(s4); cJSON_Delete(s8); return; }
    CHECK(num(s8, "world") == 2, "world in trainer_state.json: %g", num(s8, "world"));
    const char *kinds[2] = {"weights_xxh3", "optimizer_xxh3"};
    for (int k = 0; k < 2; k++) {
        const char *h0 = hash_at(s8, kinds[k], 0), *h1 = hash_at(s8, kinds[k], 1), *h2 = hash_at(s8, kinds[k], 2);
        const char *e0 = hash_at(s4, kinds[k], 0), *e1 = hash_at(s4, kinds[k], 1);
        CHECK(h0 && h1 && !h2 && e0 && e1, "%s: expected one hash per rank", kinds[k]);
        if (!h0 || !h1 || !e0 || !e1) continue;
        CHECK(!strcmp(h0, h1), "step 8: rank 0's %s %s, rank 1's %s", kinds[k], h0, h1);
        CHECK(!strcmp(e0, e1), "step 4: rank 0's %s %s, rank 1's %s", kinds[k], e0, e1);
        CHECK(strcmp(e0, h0), "%s did not change from step 4 to 8 (%s): it does not cover the training state", kinds[k], h0);
    }
    // rank 0's weight hash is the hash of the weights it saved, so rank 1 held those exact bits
    char *ck = in_tmp("mpi8/ckpt-00000008");
    Model m;
    if (model_load(ck, &m) == 0) {
        char h[20];
        snprintf(h, sizeof h, "%016" PRIx64, (uint64_t)XXH3_64bits(m.params, m.n_params * sizeof(float)));
        const char *h0 = hash_at(s8, "weights_xxh3", 0);
        CHECK(h0 && !strcmp(h, h0), "the saved weights hash to %s, the ranks reported %s", h, h0 ? h0 : "(none)");
        model_free(&m);
    } else CHECK(0, "model_load %s: %s", ck, last_error());
    free(ck);
    cJSON_Delete(s4); cJSON_Delete(s8);
}

// Both files' tensors bitwise equal (same names); prints the first difference.
static int same_tensors(const char *pa, const char *pb) {
    StFile fa, fb;
    if (st_open(pa, &fa) < 0) { printf("  %s\n", last_error()); return 0; }
    if (st_open(pb, &fb) < 0) { printf("  %s\n", last_error()); st_close(&fa); return 0; }
    int same = fa.n == fb.n && fa.n > 0;
    for (int i = 0; i < fa.n && same; i++) {
        const StTensor *x = &fa.tensors[i], *y = st_find(&fb, x->name);
        same = y && x->dtype == y->dtype && x->nbytes == y->nbytes && !memcmp(x->data, y->data, x->nbytes);
        if (!same) printf("  %s differs between %s and %s\n", x->name, pa, pb);
    }
    st_close(&fa); st_close(&fb);
    return same;
}

static void same_runs_at(const char *run_a, const char *run_b, int steps);
static void same_runs(const char *run_a, const char *run_b) { same_runs_at(run_a, run_b, 20); }

// 1 if dir holds an entry whose name starts with prefix.
static int has_entry(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int found = 0;
    for (struct dirent *e; (e = readdir(d));) found |= !strncmp(e->d_name, prefix, strlen(prefix));
    closedir(d);
    return found;
}

TEST(resume_under_mpi_matches_straight_run) {
    int ok = pretrain_ok(2, "--batch 2 --steps 20", "straight20");
    ok = ok && pretrain_ok(2, "--batch 2 --steps 20 --stop-after 10", "split20");
    char *split = in_tmp("split20"), *ck10 = path_join(split, "ckpt-00000010"), *ck12 = path_join(split, "ckpt-00000012");
    CHECK(!ok || (io_is_dir(ck10) && !io_exists(ck12)), "after --stop-after 10: no checkpoint at step 10, or one beyond it");
    // the same run folder; the repeated options (--preset, --seq, --seed ...) agree with the saved ones
    char extra[600], *out = NULL;
    snprintf(extra, sizeof extra, "--resume %s", split);
    // first with rank 0 killed inside its next checkpoint write (exit 77 after ckpt-12's temp folder
    // is complete, before the rename): ckpt-10 must stay the newest, and the resume below starts there
    env_prefix = "DEEPC_TEST_CRASH_CHECKPOINT=1 ";
    int rc = ok ? pretrain(2, extra, "split20", &out) : -3;
    env_prefix = "";
    CHECK(!ok || rc != 0, "the run with the crash hook did not fail");
    CHECK(!ok || has_entry(split, ".tmp-ckpt-00000012-"), "no temp folder of ckpt-12: the crash did not happen inside its write\n%s",
          out ? tail(out) : "");
    CHECK(!ok || (io_is_dir(ck10) && !io_exists(ck12)), "after the crash: ckpt-00000010 %s, ckpt-00000012 %s",
          io_is_dir(ck10) ? "present" : "MISSING", io_exists(ck12) ? "PRESENT (half-written?)" : "absent");
    free(out);
    ok = ok && pretrain_ok(2, extra, "split20");   // metrics lines past step 10 are dropped and redone
    CHECK(ok, "the runs failed");
    if (!ok) { free(split); free(ck10); free(ck12); return; }
    same_runs("straight20", "split20");
    cJSON *sa = state_of("straight20", 20), *sb = state_of("split20", 20);
    const char *ha = hash_at(sa, "weights_xxh3", 1), *hb = hash_at(sb, "weights_xxh3", 1);
    CHECK(ha && hb && !strcmp(ha, hb), "rank 1's weights differ after the resume (%s vs %s)", ha ? ha : "-", hb ? hb : "-");
    const cJSON *la = cJSON_GetObjectItemCaseSensitive(sa, "loader"), *lb = cJSON_GetObjectItemCaseSensitive(sb, "loader");
    CHECK(la && lb && cJSON_Compare(la, lb, 1), "the loader cursors at step 20 differ");
    cJSON_Delete(sa); cJSON_Delete(sb);
    free(split); free(ck10); free(ck12);
}

// Compare two runs of `steps` steps: every metric of every step and the final tensors, bitwise.
static void same_runs_at(const char *run_a, const char *run_b, int steps) {
    cJSON *a = metrics(run_a), *b = metrics(run_b);
    int n = a ? cJSON_GetArraySize(a) : -1, m = b ? cJSON_GetArraySize(b) : -1;
    CHECK(n == steps && m == steps, "training lines: %d in %s, %d in %s (expected %d)", n, run_a, m, run_b, steps);
    const char *keys[] = {"loss", "mtp_loss", "balance_loss", "grad_norm", "lr", "tokens", "val_loss"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        double w = worst(a, b, keys[k]);
        CHECK(w == 0, "%s: %s differs from %s (worst relative %.3g): should be bit-exact", run_b, keys[k], run_a, w);
    }
    cJSON_Delete(a); cJSON_Delete(b);
    const char *files[] = {"model.safetensors", "optimizer.safetensors"};
    for (int f = 0; f < 2; f++) {
        char pa[600], pb[600];
        snprintf(pa, sizeof pa, "%s/%s/ckpt-%08d/%s", tmpdir, run_a, steps, files[f]);
        snprintf(pb, sizeof pb, "%s/%s/ckpt-%08d/%s", tmpdir, run_b, steps, files[f]);
        CHECK(same_tensors(pa, pb), "%s of %s differs from %s's", files[f], run_b, run_a);
    }
}

// Largest relative difference of key over the steps of a that b has too (*n: how many; NaN if
// none or a value is missing on one side only).
static double worst_common(const cJSON *a, const cJSON *b, const char *key, int *n) {
    *n = 0;
    if (!a || !b) return NAN;
    double w = 0;
    for (int i = 0; i < cJSON_GetArraySize(a); i++) {
        const cJSON *x = cJSON_GetArrayItem(a, i), *y = NULL;
        for (int k = 0; k < cJSON_GetArraySize(b) && !y; k++)
            if (num(cJSON_GetArrayItem(b, k), "step") == num(x, "step")) y = cJSON_GetArrayItem(b, k);
        if (!y) continue;
        (*n)++;
        double u = num(x, key), v = num(y, key);
        if (isnan(u) && isnan(v)) continue;
        double r = rel(u, v);
        if (!(r <= w)) w = r;
    }
    return *n ? w : NAN;
}


static double opt_num(const cJSON *state, const char *key) {
    return num(cJSON_GetObjectItemCaseSensitive(state, "options"), key);
}

// A run resumed at step 4 on another process count (run_b, steps 5..8) against the run that
// continued on the original count (run_ref, steps 1..8): both start step 5 from the same bits
// and take the same rows, so only float summation order differs. Seen over 4 seeds: loss
// <= 1.3e-9 relative, gradient norm <= 7e-8, validation loss <= 4e-10, step-8 weights <= 6.7e-8
// in norm (one element <= 2.9e-7 of its tensor's largest). Bars ~1000x that: loss and validation
// loss 1e-6, gradient norm 1e-5 (it rides on near-cancelling sums), weights 1e-5 in norm. When a
// router near-tie tips (expert loads differ, see two_ranks_follow_one_process) the weights are not
// compared and the loss bars fall back to that test's (1e-4, 1e-3).
static void continues_like(const char *run_ref, const char *run_b, const char *what) {
    cJSON *a = metrics(run_b), *b = metrics(run_ref);
    int n = 0, ng = 0, nt = 0;
    double wl = worst_common(a, b, "loss", &n), wg = worst_common(a, b, "grad_norm", &ng);
    double wt = worst_common(a, b, "tokens", &nt), wlr = worst_common(a, b, "lr", &nt), wv = worst_common(a, b, "val_loss", &nt);
    int flip = first_flip(a, b);
    double bl = flip ? 1e-4 : 1e-6, bg = flip ? 1e-3 : 1e-5;
    printf("# %s, steps 5-8: loss rel %.2e, grad norm rel %.2e, val loss rel %.2e\n", what, wl, wg, wv);
    CHECK(a && cJSON_GetArraySize(a) == 4 && n == 4 && ng == 4, "%s: %d training lines, %d matched in %s (expected 4)",
          run_b, a ? cJSON_GetArraySize(a) : -1, n, run_ref);
    CHECK(wl <= bl, "%s: per-step loss differs from %s by %.3g relative (limit %g)", what, run_ref, wl, bl);
    CHECK(wg <= bg, "%s: per-step gradient norm differs from %s by %.3g relative (limit %g)", what, run_ref, wg, bg);
    CHECK(wv <= bl, "%s: validation loss differs from %s by %.3g relative (limit %g)", what, run_ref, wv, bl);
    CHECK(wt == 0 && wlr == 0, "%s: tokens (%g) or learning rates (%g) differ from %s's", what, wt, wlr, run_ref);
    cJSON_Delete(a); cJSON_Delete(b);
    if (flip) { printf("# %s: expert loads differ from step %d: weights not compared\n", what, flip); return; }
    char ca[96], cb[96], name[128] = "";
    snprintf(ca, sizeof ca, "%s/ckpt-00000008", run_b);
    snprintf(cb, sizeof cb, "%s/ckpt-00000008", run_ref);
    char *ka = in_tmp(ca), *kb = in_tmp(cb);
    double wr, wf;
    int nt2 = compare_weights(ka, kb, &wr, &wf, name, sizeof name);
    printf("# %s: weights at step 8: tensor norm relative difference %.2e (%s), largest element %.2e\n", what, wf, name, wr);
    CHECK(nt2 > 10, "%s: could not compare the checkpoints' tensors (%d)", what, nt2);
    CHECK(wf <= 1e-5, "%s: step-8 weights differ: ||a - b|| / ||b|| of %s is %.3g (limit 1e-5)", what, name, wf);
    free(ka); free(kb);
}

// 2 ranks x (--batch 4 --accum 2) stopped at step 4 continue on one process (./deepc, no
// mpirun, no --batch): it chooses --batch 8 --accum 4 (the global batch of 8 rows, micro-batches
// of 2 rows as before), says so in a note, follows the 2-rank run's steps 5-8, and its
// checkpoint records the new world and batch, against which a further resume is checked.
TEST(resume_two_ranks_on_one_process) {
    if (!mpi_ran) { CHECK(0, "needs the runs of two_ranks_follow_one_process"); return; }
    char extra[600], *out;
    snprintf(extra, sizeof extra, "--resume %s/mpi8/ckpt-00000004", tmpdir);
    int rc = pretrain(1, extra, "to1", &out);
    CHECK(rc == 0, "one process resuming a 2-rank run: exit %d\n%s", rc, tail(out));
    CHECK(strstr(out, "note:") && strstr(out, "--batch 8 --accum 4") && strstr(out, "global batch of 8 rows") &&
          strstr(out, "not bit-exact"), "no note saying what was chosen:\n%s", tail(out));
    free(out);
    if (rc != 0) return;
    continues_like("mpi8", "to1", "2 ranks -> 1 process");
    cJSON *st = state_of("to1", 8);
    CHECK(st && num(st, "world") == 1 && opt_num(st, "batch") == 8 && opt_num(st, "accum") == 4,
          "to1's step-8 checkpoint records world %g, batch %g, accum %g (expected 1, 8, 4)", num(st, "world"),
          opt_num(st, "batch"), opt_num(st, "accum"));
    cJSON_Delete(st);
    // a further resume checks against the new record: 2 ranks x --batch 8 would be 16 rows
    snprintf(extra, sizeof extra, "--resume %s/to1 --batch 8", tmpdir);
    rc = pretrain(2, extra, "to1_refused", &out);
    CHECK(rc != 0 && strstr(out, "global batch is 8 rows") && strstr(out, "--batch 4"),
          "2 ranks x --batch 8 resuming a 1-process --batch 8 run: exit %d\n%s", rc, tail(out));
    free(out);
    char *m = in_tmp("to1_refused/metrics.jsonl");
    CHECK(!io_exists(m), "a refused resume wrote metrics");
    free(m);
}

// One process with --batch 8 --accum 4 stopped at step 4 continues on 2 ranks under --zero 1
// with an explicit --batch 4 (accum derived: 2): each rank loads its shard of the new plan from
// the full moments, and the run follows the one-process run's steps 5-8.
TEST(resume_one_process_on_two_ranks_zero1) {
    if (!mpi_ran) { CHECK(0, "needs the runs of two_ranks_follow_one_process"); return; }
    char extra[600], *out;
    snprintf(extra, sizeof extra, "--resume %s/one8/ckpt-00000004 --batch 4 --zero 1", tmpdir);
    int rc = pretrain(2, extra, "to2", &out);
    CHECK(rc == 0, "2 ranks resuming a 1-process run: exit %d\n%s", rc, tail(out));
    CHECK(strstr(out, "--batch 4 --accum 2") && strstr(out, "not bit-exact"), "no note saying what was chosen:\n%s", tail(out));
    double per[2] = {0, 0}, whole = 0;
    CHECK(state_bytes(out, per, &whole) == 2 && per[0] + per[1] == whole && per[0] < 0.6 * whole && per[1] < 0.6 * whole,
          "the --zero 1 resume is not sharded:\n%s", tail(out));
    free(out);
    if (rc != 0) return;
    continues_like("one8", "to2", "1 process -> 2 ranks --zero 1");
    cJSON *st = state_of("to2", 8);
    CHECK(st && num(st, "world") == 2 && opt_num(st, "batch") == 4 && opt_num(st, "accum") == 2 && opt_num(st, "zero") == 1,
          "to2's step-8 checkpoint records world %g, batch %g, accum %g, zero %g (expected 2, 4, 2, 1)", num(st, "world"),
          opt_num(st, "batch"), opt_num(st, "accum"), opt_num(st, "zero"));
    cJSON_Delete(st);
}

// A copy of one8's step-4 checkpoint in TMP/name whose trainer_state.json says it was trained
// by `world` processes with --batch b --accum a (the resume logic reads only these; the rows
// already drawn are the same for any split of 8 rows). 0 on success.
static int fake_run(const char *name, int world, int b, int a) {
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf %s/%s && mkdir -p %s/%s && cp -r %s/one8/ckpt-00000004 %s/%s/", tmpdir, name, tmpdir, name,
             tmpdir, tmpdir, name);
    if (system(cmd) != 0) return -1;
    char rel_path[128];
    snprintf(rel_path, sizeof rel_path, "%s/ckpt-00000004/trainer_state.json", name);
    char *p = in_tmp(rel_path);
    cJSON *st = NULL;
    int rc = json_load_file(p, &st);
    if (rc == 0) {
        cJSON *o = cJSON_GetObjectItemCaseSensitive(st, "options");
        cJSON_ReplaceItemInObjectCaseSensitive(st, "world", cJSON_CreateNumber(world));
        cJSON_ReplaceItemInObjectCaseSensitive(o, "batch", cJSON_CreateNumber(b));
        cJSON_ReplaceItemInObjectCaseSensitive(o, "accum", cJSON_CreateNumber(a));
        rc = json_save_file(p, st);
    }
    if (rc < 0) printf("  %s\n", last_error());
    cJSON_Delete(st); free(p);
    return rc;
}

// The choice of --batch/--accum on another process count, on runs whose trainer_state.json
// claims other splits (one step each): the brief's examples, 2 ranks x --batch 8 -> one process
// --batch 16 --accum 2 and one process --batch 16 --accum 2 -> 2 ranks --batch 8 --accum 1;
// micro-batches that cannot stay the same size get the largest size below (4 x --batch 3
// --accum 3 -> --batch 12 --accum 12; 3 x --batch 4 --accum 2 -> --batch 12 --accum 6); explicit
// values that keep the global batch are taken; the new split is what the checkpoint records.
TEST(cross_count_choices) {
    if (!mpi_ran) { CHECK(0, "needs the runs of two_ranks_follow_one_process"); return; }
    struct { int world, b, a, np; const char *extra, *want; int wb, wa; } cases[] = {
        {2, 8, 1, 1, "", "--batch 16 --accum 2 per process", 16, 2},
        {1, 16, 2, 2, "", "--batch 8 --accum 1 per process", 8, 1},
        {4, 3, 3, 1, "", "--batch 12 --accum 12 per process", 12, 12},
        {3, 4, 2, 1, "", "--batch 12 --accum 6 per process", 12, 6},
        {2, 8, 1, 1, "--batch 16 --accum 4", "--batch 16 --accum 4 per process", 16, 4},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char name[32], extra[700], *out;
        snprintf(name, sizeof name, "fake%zu", k);
        if (fake_run(name, cases[k].world, cases[k].b, cases[k].a) < 0) { CHECK(0, "case %zu: could not fake the run", k); continue; }
        snprintf(extra, sizeof extra, "--resume %s/%s --stop-after 1 %s", tmpdir, name, cases[k].extra);
        int rc = pretrain(cases[k].np, extra, name, &out);
        CHECK(rc == 0 && strstr(out, cases[k].want) && strstr(out, "not bit-exact"),
              "case %zu (%d x --batch %d --accum %d on %d): exit %d, expected the note \"%s\"\n%s", k, cases[k].world, cases[k].b,
              cases[k].a, cases[k].np, rc, cases[k].want, tail(out));
        free(out);
        cJSON *st = state_of(name, 5);
        CHECK(st && num(st, "world") == cases[k].np && opt_num(st, "batch") == cases[k].wb && opt_num(st, "accum") == cases[k].wa,
              "case %zu: the step-5 checkpoint records world %g, batch %g, accum %g", k, num(st, "world"), opt_num(st, "batch"),
              opt_num(st, "accum"));
        cJSON_Delete(st);
    }
    // a damaged record (accum 0) is refused with a message, not a division by zero
    char extra[700], *out;
    if (fake_run("fakebad", 2, 8, 0) == 0) {
        snprintf(extra, sizeof extra, "--resume %s/fakebad --stop-after 1", tmpdir);
        int rc = pretrain(1, extra, "fakebad", &out);
        CHECK(rc > 0 && rc != 124 && strstr(out, "at least 1"), "accum 0 in trainer_state.json: exit %d\n%s", rc, tail(out));
        free(out);
    } else CHECK(0, "could not fake the damaged run");
}

// Splits that do not exist are refused before anything is written, naming the global batch:
// 3 ranks cannot split 8 rows (the message lists the counts that can), and an explicit --batch
// that changes the global batch is refused with the one to pass.
TEST(impossible_split_is_refused) {
    if (!mpi_ran) { CHECK(0, "needs the runs of two_ranks_follow_one_process"); return; }
    char extra[600], *out;
    snprintf(extra, sizeof extra, "--resume %s/mpi8/ckpt-00000004", tmpdir);
    int rc = pretrain(3, extra, "refused3", &out);
    CHECK(rc != 0 && strstr(out, "global batch is 8 rows") && strstr(out, "1, 2, 4, 8"),
          "3 ranks resuming a run of global batch 8: exit %d\n%s", rc, tail(out));
    free(out);
    snprintf(extra, sizeof extra, "--resume %s/mpi8/ckpt-00000004 --batch 4", tmpdir);
    rc = pretrain(1, extra, "refused1", &out);
    CHECK(rc != 0 && strstr(out, "global batch is 8 rows") && strstr(out, "--batch 8"),
          "one process with --batch 4 resuming 2 ranks x --batch 4: exit %d\n%s", rc, tail(out));
    free(out);
    snprintf(extra, sizeof extra, "--resume %s/mpi8/ckpt-00000004 --accum 3", tmpdir);
    rc = pretrain(1, extra, "refused1a", &out);
    CHECK(rc != 0 && strstr(out, "--accum 3"), "--batch 8 (derived) with --accum 3: exit %d\n%s", rc, tail(out));
    free(out);
    const char *runs[3] = {"refused3/metrics.jsonl", "refused1/metrics.jsonl", "refused1a/metrics.jsonl"};
    for (int k = 0; k < 3; k++) {
        char *m = in_tmp(runs[k]);
        CHECK(!io_exists(m), "a refused resume wrote %s", runs[k]);
        free(m);
    }
}

// ZeRO-1 (--zero 1): the same 2-rank run as mpi8 with the AdamW moments sharded. Both ranks
// sum the same two gradient buffers (a + b is order-free), the norm is assembled from the
// same chunk sums in the same order, and the update is elementwise, so the run must be
// bitwise the unsharded one: every metric, weights and (gathered) moments. The collectives
// run in windows of 100003 floats (DEEPC_TEST_DIST_CHUNK) so the window edges are crossed.
// Each rank must hold about half the moments (the start line's bytes), else sharding is off.
// optimizer.safetensors, which rank 0 writes with the moments streamed to it window by window,
// must be byte-identical to the unsharded run's.
TEST(zero1_matches_unsharded) {
    if (!mpi_ran) { CHECK(0, "needs the runs of two_ranks_follow_one_process"); return; }
    char *out = NULL;
    env_prefix = "DEEPC_TEST_DIST_CHUNK=100003 ";
    int rc = pretrain(2, "--batch 4 --accum 2 --steps 8 --zero 1", "zero8", &out);
    env_prefix = "";
    CHECK(rc == 0, "--zero 1 run: exit %d\n%s", rc, tail(out));
    if (rc != 0) { free(out); return; }
    same_runs_at("mpi8", "zero8", 8);
    double per[2] = {0, 0}, whole = 0, per0[2] = {0, 0}, whole0 = 0;
    int n1 = state_bytes(out, per, &whole), n0 = state_bytes(mpi8_out, per0, &whole0);
    printf("# optimizer state bytes per rank: --zero 1 %.0f + %.0f, --zero 0 %.0f and %.0f (whole block %.0f)\n",
           per[0], per[1], per0[0], per0[1], whole0);
    CHECK(n1 == 2 && n0 == 2 && whole > 0 && whole == whole0, "start lines without the optimizer state bytes:\n%s", tail(out));
    CHECK(per0[0] == whole0 && per0[1] == whole0, "--zero 0: every rank should hold all moments (%.0f, %.0f of %.0f)", per0[0], per0[1], whole0);
    CHECK(per[0] + per[1] == whole, "--zero 1: the shards (%.0f + %.0f) do not add up to the block (%.0f)", per[0], per[1], whole);
    CHECK(per[0] > 0.4 * whole && per[1] > 0.4 * whole && per[0] < 0.6 * whole && per[1] < 0.6 * whole,
          "--zero 1: shards of %.0f and %.0f bytes are not about half of %.0f each (sharding off or unbalanced)", per[0], per[1], whole);
    free(out);
    for (int st = 4; st <= 8; st += 4) {
        // rank 0 streams the moments into optimizer.safetensors window by window (never whole):
        // the file must have the bytes of the unsharded run's, which writes them from memory
        char pz[600], pu[600];
        snprintf(pz, sizeof pz, "%s/zero8/ckpt-%08d/optimizer.safetensors", tmpdir, st);
        snprintf(pu, sizeof pu, "%s/mpi8/ckpt-%08d/optimizer.safetensors", tmpdir, st);
        char *bz = NULL, *bu = NULL; size_t nz = 0, nu = 0;
        int okz = io_read_all(pz, &bz, &nz) == 0, oku = io_read_all(pu, &bu, &nu) == 0;
        CHECK(okz && oku && nz == nu && nz > 1000000 && !memcmp(bz, bu, nz),
              "step %d: optimizer.safetensors of the --zero 1 run (%zu bytes) is not byte-identical to the --zero 0 run's (%zu bytes)",
              st, nz, nu);
        free(bz); free(bu);
        cJSON *z = state_of("zero8", st), *u = state_of("mpi8", st);
        const char *zw0 = hash_at(z, "weights_xxh3", 0), *zw1 = hash_at(z, "weights_xxh3", 1), *uw0 = hash_at(u, "weights_xxh3", 0);
        const char *zo = hash_at(z, "optimizer_xxh3", 0), *zo1 = hash_at(z, "optimizer_xxh3", 1), *uo = hash_at(u, "optimizer_xxh3", 0);
        const char *s0 = hash_at(z, "optimizer_shard_xxh3", 0), *s1 = hash_at(z, "optimizer_shard_xxh3", 1);
        CHECK(zw0 && zw1 && uw0 && !strcmp(zw0, zw1) && !strcmp(zw0, uw0), "step %d: weight hashes %s %s (unsharded %s)", st,
              zw0 ? zw0 : "-", zw1 ? zw1 : "-", uw0 ? uw0 : "-");
        CHECK(zo && !zo1 && uo && !strcmp(zo, uo), "step %d: the gathered moments hash to %s, the unsharded run's to %s", st,
              zo ? zo : "-", uo ? uo : "-");
        CHECK(s0 && s1 && strcmp(s0, s1), "step %d: shard hashes %s and %s (expected two different shards)", st, s0 ? s0 : "-", s1 ? s1 : "-");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(z, "zero_shard_bounds");
        CHECK(cJSON_GetArraySize(b) == 3, "step %d: zero_shard_bounds has %d entries, expected 3", st, cJSON_GetArraySize(b));
        const cJSON *oz = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(z, "options"), "zero");
        CHECK(cJSON_IsNumber(oz) && oz->valuedouble == 1, "step %d: options.zero is not 1 in trainer_state.json", st);
        cJSON_Delete(z); cJSON_Delete(u);
    }
}

// A --zero 1 run stopped at step 6 and resumed under --zero 1 and (another copy) under
// --zero 0 continues bitwise like the straight --zero 1 run; the resumes' start lines show
// the sharded and the whole moments. One process with --zero 1 is one process with --zero 0.
TEST(zero1_resume_bit_exact) {
    int ok = pretrain_ok(2, "--batch 2 --steps 12 --zero 1", "zstraight12");
    ok = ok && pretrain_ok(2, "--batch 2 --steps 12 --stop-after 6 --zero 1", "zsplit1");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp -r %s/zsplit1 %s/zsplit0", tmpdir, tmpdir);
    ok = ok && system(cmd) == 0;
    CHECK(ok, "the runs before the resumes failed");
    if (!ok) return;
    char extra[700], *out1 = NULL, *out0 = NULL;
    snprintf(extra, sizeof extra, "--resume %s/zsplit1", tmpdir);
    int rc1 = pretrain(2, extra, "zsplit1", &out1);
    snprintf(extra, sizeof extra, "--resume %s/zsplit0 --zero 0", tmpdir);
    int rc0 = pretrain(2, extra, "zsplit0", &out0);
    CHECK(rc1 == 0 && rc0 == 0, "resume under --zero 1: exit %d\n%s\nresume under --zero 0: exit %d\n%s", rc1, tail(out1), rc0, tail(out0));
    if (rc1 == 0 && rc0 == 0) {
        same_runs_at("zstraight12", "zsplit1", 12);
        same_runs_at("zstraight12", "zsplit0", 12);
        double p1[2], w1, p0[2], w0;
        CHECK(state_bytes(out1, p1, &w1) == 2 && p1[0] < 0.6 * w1 && p1[1] < 0.6 * w1, "the --zero 1 resume is not sharded:\n%s", tail(out1));
        CHECK(state_bytes(out0, p0, &w0) == 2 && p0[0] == w0 && p0[1] == w0, "the --zero 0 resume is sharded:\n%s", tail(out0));
        cJSON *s0 = state_of("zsplit0", 12), *s1 = state_of("zsplit1", 12);
        const cJSON *z0 = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s0, "options"), "zero");
        const cJSON *z1 = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s1, "options"), "zero");
        CHECK(cJSON_IsNumber(z0) && z0->valuedouble == 0 && cJSON_IsNumber(z1) && z1->valuedouble == 1,
              "options.zero after the resumes: %g (expected 0) and %g (expected 1)", z0 ? z0->valuedouble : NAN, z1 ? z1->valuedouble : NAN);
        cJSON_Delete(s0); cJSON_Delete(s1);
    }
    free(out1); free(out0);
    // one process: --zero 1 is --zero 0 (one8 ran without it)
    if (mpi_ran && pretrain_ok(1, "--batch 8 --accum 4 --steps 8 --zero 1", "onez8")) same_runs_at("one8", "onez8", 8);
    else CHECK(0, "the one-process --zero 1 run failed (or one8 is missing)");
    char *bad;
    int rc = pretrain(1, "--steps 2 --zero 2", "zbad", &bad);
    CHECK(rc != 0 && strstr(bad, "--zero"), "--zero 2: exit %d\n%s", rc, tail(bad));
    free(bad);
}

// --zero 1 with a NaN planted in the last rank's gradient shard only (DEEPC_DEBUG_NAN_STEP):
// rank 0 must see the NaN norm too (it logs the skip), every rank skips that update (the
// replica check at the checkpoints passes), and --nan stop stops the job.
TEST(zero1_nan_agrees) {
    char *out;
    env_prefix = "DEEPC_DEBUG_NAN_STEP=2 ";
    int rc = pretrain(2, "--batch 2 --steps 5 --save-every 5 --nan skip --zero 1", "znan", &out);
    CHECK(rc == 0, "--nan skip: exit %d\n%s", rc, tail(out));
    free(out);
    rc = pretrain(2, "--batch 2 --steps 5 --zero 1", "znanstop", &out);
    env_prefix = "";
    CHECK(rc != 0 && strstr(out, "NaN"), "--nan stop: exit %d\n%s", rc, tail(out));
    free(out);
    char *p = in_tmp("znan/metrics.jsonl"), *buf = NULL; size_t n;
    CHECK(io_read_all(p, &buf, &n) == 0 && strstr(buf, "\"step\":3,\"skipped\":\"nan grad\""),
          "rank 0 did not log the skipped step 3:\n%s", buf ? buf : last_error());
    free(buf); free(p);
}

// --zero 1 with rank 0's write failing in the middle of optimizer.safetensors (a file size
// limit, set per rank by a shell that ignores SIGXFSZ so write() fails with EFBIG): rank 0 keeps
// taking the streamed windows, so rank 1 is not left waiting in a collective; every rank stops
// with the error well inside the time limit, and no checkpoint (nor temp folder) is left.
TEST(zero1_failed_write_stops_every_rank) {
    if (!mpi_ran) { CHECK(0, "needs the runs of two_ranks_follow_one_process"); return; }
    double per[2], whole = 0;
    if (state_bytes(mpi8_out, per, &whole) != 2 || whole <= 0) { CHECK(0, "no optimizer size in mpi8's start line"); return; }
    long blocks = (long)(0.75 * whole / 1024);   // model.safetensors (about whole / 2) fits, optimizer.safetensors does not
    char cmd[3072], *out;
    snprintf(cmd, sizeof cmd, "timeout 60 mpirun --oversubscribe --bind-to none -np 2 bash -c \"trap '' XFSZ; ulimit -f %ld; "
             "exec ./deepc-mpi pretrain %s --batch 2 --steps 4 --zero 1 --out %s/zfull\"", blocks, common, tmpdir);
    int rc = run(cmd, &out);
    CHECK(rc != 0 && rc != 124 && strstr(out, "optimizer.safetensors") && strstr(out, "File too large"),
          "rank 0's failed write: exit %d (124: a rank hung)\n%s", rc, tail(out));
    free(out);
    char *run_dir = in_tmp("zfull"), *ck = path_join(run_dir, "ckpt-00000004");
    CHECK(!io_exists(ck) && !has_entry(run_dir, ".tmp-ckpt-") && !has_entry(run_dir, "ckpt-"),
          "after the failed write: a checkpoint or temp folder is left in %s", run_dir);
    free(ck); free(run_dir);
}

// Three ranks (oversubscribed): the general shard and window code. Not bitwise: the all-reduce
// and the reduce-scatter may add three buffers in different orders, so the per-step loss and
// gradient norm are held to the tolerances of two_ranks_follow_one_process. Both runs pass the
// replica check (weights equal on all ranks; each gathered shard equal to what its rank holds),
// and each rank holds about a third of the moments.
TEST(zero1_three_ranks) {
    char *out = NULL;
    int ok0 = pretrain_ok(3, "--batch 2 --steps 6 --save-every 3", "u3");
    int rc = pretrain(3, "--batch 2 --steps 6 --save-every 3 --zero 1", "z3", &out);
    CHECK(ok0 && rc == 0, "3 ranks: --zero 0 %s, --zero 1 exit %d\n%s", ok0 ? "ok" : "failed", rc, tail(out));
    if (ok0 && rc == 0) {
        cJSON *a = metrics("u3"), *b = metrics("z3");
        double wl = worst(a, b, "loss"), wg = worst(a, b, "grad_norm");
        printf("# 3 ranks, --zero 1 vs --zero 0, 6 steps: loss rel %.2e, grad norm rel %.2e\n", wl, wg);
        CHECK(a && cJSON_GetArraySize(a) == 6, "u3: %d training lines", a ? cJSON_GetArraySize(a) : -1);
        CHECK(wl <= 1e-4 && wg <= 1e-3, "3 ranks: --zero 1 differs from --zero 0: loss %.3g (limit 1e-4), grad norm %.3g (limit 1e-3)", wl, wg);
        cJSON_Delete(a); cJSON_Delete(b);
        double per[3] = {0, 0, 0}, whole = 0;
        int n = state_bytes(out, per, &whole);
        CHECK(n == 3 && per[0] + per[1] + per[2] == whole, "3 ranks: shards %.0f + %.0f + %.0f of %.0f bytes (%d numbers)",
              per[0], per[1], per[2], whole, n);
        for (int q = 0; q < 3 && n == 3; q++)
            CHECK(per[q] > 0.25 * whole && per[q] < 0.42 * whole, "3 ranks: rank %d holds %.0f of %.0f bytes (not about a third)", q, per[q], whole);
        cJSON *st = state_of("z3", 6);
        const char *s0 = hash_at(st, "optimizer_shard_xxh3", 0), *s2 = hash_at(st, "optimizer_shard_xxh3", 2);
        const char *w0 = hash_at(st, "weights_xxh3", 0), *w2 = hash_at(st, "weights_xxh3", 2);
        CHECK(s0 && s2 && w0 && w2 && !strcmp(w0, w2), "3 ranks: hashes missing or rank 2's weights differ");
        cJSON_Delete(st);
    }
    free(out);
}

static int have(const char *prog) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

int main(void) {
    if (!have("mpicc") || !have("mpirun")) {
        printf("SKIP test_mpi: %s not found (OpenMPI: scripts/setup.sh installs libopenmpi-dev and openmpi-bin)\n",
               have("mpirun") ? "mpicc" : "mpirun");
        return 0;
    }
    if (!io_exists("deepc-mpi") || !io_exists("deepc")) {
        printf("FAIL test_mpi: ./deepc-mpi or ./deepc is missing; build them with make deepc deepc-mpi (make test does)\n");
        return 1;
    }
    seed = test_seed();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/deepc_test_mpi_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 2; }
    // mpirun as root (CI containers) and on a machine with fewer cores than ranks
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMP_WAIT_POLICY", "passive", 1);
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);   // a rank waiting in a collective yields its core (shared machine)
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);   // containers without ptrace rights
    setenv("ASAN_OPTIONS", "detect_leaks=0", 0);   // make DEBUG=1: the MPI library's own allocations at exit
    char *out;   // can mpirun start 2 processes here at all? (a clearer failure than a broken first test)
    int rc = run("timeout 60 mpirun --oversubscribe --bind-to none -np 2 true", &out);
    if (rc != 0) {
        printf("FAIL mpirun_starts: `mpirun --oversubscribe --bind-to none -np 2 true` exits %d:\n%s\n", rc, tail(out));
        free(out); io_rm_rf(tmpdir);
        return 1;
    }
    free(out);
    make_shards();
    snprintf(common, sizeof common, "--preset tiny --data %s/data --seq 32 --threads 1 --samples 0 --quiet --seed %llu "
             "--eval-every 4 --eval-batches 2 --save-every 4 --keep 10",
             tmpdir, (unsigned long long)(seed % 1000000));
    RUN(two_ranks_follow_one_process);
    RUN(ranks_hold_identical_weights);
    RUN(resume_under_mpi_matches_straight_run);
    RUN(resume_two_ranks_on_one_process);
    RUN(resume_one_process_on_two_ranks_zero1);
    RUN(cross_count_choices);
    RUN(impossible_split_is_refused);
    RUN(zero1_matches_unsharded);
    RUN(zero1_resume_bit_exact);
    RUN(zero1_nan_agrees);
    RUN(zero1_failed_write_stops_every_rank);
    RUN(zero1_three_ranks);
    free(mpi8_out);
    if (test_failed == 0) io_rm_rf(tmpdir); else printf("# run folders kept in %s\n", tmpdir);
    return test_summary();
}
