// checkpoint.c — atomic checkpoints (temp folder + fsync + rename), keep-last-k, resume.
#include "train/checkpoint.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include "model/safetensors.h"
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *checkpoint_path(const char *run_dir, int64_t step) {
    char name[64];
    snprintf(name, sizeof name, "ckpt-%08" PRId64, step);
    return path_join(run_dir, name);
}

cJSON *rng_to_json(const Rng *r) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < 4; i++) {
        char buf[24];
        snprintf(buf, sizeof buf, "%016" PRIx64, r->s[i]);
        cJSON_AddItemToArray(a, cJSON_CreateString(buf));
    }
    return a;
}

int rng_from_json(const cJSON *j, Rng *r) {
    if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) != 4) return fail("rng state must be an array of 4 hex strings");
    for (int i = 0; i < 4; i++) {
        const cJSON *e = cJSON_GetArrayItem(j, i);
        if (!cJSON_IsString(e)) return fail("rng state word %d is not a string", i);
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(e->valuestring, &end, 16);
        if (errno || !end || *end || !*e->valuestring) return fail("rng state word %d \"%s\" is not hex", i, e->valuestring);
        r->s[i] = (uint64_t)v;
    }
    return 0;
}

// Streamed moments: entry e of the writer is view slot[e] >> 1, moment slot[e] & 1.
typedef struct { const Model *m; const MomentStream *ms; const int *slot; } OptFill;

static int opt_fill(void *ctx, int entry, size_t off, void *dst, size_t n) {
    const OptFill *f = ctx;
    const ParamView *pv = &f->m->views[f->slot[entry] >> 1];
    ASSERT(off % sizeof(float) == 0 && n % sizeof(float) == 0);
    return f->ms->fetch(f->ms->ctx, f->slot[entry] & 1, pv->offset + off / sizeof(float), n / sizeof(float), dst);
}

// optimizer.safetensors from the full moments o, or (o NULL) streamed from ms; path NULL
// (streamed only): no file, just the same fetches as the writer's.
static int write_optimizer(const char *path, const Model *m, const AdamW *o, const MomentStream *ms) {
    ASSERT(ms || (o->lo == 0 && o->n == m->n_params));   // full moments, or streamed
    StWriter w;
    st_writer_init(&w);
    char (*names)[2][112] = xmalloc((size_t)(m->n_views ? m->n_views : 1) * sizeof *names);
    int *slot = xmalloc((2 * (size_t)m->n_views + 1) * sizeof(int));
    for (int k = 0; k < m->n_views; k++) {
        const ParamView *pv = &m->views[k];
        if (!pv->trainable) continue;
        snprintf(names[k][0], sizeof names[k][0], "%s.exp_avg", pv->name);
        snprintf(names[k][1], sizeof names[k][1], "%s.exp_avg_sq", pv->name);
        slot[w.n] = 2 * k;
        st_writer_add(&w, names[k][0], ST_F32, pv->ndim, pv->shape, o ? o->m + pv->offset : NULL);
        slot[w.n] = 2 * k + 1;
        st_writer_add(&w, names[k][1], ST_F32, pv->ndim, pv->shape, o ? o->v + pv->offset : NULL);
    }
    int64_t t = o ? o->t : ms->t, one = 1;
    st_writer_add(&w, "adamw.step", ST_I64, 1, &one, &t);
    int rc;
    if (o) rc = st_writer_save(&w, path);
    else {
        OptFill f = {m, ms, slot};
        rc = st_writer_save_fill(&w, path, opt_fill, &f, ms->window * sizeof(float));
    }
    st_writer_free(&w);
    free(names); free(slot);
    return rc;
}

// Checkpoint folders in run_dir, sorted by step ascending.
static int list_ckpts(const char *run_dir, int64_t **steps, int *n) {
    *steps = NULL; *n = 0;
    DIR *d = opendir(run_dir);
    if (!d) return fail("cannot open run folder %s: %s", run_dir, strerror(errno));
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long long s; char tail;
        if (strncmp(e->d_name, "ckpt-", 5) || sscanf(e->d_name + 5, "%lld%c", &s, &tail) != 1) continue;
        if (strlen(e->d_name) != 13) continue;
        if (*n == cap) { cap = cap ? 2 * cap : 16; *steps = xrealloc(*steps, (size_t)cap * sizeof **steps); }
        (*steps)[(*n)++] = s;
    }
    closedir(d);
    for (int i = 1; i < *n; i++)   // insertion sort (few entries)
        for (int j = i; j > 0 && (*steps)[j - 1] > (*steps)[j]; j--) {
            int64_t t = (*steps)[j]; (*steps)[j] = (*steps)[j - 1]; (*steps)[j - 1] = t;
        }
    return 0;
}

// o: the full moments, or NULL and ms (streamed; every rank calls, writer 0 only fetches).
static int save_impl(const char *run_dir, int64_t step, const Model *m, const AdamW *o, const MomentStream *ms, int writer,
                     const cJSON *state, const char *const *extra_files, int n_extra, int keep) {
    if (!writer) return write_optimizer(NULL, m, NULL, ms);
    char tmpname[64];
    snprintf(tmpname, sizeof tmpname, ".tmp-ckpt-%08" PRId64 "-%d", step, (int)getpid());
    char *tmp = path_join(run_dir, tmpname);
    char *final = checkpoint_path(run_dir, step);
    int rc = -1, opt_done = 0;   // opt_done: the moments were fetched (streamed: the other ranks wait for that)
    if (io_mkdir_p(run_dir) < 0) goto out;
    if (io_exists(tmp)) io_rm_rf(tmp);
    if (io_mkdir_p(tmp) < 0 || model_write_files(m, tmp, 0) < 0) { fail_ctx("writing checkpoint %s", final); goto out; }
    char *opt = path_join(tmp, "optimizer.safetensors");
    int r = write_optimizer(opt, m, o, ms);
    opt_done = 1;
    free(opt);
    if (r < 0) { fail_ctx("writing checkpoint %s", final); goto out; }
    for (int i = 0; i < n_extra; i++) {
        if (!extra_files[i] || !io_exists(extra_files[i]) || io_is_dir(extra_files[i])) continue;
        const char *base = strrchr(extra_files[i], '/');
        base = base ? base + 1 : extra_files[i];
        char *to = path_join(tmp, base);
        r = io_copy_file(extra_files[i], to);
        free(to);
        if (r < 0) goto out;
    }
    // trainer_state.json last: its presence marks a complete folder.
    char *st = path_join(tmp, "trainer_state.json");
    r = json_save_file(st, state);
    free(st);
    if (r < 0) goto out;
    if (io_fsync_path(tmp) < 0) goto out;
    const char *crash = getenv("DEEPC_TEST_CRASH_CHECKPOINT");
    if (crash && !strcmp(crash, "1")) _exit(77);   // simulated crash between temp write and rename
    if (io_exists(final) && io_rm_rf(final) < 0) goto out;   // re-saving the same step
    if (rename(tmp, final) != 0) { fail("cannot rename %s to %s: %s", tmp, final, strerror(errno)); goto out; }
    if (io_fsync_path(run_dir) < 0) goto out;
    rc = 0;
    if (keep > 0) {
        int64_t *steps; int n;
        if (list_ckpts(run_dir, &steps, &n) == 0) {
            for (int i = 0; i + keep < n; i++) {
                char *old = checkpoint_path(run_dir, steps[i]);
                io_rm_rf(old);
                free(old);
            }
            free(steps);
        }
    }
out:
    if (!opt_done && ms) {   // failed before the moments: fetch them anyway (and drop them), keeping the message
        char *msg = xstrdup(last_error());
        if (write_optimizer(NULL, m, NULL, ms) == 0) fail("%s", msg);
        free(msg);
    }
    if (rc < 0 && io_exists(tmp)) io_rm_rf(tmp);
    free(tmp); free(final);
    return rc;
}

int checkpoint_save(const char *run_dir, int64_t step, const Model *m, const AdamW *o, const cJSON *state,
                    const char *const *extra_files, int n_extra, int keep) {
    return save_impl(run_dir, step, m, o, NULL, 1, state, extra_files, n_extra, keep);
}

int checkpoint_save_stream(const char *run_dir, int64_t step, const Model *m, const MomentStream *ms, int writer,
                           const cJSON *state, const char *const *extra_files, int n_extra, int keep) {
    ASSERT(ms && ms->fetch && ms->window > 0);
    return save_impl(run_dir, step, m, NULL, ms, writer, state, extra_files, n_extra, keep);
}

char *checkpoint_latest(const char *run_or_ckpt) {
    if (!io_is_dir(run_or_ckpt)) { fail("resume folder %s does not exist", run_or_ckpt); return NULL; }
    char *st = path_join(run_or_ckpt, "trainer_state.json");
    int here = io_exists(st);
    free(st);
    if (here) return xstrdup(run_or_ckpt);
    int64_t *steps; int n;
    if (list_ckpts(run_or_ckpt, &steps, &n) < 0) return NULL;
    for (int i = n - 1; i >= 0; i--) {
        char *p = checkpoint_path(run_or_ckpt, steps[i]);
        char *s = path_join(p, "trainer_state.json");
        int ok = io_exists(s);
        free(s);
        if (ok) { free(steps); return p; }
        free(p);
    }
    free(steps);
    fail("no checkpoint in %s (expected ckpt-NNNNNNNN folders with trainer_state.json); "
         "start without --resume or point --resume at a run folder that saved one", run_or_ckpt);
    return NULL;
}

int checkpoint_load_optimizer(const char *ckpt_dir, const Model *m, AdamW *o) {
    char *path = path_join(ckpt_dir, "optimizer.safetensors");
    StFile f;
    if (st_open(path, &f) < 0) { free(path); return -1; }
    int rc = 0;
    for (int k = 0; k < m->n_views && rc == 0; k++) {
        const ParamView *pv = &m->views[k];
        if (!pv->trainable) continue;
        char name[2][112];
        snprintf(name[0], sizeof name[0], "%s.exp_avg", pv->name);
        snprintf(name[1], sizeof name[1], "%s.exp_avg_sq", pv->name);
        for (int s = 0; s < 2 && rc == 0; s++) {
            const StTensor *t = st_find(&f, name[s]);
            if (!t) { rc = fail("%s lacks tensor %s: the checkpoint belongs to a different model", path, name[s]); break; }
            if (t->dtype != ST_F32 || st_numel(t) != (int64_t)pv->numel) {
                rc = fail("%s: tensor %s has %" PRId64 " elements, the model needs %zu: the checkpoint belongs to a different model",
                          path, name[s], st_numel(t), pv->numel);
                break;
            }
            // the part of the view in the moments' range [o->lo, o->lo + o->n) (all of it unless sharded)
            size_t a = pv->offset > o->lo ? pv->offset : o->lo;
            size_t b = pv->offset + pv->numel < o->lo + o->n ? pv->offset + pv->numel : o->lo + o->n;
            if (a >= b) continue;
            float *dst = (s ? o->v : o->m) + (a - o->lo);
            if (a == pv->offset && b - a == pv->numel) rc = st_read_f32(t, dst, (int64_t)pv->numel);
            else memcpy(dst, (const char *)t->data + (a - pv->offset) * sizeof(float), (b - a) * sizeof(float));
        }
    }
    if (rc == 0) {
        const StTensor *t = st_find(&f, "adamw.step");
        if (!t || t->dtype != ST_I64 || st_numel(t) != 1) rc = fail("%s lacks the scalar I64 tensor adamw.step", path);
        else memcpy(&o->t, t->data, sizeof o->t);
    }
    st_close(&f);
    free(path);
    return rc;
}

int checkpoint_load_state(const char *ckpt_dir, cJSON **state) {
    char *path = path_join(ckpt_dir, "trainer_state.json");
    int rc = json_load_file(path, state);
    free(path);
    return rc;
}
