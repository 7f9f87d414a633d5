// trainer.c — the pre-training loop (see trainer.h).
#include "train/trainer.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include "base/progress.h"
#include "base/rng.h"
#include "data/loader.h"
#include "data/shard.h"
#include "data/tokenizer.h"
#include "kernels/gemm.h"
#include "model/model.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/dist.h"
#include "train/flops.h"
#include "train/report.h"
#include "train/sample.h"
#include "train/scale.h"
#include <cblas.h>
#include <xxhash.h>
#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *balance_names[] = {"aux-free", "aux-loss", "none"};

void train_options_default(TrainOptions *o) {
    memset(o, 0, sizeof *o);
    o->ffn_dense = -1; o->sched = -1; o->warmup = -1; o->mtp_lambda = -1; o->mtp = -1;
    o->balance = -1; o->bias_gamma = -1; o->alpha = -1; o->curriculum = -1;
    o->nan_stop = 1; o->samples = 4; o->debug_nan_step = -1; o->zero = -1;
}

// The options that decide the math of every step: saved in trainer_state.json,
// restored on resume, and compared with what the command line asks for.
typedef struct {
    int64_t steps; int batch, seq, accum; double lr; int sched; int64_t warmup;
    double mtp_lambda; int balance; double bias_gamma, alpha; int curriculum; int64_t seed; int ffn_dense;
    double min_frac, decay_frac, weight_decay, clip;
    int zero;   // ZeRO stage asked for (0/1); not math: a resume may change it (same update bits)
} RunOpts;

static cJSON *runopts_to_json(const RunOpts *r) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "steps", (double)r->steps);
    cJSON_AddNumberToObject(j, "batch", r->batch);
    cJSON_AddNumberToObject(j, "seq", r->seq);
    cJSON_AddNumberToObject(j, "accum", r->accum);
    cJSON_AddNumberToObject(j, "lr", r->lr);
    cJSON_AddStringToObject(j, "schedule", schedule_name((SchedKind)r->sched));
    cJSON_AddNumberToObject(j, "warmup", (double)r->warmup);
    cJSON_AddNumberToObject(j, "mtp_lambda", r->mtp_lambda);
    cJSON_AddStringToObject(j, "balance", balance_names[r->balance]);
    cJSON_AddNumberToObject(j, "bias_gamma", r->bias_gamma);
    cJSON_AddNumberToObject(j, "alpha", r->alpha);
    cJSON_AddBoolToObject(j, "curriculum", r->curriculum);
    char seed[24]; snprintf(seed, sizeof seed, "%" PRId64, r->seed);
    cJSON_AddStringToObject(j, "seed", seed);
    cJSON_AddBoolToObject(j, "ffn_dense", r->ffn_dense);
    cJSON_AddNumberToObject(j, "min_frac", r->min_frac);
    cJSON_AddNumberToObject(j, "decay_frac", r->decay_frac);
    cJSON_AddNumberToObject(j, "weight_decay", r->weight_decay);
    cJSON_AddNumberToObject(j, "clip", r->clip);
    cJSON_AddNumberToObject(j, "zero", r->zero);
    return j;
}

static int runopts_from_json(const cJSON *j, RunOpts *r) {
    const char *w = "trainer_state.json options";
    long long v; double d; const char *s; int b;
    TRY(json_int_req(j, "steps", w, &v)); r->steps = v;
    TRY(json_int_req(j, "batch", w, &v)); r->batch = (int)v;
    TRY(json_int_req(j, "seq", w, &v)); r->seq = (int)v;
    TRY(json_int_req(j, "accum", w, &v)); r->accum = (int)v;
    if (r->batch < 1 || r->accum < 1 || r->seq < 1)
        return fail("%s: batch %d, seq %d, accum %d must all be at least 1 (the file is damaged)", w, r->batch, r->seq, r->accum);
    TRY(json_num_req(j, "lr", w, &r->lr));
    TRY(json_str_req(j, "schedule", w, &s));
    SchedKind k; TRY(schedule_parse(s, &k)); r->sched = k;
    TRY(json_int_req(j, "warmup", w, &v)); r->warmup = v;
    TRY(json_num_req(j, "mtp_lambda", w, &r->mtp_lambda));
    TRY(json_str_req(j, "balance", w, &s));
    r->balance = -1;
    for (int i = 0; i < 3; i++) if (!strcmp(s, balance_names[i])) r->balance = i;
    if (r->balance < 0) return fail("%s: unknown balance mode \"%s\"", w, s);
    TRY(json_num_req(j, "bias_gamma", w, &r->bias_gamma));
    TRY(json_num_req(j, "alpha", w, &r->alpha));
    TRY(json_bool_opt(j, "curriculum", w, 0, &b)); r->curriculum = b;
    TRY(json_str_req(j, "seed", w, &s)); r->seed = strtoll(s, NULL, 10);
    TRY(json_bool_opt(j, "ffn_dense", w, 0, &b)); r->ffn_dense = b;
    TRY(json_num_req(j, "min_frac", w, &d)); r->min_frac = d;
    TRY(json_num_req(j, "decay_frac", w, &d)); r->decay_frac = d;
    TRY(json_num_req(j, "weight_decay", w, &d)); r->weight_decay = d;
    TRY(json_num_req(j, "clip", w, &d)); r->clip = d;
    TRY(json_int_opt(j, "zero", w, 0, &v));   // absent before ZeRO-1 existed
    if (v != 0 && v != 1) return fail("%s: \"zero\" is %lld, expected 0 or 1", w, v);
    r->zero = (int)v;
    return 0;
}

// Explicit command-line values must agree with a resumed run.
#define AGREE(cond, name, fmt, there, here) do { if (!(cond)) \
    return fail("--resume %s: the run was started with " name " " fmt ", this command asks for " fmt \
                "; drop the option or start a new run", ck, there, here); } while (0)

// The process counts from 1 to 64 that split a global batch of g rows evenly ("1, 2, 4, 8").
static void world_choices(int64_t g, char *buf, size_t n) {
    size_t w = 0;
    buf[0] = 0;
    for (int p = 1; p <= 64 && p <= g && w + 8 < n; p++)
        if (g % p == 0) w += (size_t)snprintf(buf + w, n - w, "%s%d", w ? ", " : "", p);
}

// Resume with another process count (w_saved -> w): the job's global batch, w x --batch rows,
// stays, so the steps take the same rows of the one shared stream in the same order. --batch
// defaults to global / w; --accum to the smallest count whose micro-batches are no larger than
// the run's (the same size when it divides). Explicit values must keep the global batch.
// note: the line to print (what was chosen).
static int resolve_world(const TrainOptions *o, const RunOpts *saved, int w_saved, int w, RunOpts *r,
                         const char *ck, char *note, size_t nn) {
    int64_t g = (int64_t)w_saved * saved->batch;
    int micro = saved->batch / saved->accum;
    char ok[400];
    world_choices(g, ok, sizeof ok);
    const char *ps = w_saved == 1 ? "" : "es", *pw = w == 1 ? "" : "es";
    if (o->batch) {
        if ((int64_t)w * o->batch != g) {
            if (g % w == 0)
                return fail("--resume %s: the run's global batch is %" PRId64 " rows (%d process%s x --batch %d); with %d process%s "
                            "--batch %d would make it %" PRId64 ": pass --batch %" PRId64 " (or leave --batch out)",
                            ck, g, w_saved, ps, saved->batch, w, pw, o->batch, (int64_t)w * o->batch, g / w);
            return fail("--resume %s: the run's global batch is %" PRId64 " rows (%d process%s x --batch %d), which %d processes "
                        "cannot split evenly (--batch %d gives %" PRId64 "); resume with a process count that divides it: %s",
                        ck, g, w_saved, ps, saved->batch, w, o->batch, (int64_t)w * o->batch, ok);
        }
        r->batch = o->batch;
    } else {
        if (g % w)
            return fail("--resume %s: the run's global batch is %" PRId64 " rows (%d process%s x --batch %d), which %d processes "
                        "cannot split evenly; resume with a process count that divides it: %s", ck, g, w_saved, ps, saved->batch, w, ok);
        if (g / w > 1 << 30) return fail("--resume %s: %" PRId64 " rows per process is too many; use more processes", ck, g / w);
        r->batch = (int)(g / w);
    }
    if (o->accum) r->accum = o->accum;
    else {   // the smallest accumulation whose micro-batches are no larger than the run's
        r->accum = r->batch;
        for (int a = 1; a <= r->batch; a++)
            if (r->batch % a == 0 && r->batch / a <= micro) { r->accum = a; break; }
    }
    if (r->accum < 1 || r->batch % r->accum)
        return fail("--resume %s: --batch %d is not a multiple of --accum %d; pass an --accum that divides it", ck, r->batch, r->accum);
    snprintf(note, nn, "pretrain: note: the run was trained by %d process%s with --batch %d --accum %d, this job has %d: "
             "--batch %d --accum %d per process (the same global batch of %" PRId64 " rows, micro-batches of %d rows), "
             "so the steps take the same rows, but the result is not bit-exact (float sums run in another order)",
             w_saved, ps, saved->batch, saved->accum, w, r->batch, r->accum, g, r->batch / r->accum);
    return 0;
}

// w_saved, w: the run's process count and this job's (another count: resolve_world).
static int resolve_resume(const TrainOptions *o, const RunOpts *saved, int w_saved, int w, RunOpts *r, const char *ck,
                          char *note, size_t nn) {
    *r = *saved;
    note[0] = 0;
    if (o->steps) AGREE(o->steps == saved->steps, "--steps", "%" PRId64, saved->steps, o->steps);
    if (w_saved != w) TRY(resolve_world(o, saved, w_saved, w, r, ck, note, nn));
    else {
        if (o->batch) AGREE(o->batch == saved->batch, "--batch", "%d", saved->batch, o->batch);
        if (o->accum) AGREE(o->accum == saved->accum, "--accum", "%d", saved->accum, o->accum);
    }
    if (o->seq) AGREE(o->seq == saved->seq, "--seq", "%d", saved->seq, o->seq);
    if (o->lr > 0) AGREE(o->lr == saved->lr, "--lr", "%g", saved->lr, o->lr);
    if (o->sched >= 0) AGREE(o->sched == saved->sched, "--schedule", "%s", schedule_name(saved->sched), schedule_name(o->sched));
    if (o->warmup >= 0) AGREE(o->warmup == saved->warmup, "--warmup", "%" PRId64, saved->warmup, o->warmup);
    if (o->balance >= 0) AGREE(o->balance == saved->balance, "--balance", "%s", balance_names[saved->balance], balance_names[o->balance]);
    if (o->bias_gamma >= 0) AGREE(o->bias_gamma == saved->bias_gamma, "--bias-gamma", "%g", saved->bias_gamma, o->bias_gamma);
    if (o->alpha >= 0) AGREE(o->alpha == saved->alpha, "--alpha", "%g", saved->alpha, o->alpha);
    if (o->curriculum >= 0) AGREE(o->curriculum == saved->curriculum, "--curriculum", "%d", saved->curriculum, o->curriculum);
    if (o->has_seed) AGREE(o->seed == saved->seed, "--seed", "%" PRId64, saved->seed, o->seed);
    if (o->ffn_dense >= 0) AGREE(o->ffn_dense == saved->ffn_dense, "--ffn dense", "%d", saved->ffn_dense, o->ffn_dense);
    if (o->zero >= 0) r->zero = o->zero;   // may change: the update has the same bits either way
    double lam = o->mtp == 0 ? 0 : o->mtp_lambda;
    if (lam >= 0) AGREE(lam == saved->mtp_lambda, "--mtp-lambda", "%g", saved->mtp_lambda, lam);
    return 0;
}

static void resolve_fresh(const TrainOptions *o, const Config *c, RunOpts *r) {
    ScaleHparams h;
    scale_hparams(c, &h);
    memset(r, 0, sizeof *r);
    r->batch = o->batch ? o->batch : h.batch;
    r->seq = o->seq ? o->seq : h.seq;
    if (r->seq > c->max_position_embeddings) r->seq = c->max_position_embeddings;
    r->accum = o->accum ? o->accum : 1;
    r->lr = o->lr > 0 ? o->lr : h.lr;
    r->sched = o->sched >= 0 ? o->sched : SCHED_COSINE;
    // horizon: --steps, else decided after timing (--minutes: steps stays 0 here), else the knob's
    r->steps = o->steps ? o->steps : (o->minutes > 0 ? 0 : (int64_t)((double)h.steps * h.batch * h.seq / ((double)r->batch * r->seq)));
    if (!o->steps && o->minutes <= 0 && r->steps < 10) r->steps = 10;
    r->warmup = o->warmup >= 0 ? o->warmup : -1;   // -1: 5% of the horizon once it is known
    r->mtp_lambda = o->mtp == 0 ? 0 : (o->mtp_lambda >= 0 ? o->mtp_lambda : 0.3);
    if (c->num_nextn_predict_layers == 0) r->mtp_lambda = 0;
    r->balance = o->balance >= 0 ? o->balance : BAL_AUX_FREE;
    r->bias_gamma = o->bias_gamma >= 0 ? o->bias_gamma : 0.001;
    r->alpha = o->alpha >= 0 ? o->alpha : (r->balance == BAL_AUX_FREE ? 1e-4 : r->balance == BAL_AUX_LOSS ? 1e-3 : 0);
    if (r->balance == BAL_NONE) { r->bias_gamma = o->bias_gamma >= 0 ? o->bias_gamma : 0; }
    if (r->balance != BAL_AUX_FREE) r->bias_gamma = 0;
    if (r->balance == BAL_NONE) r->alpha = 0;
    r->curriculum = o->curriculum > 0;
    r->seed = o->has_seed ? o->seed : 1234;
    r->ffn_dense = o->ffn_dense > 0;
    r->min_frac = 0.1; r->decay_frac = 0.2; r->weight_decay = 0.1; r->clip = 1.0;
    r->zero = o->zero > 0;
}

static void set_horizon(RunOpts *r, int64_t steps) {
    r->steps = steps < 1 ? 1 : steps;
    if (r->warmup < 0) { r->warmup = r->steps / 20; if (r->warmup > 1000) r->warmup = 1000; }
}

static void curriculum_for(const RunOpts *r, Curriculum *cu) {
    curriculum_default(cu);
    cu->total_steps = r->steps;
    if (!r->curriculum) return;
    if (r->seq >= 128) {   // sequence-length stages T/4 -> T/2 -> T (constant tokens per step)
        cu->n_stages = 3;
        cu->stage_from[0] = 0;    cu->stage_T[0] = r->seq / 4;
        cu->stage_from[1] = 0.25; cu->stage_T[1] = r->seq / 2;
        cu->stage_from[2] = 0.5;  cu->stage_T[2] = r->seq;
    }
    cu->order = CUR_ORDER_EASY_HARD;   // by the documents' curation scores (low = easy)
    cu->c0 = 0.2;
    cu->pace_frac = 0.3;
}

static int compare_configs(const Config *a, const Config *b, const char *what_a, const char *what_b) {
    cJSON *ja = config_to_json(a), *jb = config_to_json(b);
    int rc = 0;
    for (cJSON *e = ja->child; e; e = e->next) {
        cJSON *f = cJSON_GetObjectItemCaseSensitive(jb, e->string);
        if (!f || !cJSON_Compare(e, f, 1)) {
            char *va = cJSON_PrintUnformatted(e), *vb = f ? cJSON_PrintUnformatted(f) : xstrdup("(absent)");
            rc = fail("%s has %s = %s but %s has %s: the resume folder is from a different model config; "
                      "resume without --model/--preset/--depth or start a new run", what_a, e->string, va, what_b, vb);
            free(va); free(vb);
            break;
        }
    }
    cJSON_Delete(ja); cJSON_Delete(jb);
    return rc;
}

// Build the config the command line asks for (fresh run): --model, --preset or --depth.
static int requested_config(const TrainOptions *o, uint32_t data_vocab, Config *c, int *have) {
    int n = (o->model_dir != NULL) + (o->preset != NULL) + (o->depth > 0);
    *have = n > 0;
    if (n > 1) return fail("give only one of --model, --preset, --depth");
    if (o->model_dir) {
        char *p = path_join(o->model_dir, "config.json");
        int rc = config_load(p, c);
        free(p);
        TRY(rc);
    } else if (o->preset) {
        TRY(config_preset(o->preset, c));
        c->vocab_size = (int)data_vocab;   // presets fix the shape; the vocabulary follows the data
    } else if (o->depth > 0) {
        TRY(scale_config(o->depth, (int)data_vocab, c));
    }
    if (n && o->ffn_dense > 0 && !o->model_dir) scale_dense_equivalent(c, c);
    if (n && o->attn_mha && !o->model_dir) c->attn_mha = 1;   // plain multi-head attention, same heads and head dims
    if (o->attn_mha && o->model_dir && !c->attn_mha)
        return fail("--attn mha with --model %s: that model uses MLA; start from --preset/--depth for the ablation", o->model_dir);
    return 0;
}

static double maxvio(const int32_t *load, int E) {
    double mean = 0, mx = 0;
    for (int e = 0; e < E; e++) { mean += load[e]; if (load[e] > mx) mx = load[e]; }
    mean /= E;
    return mean > 0 ? (mx - mean) / mean : 0;
}

// Per-token byte lengths for bits per byte (0 for special tokens, which are not scored).
static int *token_byte_table(const Tokenizer *tok, int V) {
    int *nb = xcalloc((size_t)V, sizeof(int));
    for (int i = 0; i < V; i++) {
        const char *b; size_t n;
        if (tok_token_bytes(tok, i, &b, &n) == 0) nb[i] = (int)n;
    }
    const char *special[] = {TOK_BOS, TOK_EOS, TOK_PAD, TOK_USER, TOK_ASSISTANT, TOK_SYSTEM, TOK_THINK, TOK_THINK_END,
                             TOK_FIM_BEGIN, TOK_FIM_HOLE, TOK_FIM_END};
    for (size_t k = 0; k < sizeof special / sizeof *special; k++) {
        int32_t id = tok_token_id(tok, special[k]);
        if (id >= 0 && id < V) nb[id] = 0;
    }
    return nb;
}

typedef struct { double loss, bpb; } Eval;

// Validation over the first n batches of the val split (rewound each time). Data
// parallel (every rank calls it): the first n*W batches, batch i on rank i % W, sums
// over ranks; the same rows as one process with batch W*B.
static int evaluate(Model *m, Loader *val, const int *tok_bytes, int B, int T, int n, Eval *ev) {
    loader_rewind(val);
    int32_t *x = xmalloc((size_t)B * T * sizeof(int32_t)), *y = xmalloc((size_t)B * T * sizeof(int32_t));
    double nats = 0, bytes = 0, cnt = 0;
    StepOpts so = {0};
    int W = dist_world(), rank = dist_rank();
    for (int i = 0; i < n * W; i++) {
        if (loader_next_batch(val, 0, B, T, x, y, NULL) < 0) { free(x); free(y); return -1; }
        if (i % W != rank) continue;   // another rank's batch
        if (tok_bytes)
            for (int k = 0; k < B * T; k++) {
                if (y[k] < 0) continue;
                if (tok_bytes[y[k]] == 0) y[k] = -1; else bytes += tok_bytes[y[k]];
            }
        StepOut out;
        if (model_step(m, x, y, B, T, &so, &out) < 0) { free(x); free(y); return -1; }
        nats += out.loss * out.n_targets;
        cnt += out.n_targets;
    }
    free(x); free(y);
    if (W > 1) { nats = dist_sum(nats); bytes = dist_sum(bytes); cnt = dist_sum(cnt); }
    ev->loss = cnt ? nats / cnt : NAN;
    ev->bpb = (tok_bytes && bytes > 0) ? nats / (log(2.0) * bytes) : NAN;
    return 0;
}

static void json_num_or_null(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v); else cJSON_AddNullToObject(o, k);
}

// Keep only the metric lines of steps <= step (after a resume from an earlier checkpoint).
static int truncate_metrics(const char *path, int64_t step) {
    if (!io_exists(path)) return 0;
    char *buf; size_t n;
    TRY(io_read_all(path, &buf, &n));
    char *out = xmalloc(n + 1); size_t w = 0;
    for (char *line = buf; line < buf + n;) {
        char *nl = memchr(line, '\n', (size_t)(buf + n - line));
        size_t len = nl ? (size_t)(nl - line) + 1 : (size_t)(buf + n - line);
        const char *s = strstr(line, "\"step\":");
        long long st = s && s < line + len ? strtoll(s + 7, NULL, 10) : 0;
        if (nl && st <= step) { memcpy(out + w, line, len); w += len; }
        line += len;
    }
    int rc = io_write_file(path, out, w);
    free(buf); free(out);
    return rc;
}

typedef struct {
    Model m; int have_model;
    AdamW opt; int have_opt;   // ZeRO-1: the moments of this rank's shard only
    int zero;                  // ZeRO-1 in effect (asked for and more than one rank)
    ZeroPlan zp; int have_zp;
    Loader *train, *val;
    Tokenizer *tok;
    int *tok_bytes;
    FILE *metrics;
    cJSON *state;
    char *ckpt, *tok_path;
    int32_t *x, *y, *load;
    int32_t *xs, *ys;          // data parallel: other ranks' micro-batches, drawn and dropped
} Ctx;

static void ctx_free(Ctx *c) {
    if (c->have_model) model_free(&c->m);
    if (c->have_opt) adamw_free(&c->opt);
    if (c->have_zp) zero_plan_free(&c->zp);
    if (c->train) loader_close(c->train);
    if (c->val) loader_close(c->val);
    if (c->tok) tok_free(c->tok);
    if (c->metrics) fclose(c->metrics);
    cJSON_Delete(c->state);
    free(c->tok_bytes); free(c->ckpt); free(c->tok_path); free(c->x); free(c->y); free(c->load);
    free(c->xs); free(c->ys);
}

static cJSON *make_state(const RunOpts *r, int64_t step, uint64_t tokens, const Rng *rng, const Loader *L,
                         int threads, int64_t skipped, double elapsed) {
    cJSON *s = cJSON_CreateObject();
    cJSON_AddNumberToObject(s, "format_version", 1);
    cJSON_AddNumberToObject(s, "step", (double)step);
    cJSON_AddNumberToObject(s, "tokens", (double)tokens);
    cJSON_AddItemToObject(s, "rng", rng_to_json(rng));
    cJSON_AddItemToObject(s, "loader", loader_cursor_save(L));
    cJSON_AddItemToObject(s, "options", runopts_to_json(r));
    cJSON_AddNumberToObject(s, "threads", threads);
    cJSON_AddNumberToObject(s, "skipped_steps", (double)skipped);
    cJSON_AddNumberToObject(s, "elapsed_s", elapsed);
    cJSON_AddStringToObject(s, "note", "router biases (e_score_correction_bias) are in model.safetensors");
    return s;
}

static uint64_t moments_hash(const float *m, const float *v, size_t n, int64_t t) {
    return XXH3_64bits_withSeed(v, n * sizeof(float), XXH3_64bits(m, n * sizeof(float)) ^ (uint64_t)t);
}

static void hex_array(cJSON *obj, const char *key, const uint64_t *h, int n) {
    cJSON *a = cJSON_AddArrayToObject(obj, key);
    for (int k = 0; k < n; k++) {
        char b[20];
        snprintf(b, sizeof b, "%016" PRIx64, h[k]);
        cJSON_AddItemToArray(a, cJSON_CreateString(b));
    }
}

// ZeRO-1 (collective): rank 0's moments_hash of the whole block (*whole) and of each shard's
// range (shard[world]), from the moments streamed to it window by window in block order, so it
// never holds more than one window of them (zero_gather_window). Other ranks only send.
static int zero_moment_hashes(const Ctx *cx, uint64_t *whole, uint64_t *shard) {
    const ZeroPlan *z = &cx->zp;
    int W = z->world, root = z->rank == 0;
    size_t n = cx->m.n_params, win = zero_window_floats();
    float *buf = root ? xmalloc(win * sizeof(float)) : NULL;            // [win]
    XXH3_state_t **st = xcalloc((size_t)W + 1, sizeof *st);             // [W] shards, [W] the whole block
    uint64_t *hm = xcalloc((size_t)W + 1, sizeof *hm);                  // hashes of the first moments
    for (int q = 0; root && q <= W; q++)
        if (!(st[q] = XXH3_createState())) fatal("out of memory (an XXH3 hash state)");
    int rc = 0;
    for (int which = 0; which < 2 && rc == 0; which++) {
        for (int q = 0; root && q <= W; q++)
            if (which == 0) XXH3_64bits_reset(st[q]);
            else XXH3_64bits_reset_withSeed(st[q], hm[q] ^ (uint64_t)cx->opt.t);
        for (size_t a = 0; a < n && rc == 0; a += win) {
            size_t k = n - a < win ? n - a : win;
            rc = zero_gather_window(&cx->opt, z, which, a, k, buf);
            if (rc < 0 || !root) continue;
            XXH3_64bits_update(st[W], buf, k * sizeof(float));
            for (int q = 0; q < W; q++) {   // the part of the window in shard q
                size_t lo = z->bounds[q] > a ? z->bounds[q] : a, hi = z->bounds[q + 1] < a + k ? z->bounds[q + 1] : a + k;
                if (lo < hi) XXH3_64bits_update(st[q], buf + (lo - a), (hi - lo) * sizeof(float));
            }
        }
        for (int q = 0; root && q <= W; q++) {
            uint64_t h = XXH3_64bits_digest(st[q]);
            if (which == 0) hm[q] = h;
            else if (q == W) *whole = h;
            else shard[q] = h;
        }
    }
    for (int q = 0; root && q <= W; q++) XXH3_freeState(st[q]);
    free(st); free(hm); free(buf);
    return rc;
}

// Data parallel: every rank hashes its weights and AdamW moments; all ranks compare
// (collective, so every rank calls it). Replicas that differ mean a broken run
// (a non-deterministic all-reduce, a rank that skipped an update): fail on every
// rank. *rep (world > 1 only): the hashes for trainer_state.json.
// ZeRO-1: the weights are compared as above; each rank hashes its moment shard, and
// rank 0 checks every shard hash against the same range of the moments streamed to it
// (zero_moment_hashes: the gather checkpoints use) and records the hash of all of them (the
// same definition as an unsharded rank's, so runs with and without --zero 1 can be compared).
static int check_replicas(const Ctx *cx, int64_t step, cJSON **rep) {
    *rep = NULL;
    int W = dist_world();
    if (W == 1) return 0;
    uint64_t hw = XXH3_64bits(cx->m.params, cx->m.n_params * sizeof(float));
    uint64_t ho = moments_hash(cx->opt.m, cx->opt.v, cx->opt.n, cx->opt.t);
    uint64_t *all = xmalloc(2 * (size_t)W * sizeof(uint64_t));   // [2][W]: weights, optimizer (ZeRO-1: shard)
    int rc = 0;
    if (dist_allgather_u64(hw, all) < 0 || dist_allgather_u64(ho, all + W) < 0) rc = -1;
    for (int k = 1; k < W && rc == 0; k++)
        if (all[k] != all[0] || (!cx->zero && all[W + k] != all[W]))
            rc = fail("data parallel: at step %" PRId64 " rank %d's %s differ from rank 0's (hash %016" PRIx64 " vs %016" PRIx64
                      "): the replicas diverged, so the run is not data parallel any more; report this with the command line "
                      "and the MPI library", step, k, all[k] != all[0] ? "weights" : "AdamW moments",
                      all[k] != all[0] ? all[k] : all[W + k], all[k] != all[0] ? all[0] : all[W]);
    uint64_t hfull = 0;
    if (cx->zero && rc == 0) {
        uint64_t *hs = xcalloc((size_t)W, sizeof(uint64_t));   // [W] rank 0: each shard's range as streamed
        rc = zero_moment_hashes(cx, &hfull, hs);
        int bad = 0;
        for (int k = 0; k < W && bad == 0 && rc == 0 && dist_rank() == 0; k++)
            if (hs[k] != all[W + k]) bad = k + 1;
        free(hs);
        int who = rc == 0 ? (int)dist_sum(bad) : 0;   // every rank learns rank 0's verdict
        if (who > 0)
            rc = fail("ZeRO-1: at step %" PRId64 " the AdamW moments rank 0 gathered for rank %d's shard differ from what "
                      "rank %d holds: the gather is broken; report this with the command line and the MPI library",
                      step, who - 1, who - 1);
    }
    if (rc == 0) {
        *rep = cJSON_CreateObject();
        hex_array(*rep, "weights_xxh3", all, W);
        if (cx->zero) {
            hex_array(*rep, "optimizer_xxh3", &hfull, 1);
            hex_array(*rep, "optimizer_shard_xxh3", all + W, W);
        } else hex_array(*rep, "optimizer_xxh3", all + W, W);
    }
    free(all);
    return rc;
}

static int fetch_moments(void *ctx, int which, size_t lo, size_t n, float *dst) {
    const Ctx *cx = ctx;
    return zero_gather_window(&cx->opt, &cx->zp, which, lo, n, dst);
}

// Rank 0 writes the checkpoint. ZeRO-1: every rank calls, and the moments are streamed to rank 0
// window by window as it writes optimizer.safetensors (no rank holds them whole).
static int save(Ctx *cx, const TrainOptions *o, const RunOpts *r, int64_t step, uint64_t tokens, const Rng *rng,
                int threads, int64_t skipped, double elapsed, int keep, cJSON *replicas) {
    int root = dist_rank() == 0;
    MomentStream ms = {fetch_moments, cx, zero_window_floats(), cx->opt.t};
    if (!root) return cx->zero ? checkpoint_save_stream(o->out_dir, step, &cx->m, &ms, 0, NULL, NULL, 0, 0) : 0;
    cJSON *st = make_state(r, step, tokens, rng, cx->train, threads, skipped, elapsed);
    cJSON_AddNumberToObject(st, "world", dist_world());   // processes (each with --batch rows): global batch world x batch
    if (replicas) cJSON_AddItemReferenceToObject(st, "replicas", replicas);
    if (cx->zero) {   // shard boundaries (floats into the parameter block), for the record
        cJSON *b = cJSON_AddArrayToObject(st, "zero_shard_bounds");
        for (int q = 0; q <= cx->zp.world; q++) cJSON_AddItemToArray(b, cJSON_CreateNumber((double)cx->zp.bounds[q]));
    }
    const char *extra[1] = {cx->tok_path};
    int rc = cx->zero ? checkpoint_save_stream(o->out_dir, step, &cx->m, &ms, 1, st, extra, cx->tok_path ? 1 : 0, keep)
                      : checkpoint_save(o->out_dir, step, &cx->m, &cx->opt, st, extra, cx->tok_path ? 1 : 0, keep);
    cJSON_Delete(st);
    return rc;
}

int trainer_run(const TrainOptions *o, TrainResult *res) {
    memset(res, 0, sizeof *res);
    res->last_loss = res->val_loss = res->val_bpb = NAN;
    if (!o->data_dir) return fail("--data is required: a folder of token shards made by `deepc tokenize`");
    if (!o->out_dir) return fail("--out is required: the run folder for checkpoints and metrics");
    if (!io_is_dir(o->data_dir)) return fail("--data %s is not a folder (expected token shards from `deepc tokenize`)", o->data_dir);
    if (o->fim_rate < 0 || o->fim_rate > 1) return fail("--fim-rate %g must be in [0, 1]", o->fim_rate);
    if (o->threads > 0) { omp_set_num_threads(o->threads); openblas_set_num_threads(o->threads); }
    int threads = omp_get_max_threads();
    double t_begin = now_seconds();
    int root = dist_rank() == 0;

    Ctx cx = {0};
    int rc = -1;
    RunOpts r;
    int64_t step = 0;
    uint64_t tokens_done = 0;
    int64_t skipped = 0;
    Rng rng;
    double elapsed_before = 0;

    // ---- data first: its vocabulary decides fresh models
    LoaderConfig lc;
    loader_config_default(&lc, o->data_dir);
    lc.split = "train";
    // (the curriculum and seed are set below once the options are known; open a probe to read the vocab)
    Loader *probe = NULL;
    if (loader_open(&probe, &lc) < 0) { fail_ctx("--data %s", o->data_dir); goto out; }
    uint32_t data_vocab = loader_vocab_size(probe);
    uint64_t data_fp = loader_fingerprint(probe), data_tokens = loader_num_tokens(probe);
    loader_close(probe);
    if (data_tokens == 0) { fail("--data %s holds no training tokens (train_*.bin shards are empty)", o->data_dir); goto out; }

    // ---- model, options
    Config want; int have_want = 0;
    if (requested_config(o, data_vocab, &want, &have_want) < 0) goto out;
    if (o->resume) {
        cx.ckpt = checkpoint_latest(o->resume);
        if (!cx.ckpt) goto out;
        if (model_load(cx.ckpt, &cx.m) < 0) { fail_ctx("--resume %s", cx.ckpt); goto out; }
        cx.have_model = 1;
        if (have_want && compare_configs(&cx.m.c, &want, cx.ckpt, o->model_dir ? o->model_dir : o->preset ? "--preset" : "--depth") < 0) goto out;
        if (checkpoint_load_state(cx.ckpt, &cx.state) < 0) goto out;
        RunOpts saved;
        const cJSON *oj = cJSON_GetObjectItemCaseSensitive(cx.state, "options");
        if (!oj || runopts_from_json(oj, &saved) < 0) { fail_ctx("%s/trainer_state.json", cx.ckpt); goto out; }
        long long v;
        if (json_int_opt(cx.state, "world", "trainer_state.json", 1, &v) < 0) goto out;
        if (v < 1 || v > 1 << 20) { fail("%s/trainer_state.json: \"world\" is %lld, expected a process count", cx.ckpt, v); goto out; }
        char note[512];
        if (resolve_resume(o, &saved, (int)v, dist_world(), &r, cx.ckpt, note, sizeof note) < 0) goto out;
        if (root && note[0]) fprintf(stderr, "%s\n", note);
        if (json_int_req(cx.state, "step", "trainer_state.json", &v) < 0) goto out;
        step = v;
        if (json_int_req(cx.state, "tokens", "trainer_state.json", &v) < 0) goto out;
        tokens_done = (uint64_t)v;
        if (json_int_opt(cx.state, "skipped_steps", "trainer_state.json", 0, &v) < 0) goto out;
        skipped = v;
        double d;
        if (json_num_opt(cx.state, "elapsed_s", "trainer_state.json", 0, &d) < 0) goto out;
        elapsed_before = d;
        if (rng_from_json(cJSON_GetObjectItemCaseSensitive(cx.state, "rng"), &rng) < 0) { fail_ctx("%s/trainer_state.json", cx.ckpt); goto out; }
        long long th;
        if (json_int_opt(cx.state, "threads", "trainer_state.json", threads, &th) == 0 && th != threads)
            fprintf(stderr, "deepc: warning: the run used %lld threads, now %d: floating-point sums may differ, so "
                            "resume is not bit-exact (use --threads %lld)\n", th, threads, th);
    } else {
        if (!have_want) { fail("give the model: --model DIR, --preset NAME (%s) or --depth N", config_preset_names()); goto out; }
        if (model_create(&want, &cx.m) < 0) goto out;
        cx.have_model = 1;
        if (o->model_dir) {
            model_free(&cx.m); cx.have_model = 0;
            if (model_load(o->model_dir, &cx.m) < 0) goto out;
            cx.have_model = 1;
        }
        resolve_fresh(o, &cx.m.c, &r);
        if (!o->model_dir) model_init_random(&cx.m, (uint64_t)r.seed, 0.006f);
        rng_seed(&rng, (uint64_t)r.seed ^ 0x5eed5eedULL);
    }
    if (r.steps > 0) set_horizon(&r, r.steps);
    const Config *c = &cx.m.c;
    if ((uint32_t)c->vocab_size != data_vocab) {
        fail("the shards in %s use a vocabulary of %u tokens but the model has %d: they were made with another "
             "tokenizer; retokenize with the model's tokenizer or train a model for this vocabulary (--depth/--preset)",
             o->data_dir, data_vocab, c->vocab_size);
        goto out;
    }
    if (r.batch % r.accum) { fail("--batch %d is not a multiple of --accum %d", r.batch, r.accum); goto out; }
    if (r.seq < 2) { fail("--seq %d is too short", r.seq); goto out; }

    // --minutes without --steps: time two throw-away steps on random tokens (no update,
    // the loader untouched) and fix the horizon before the first real step
    model_alloc_grads(&cx.m);
    int replan = r.steps <= 0;   // the horizon comes from --minutes
    if (r.steps <= 0) {
        int B = r.batch / r.accum, T = r.seq, V = cx.m.c.vocab_size;
        int32_t *tx = xmalloc(sizeof(int32_t) * (size_t)B * T), *ty = xmalloc(sizeof(int32_t) * (size_t)B * T);
        Rng tr; rng_seed(&tr, (uint64_t)r.seed + 17);
        for (int i = 0; i < B * T; i++) { tx[i] = (int32_t)rng_below(&tr, (uint64_t)V); ty[i] = (int32_t)rng_below(&tr, (uint64_t)V); }
        StepOpts so = {.compute_grads = 1, .mtp_lambda = (float)r.mtp_lambda, .balance_alpha = (float)r.alpha};
        StepOut sout;
        double per = 0;
        for (int k = 0; k < 2; k++) {
            double t0 = now_seconds();
            if (model_step(&cx.m, tx, ty, B, T, &so, &sout) < 0) { free(tx); free(ty); goto out; }
            per = (now_seconds() - t0) * r.accum;
        }
        free(tx); free(ty);
        model_zero_grads(&cx.m);
        per = dist_sum(per) / dist_world() * 1.12;   // + optimizer, evaluations, checkpoints; same on every rank
        double left = o->minutes * 60.0 - (now_seconds() - t_begin) - 15.0;
        set_horizon(&r, (int64_t)(left / per));
        if (root) fprintf(stderr, "pretrain: about %.2f s per step: training for %" PRId64 " steps to fit %g minutes\n", per, r.steps, o->minutes);
    }

    // tokenizer (optional): bits per byte, samples, copied into checkpoints
    if (o->tokenizer) cx.tok_path = xstrdup(o->tokenizer);
    else {
        char *p = path_join(o->data_dir, "tokenizer.json");
        if (io_exists(p)) cx.tok_path = p; else free(p);
    }
    if (cx.tok_path) {
        if (tok_load(cx.tok_path, &cx.tok) < 0) { fail_ctx("--tokenizer %s", cx.tok_path); goto out; }
        uint64_t fp;
        if (data_fp && shard_tokenizer_fingerprint(cx.tok_path, &fp) == 0 && fp != data_fp) {
            fail("the shards in %s were made with a different tokenizer than %s (fingerprints %016" PRIx64 " vs %016" PRIx64 ")",
                 o->data_dir, cx.tok_path, data_fp, fp);
            goto out;
        }
        if (tok_vocab_size(cx.tok) > c->vocab_size) {
            fail("tokenizer %s has %d tokens, more than the model's vocabulary %d", cx.tok_path, tok_vocab_size(cx.tok), c->vocab_size);
            goto out;
        }
        cx.tok_bytes = token_byte_table(cx.tok, c->vocab_size);
    }

    // loaders
    Curriculum cu;
    curriculum_for(&r, &cu);
    loader_config_default(&lc, o->data_dir);
    lc.split = "train";
    lc.seed = (uint64_t)r.seed;
    lc.expect_vocab = data_vocab;
    lc.curriculum = cu;
    // data parallel: every rank reads the same global stream of rows (rank 0 of 1) and keeps its
    // own micro-batches of it (see the step loop), so N ranks with --batch B follow the trajectory
    // of one process with --batch N*B --accum N, and one loader cursor restores every rank.
    if (loader_open(&cx.train, &lc) < 0) goto out;
    if (cx.state) {
        const cJSON *cur = cJSON_GetObjectItemCaseSensitive(cx.state, "loader");
        if (!cur || loader_cursor_restore(cx.train, cur) < 0) { fail_ctx("%s: loader cursor", cx.ckpt); goto out; }
    }
    LoaderConfig vc;
    loader_config_default(&vc, o->data_dir);
    vc.split = "val";
    vc.seed = 1;
    vc.expect_vocab = data_vocab;
    if (loader_open(&cx.val, &vc) < 0) {   // validation: every rank (its share); metrics, checkpoints, samples: rank 0
        if (root) fprintf(stderr, "deepc: note: no validation split in %s (%s): validation is skipped\n", o->data_dir, last_error());
        cx.val = NULL;
    }

    // optimizer
    cx.zero = r.zero && dist_world() > 1;   // one process: --zero 1 is --zero 0
    if (cx.zero) {
        zero_plan(&cx.m, &cx.zp);
        cx.have_zp = 1;
        adamw_init_range(&cx.opt, cx.zp.bounds[cx.zp.rank], cx.zp.bounds[cx.zp.rank + 1]);
    } else adamw_init(&cx.opt, cx.m.n_params);
    cx.have_opt = 1;
    if (cx.ckpt && checkpoint_load_optimizer(cx.ckpt, &cx.m, &cx.opt) < 0) goto out;
    AdamWConfig ac;
    adamw_config_default(&ac);
    ac.weight_decay = r.weight_decay; ac.clip = r.clip;

    // metrics file
    if (io_mkdir_p(o->out_dir) < 0) goto out;
    char *mpath = path_join(o->out_dir, "metrics.jsonl");
    if (!root) { free(mpath); mpath = xstrdup("/dev/null"); }
    else if (cx.state) truncate_metrics(mpath, step);
    else if (io_exists(mpath)) { fail("%s already has metrics.jsonl: use --resume %s to continue it, or a new --out folder", o->out_dir, o->out_dir); free(mpath); goto out; }
    cx.metrics = fopen(mpath, "a");
    free(mpath);
    if (!cx.metrics) { fail("cannot open %s/metrics.jsonl for writing", o->out_dir); goto out; }

    model_param_counts(c, &res->params_total, &res->params_active);
    double peak = flops_sgemm_peak();
    res->sgemm_peak = peak;
    int NL = cx.m.n_layers_total, E = c->n_routed_experts;
    int bias_rule = r.balance == BAL_AUX_FREE && c->topk_method == TOPK_NOAUX_TC && E > 0;
    if (root) fprintf(stderr, "pretrain: %s%s, %zu parameters (%zu active), data %" PRIu64 " tokens, vocab %u\n",
            c->n_routed_experts ? "MLA + MoE" : "MLA + dense FFN", r.ffn_dense ? " (dense ablation)" : "",
            res->params_total, res->params_active, data_tokens, data_vocab);
    if (root) fprintf(stderr, "pretrain: batch %d x %d tokens (accum %d), lr %g %s, balance %s, mtp lambda %g, "
                    "curriculum %s, %d threads, sgemm peak %.1f GFLOP/s (%s)%s\n",
            r.batch, r.seq, r.accum, r.lr, schedule_name(r.sched), balance_names[r.balance], r.mtp_lambda,
            r.curriculum ? "on" : "off", threads, peak / 1e9,
            gemm_own_active() ? "deepc's AVX-512 GEMM; DEEPC_GEMM=openblas for OpenBLAS" : "OpenBLAS",
            cx.state ? ", resumed" : "");
    {   // every rank's AdamW moment bytes (ZeRO-1: its shard's)
        uint64_t mine = (uint64_t)cx.opt.n * 2 * sizeof(float), *all = xmalloc((size_t)dist_world() * sizeof(uint64_t));
        if (dist_allgather_u64(mine, all) < 0) { free(all); goto out; }
        if (root) {
            fprintf(stderr, "pretrain: optimizer state bytes per rank:");
            for (int q = 0; q < dist_world(); q++) fprintf(stderr, " %" PRIu64, all[q]);
            fprintf(stderr, " (%s; the whole block's moments are %zu bytes)\n",
                    cx.zero ? "ZeRO-1: each rank holds its shard" : dist_world() > 1 ? "every rank holds all of them" : "one process",
                    cx.m.n_params * 2 * sizeof(float));
        }
        free(all);
    }
    if (r.balance == BAL_AUX_FREE && !bias_rule && E > 0)
        fprintf(stderr, "pretrain: note: the model's router has no correction bias (topk_method is not noaux_tc): no bias updates\n");
    if (o->fim_rate > 0)
        fprintf(stderr, "pretrain: note: FIM is applied when tokenizing; --fim-rate here is recorded only\n");

    size_t cap = (size_t)r.batch * (size_t)r.seq * 4;   // curriculum stages keep B·T constant
    cx.x = xmalloc(cap * sizeof(int32_t));
    cx.y = xmalloc(cap * sizeof(int32_t));
    cx.load = xcalloc((size_t)NL * (E > 0 ? E : 1), sizeof(int32_t));
    int W = dist_world(), rank = dist_rank();
    if (W > 1) { cx.xs = xmalloc(cap * sizeof(int32_t)); cx.ys = xmalloc(cap * sizeof(int32_t)); }

    Progress pg;
    progress_start(&pg, "pretrain", (double)r.steps, "steps");
    pg.quiet = o->quiet || !root;
    progress_update(&pg, (double)step);
    double t_start = now_seconds(), tok_time = 0; uint64_t tok_count = 0;
    // --minutes: wall time and step of the horizon checks so far (the timing window reaches back to one of them)
    enum { NCHECK = 64 };
    double t_check[NCHECK]; int64_t s_check[NCHECK]; int ncheck = 0;
    int64_t first_step = step, consecutive_skips = 0;
    int eval_every = o->eval_every > 0 ? o->eval_every : 100, eval_batches = o->eval_batches > 0 ? o->eval_batches : 4;
    int save_every = o->save_every > 0 ? o->save_every : 500, keep = o->keep > 0 ? o->keep : 3;
    double flops_tok = flops_per_token(c, r.seq);

    while (step < r.steps) {
        if (o->stop_after > 0 && step - first_step >= o->stop_after) break;
        double t0 = now_seconds();
        int T = curriculum_seq_len(&cu, step, r.seq);
        int B = r.batch * r.seq / T;                  // constant tokens per step
        int Bm = B / r.accum; if (Bm < 1) Bm = 1;
        double lr = schedule_lr(&(Schedule){(SchedKind)r.sched, r.lr, r.min_frac, r.warmup, r.steps ? r.steps : 1000000, r.decay_frac}, step);
        double lam = schedule_mtp_lambda(r.mtp_lambda, step, r.steps);
        double gamma = schedule_bias_gamma(r.bias_gamma, step, r.steps);
        StepOpts so = {.compute_grads = 1, .mtp_lambda = (float)lam, .balance_alpha = (float)r.alpha, .logits = NULL};
        model_zero_grads(&cx.m);
        memset(cx.load, 0, (size_t)NL * (E > 0 ? E : 1) * sizeof(int32_t));
        double loss = 0, mtp = 0, bal = 0; int bad = 0; int64_t ntok = 0;
        for (int a = 0; a < r.accum; a++) {
            // data parallel: the job's micro-batch a*W + q goes to rank q; each rank draws all W of them
            // from the shared stream in that order and keeps its own (the others' are dropped)
            for (int q = 0; q < W; q++)
                if (loader_next_batch(cx.train, step, Bm, T, q == rank ? cx.x : cx.xs, q == rank ? cx.y : cx.ys, NULL) < 0)
                    goto out_pg;
            StepOut so_out;
            if (model_step(&cx.m, cx.x, cx.y, Bm, T, &so, &so_out) < 0) goto out_pg;
            if (!isfinite(so_out.total)) bad = 1;
            loss += so_out.loss / r.accum; mtp += so_out.mtp_loss / r.accum; bal += so_out.balance_loss / r.accum;
            ntok += (int64_t)Bm * T;
            if (E > 0 && so_out.expert_load)
                for (int i = 0; i < NL * E; i++) cx.load[i] += so_out.expert_load[i];
        }
        double comm0 = dist_comm_seconds();
        if (cx.zero ? zero_reduce_scatter_grads(&cx.m, &cx.zp, cx.load, NL * (E > 0 ? E : 0)) < 0
                    : dist_allreduce_grads(&cx.m, cx.load, NL * (E > 0 ? E : 0)) < 0) goto out_pg;
        if (dist_world() > 1) {   // logged losses: mean over ranks
            loss = dist_sum(loss) / dist_world(); mtp = dist_sum(mtp) / dist_world(); bal = dist_sum(bal) / dist_world();
            if (dist_sum(bad) > 0) bad = bad ? bad : 1;   // every rank skips or stops together
        }
        // test hook; ZeRO-1: only the last rank's shard, so the others must learn it from the norm
        if (o->debug_nan_step >= 0 && step == o->debug_nan_step && (!cx.zero || rank == W - 1)) cx.m.grads[cx.opt.lo] = NAN;
        double gnorm = NAN;
        if (!bad) {
            if (cx.zero) { if (zero_adamw_step(&cx.opt, &cx.m, &cx.zp, &ac, lr, 1.0 / r.accum, &gnorm) < 0) goto out_pg; }
            else gnorm = adamw_step(&cx.opt, &cx.m, &ac, lr, 1.0 / r.accum);
            if (!isfinite(gnorm)) bad = 2;
        }
        double comm = dist_comm_seconds() - comm0;
        if (bad) {
            const char *what = bad == 1 ? "the loss" : "the gradient norm";
            if (o->nan_stop) {
                char *last = checkpoint_latest(o->out_dir);
                fail("%s is NaN/Inf at step %" PRId64 " (loss %g, grad norm %g): training stopped, nothing was updated; "
                     "last checkpoint: %s; lower --lr, or use --nan skip to skip such steps",
                     what, step, loss, gnorm, last ? last : "(none)");
                free(last);
                goto out_pg;
            }
            skipped++; consecutive_skips++;
            fprintf(stderr, "\npretrain: warning: %s is NaN/Inf at step %" PRId64 ": step skipped (no update)\n", what, step);
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "step", (double)step + 1);
            cJSON_AddStringToObject(j, "skipped", bad == 1 ? "nan loss" : "nan grad");
            char *s = cJSON_PrintUnformatted(j);
            fprintf(cx.metrics, "%s\n", s);
            free(s); cJSON_Delete(j);
            if (consecutive_skips >= 20) {
                fail("20 steps in a row had NaN/Inf at step %" PRId64 ": stopping; lower --lr or check the data", step);
                goto out_pg;
            }
        } else {
            consecutive_skips = 0;
            if (bias_rule && gamma > 0) model_update_router_bias(&cx.m, cx.load, (float)gamma);
        }
        step++;
        tokens_done += (uint64_t)ntok * (uint64_t)dist_world();   // the whole job's tokens
        double dt = now_seconds() - t0;
        if (step - first_step > 1) { tok_time += dt; tok_count += (uint64_t)ntok; }   // first step warms up
        double tps = ntok / dt, mfu = tps * flops_per_token(c, T) / peak;   // this rank's
        double tps_all = tps * dist_world();                                   // the whole job's
        res->last_loss = loss;


        // --minutes: check the horizon against 10 real steps, then every 50 steps against the wall
        // time of the last max(100, eval_every) steps or more (evaluations and checkpoints included): load on a
        // shared machine changes. The window holds whole evaluation intervals: a 50-step window with an
        // evaluation in every other one swung the speedrun's horizon between 1272 and 1543 steps. The
        // warm-up stays; the decay stretches or shrinks to end inside the budget.
        int64_t done = step - first_step;
        if (replan && (done == 10 || (done > 10 && done % 50 == 0))) {
            double per = tok_time / (double)(done - 1) * 1.05;
            int64_t span = eval_every > 100 ? eval_every : 100;
            if (done > 10 && ncheck > 0) {
                int k = ncheck - 1;                     // the latest check at least `span` steps back, else the oldest
                while (k > 0 && step - s_check[k] < span) k--;
                per = (now_seconds() - t_check[k]) / (double)(step - s_check[k]);
            }
            per = dist_sum(per) / dist_world();   // the same horizon on every rank
            double left = o->minutes * 60.0 - (now_seconds() - t_begin) - 15.0;
            int64_t total = step + (int64_t)(left / per);
            if (total < step + 1) total = step + 1;
            if (root && (done == 10 ? total != r.steps : llabs(total - r.steps) * 50 > r.steps))   // say changes > 2%
                fprintf(stderr, "\npretrain: %.2f s per step measured: %" PRId64 " steps instead of %" PRId64 " to fit %g minutes\n",
                        per, total, r.steps, o->minutes);
            r.steps = total;
            cu.total_steps = total;
            pg.total = (double)total;
            if (ncheck == NCHECK) {                    // keep the newest: drop the oldest
                memmove(t_check, t_check + 1, sizeof(double) * (NCHECK - 1));
                memmove(s_check, s_check + 1, sizeof(int64_t) * (NCHECK - 1));
                ncheck--;
            }
            t_check[ncheck] = now_seconds();
            s_check[ncheck++] = step;
        }
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "step", (double)step);
        json_num_or_null(j, "loss", loss);
        json_num_or_null(j, "mtp_loss", mtp);
        json_num_or_null(j, "balance_loss", bal);
        json_num_or_null(j, "grad_norm", gnorm);
        cJSON_AddNumberToObject(j, "lr", lr);
        cJSON_AddNumberToObject(j, "mtp_lambda", lam);
        cJSON_AddNumberToObject(j, "seq", T);
        cJSON_AddNumberToObject(j, "tokens", (double)tokens_done);
        cJSON_AddNumberToObject(j, "tok_per_s", round(tps_all));
        cJSON_AddNumberToObject(j, "mfu", round(mfu * 1e4) / 1e4);
        cJSON_AddNumberToObject(j, "time_s", round((elapsed_before + now_seconds() - t_start) * 100) / 100);
        if (W > 1) cJSON_AddNumberToObject(j, "comm_s", round(comm * 1e5) / 1e5);   // in collectives, waits included
        if (E > 0) {
            cJSON *mv = cJSON_CreateArray();
            for (int l = 0; l < NL; l++)
                if (config_is_moe_layer(c, l))
                    cJSON_AddItemToArray(mv, cJSON_CreateNumber(round(maxvio(cx.load + (size_t)l * E, E) * 1e4) / 1e4));
            cJSON_AddItemToObject(j, "maxvio", mv);
            // routing fingerprint: every expert's token count of the step (all ranks); two runs that routed every
            // token alike have equal values (maxvio misses a token moving between two experts below the maximum)
            char lh[24];
            snprintf(lh, sizeof lh, "%016" PRIx64, (uint64_t)XXH3_64bits(cx.load, (size_t)NL * E * sizeof(int32_t)));
            cJSON_AddStringToObject(j, "load_xxh", lh);
        }
        int last = r.steps > 0 && step >= r.steps;
        if (cx.val && (step % eval_every == 0 || last)) {
            Eval ev;
            if (evaluate(&cx.m, cx.val, cx.tok_bytes, r.batch, r.seq, eval_batches, &ev) < 0) goto out_pg;
            json_num_or_null(j, "val_loss", ev.loss);
            json_num_or_null(j, "val_bpb", ev.bpb);
            res->val_loss = ev.loss; res->val_bpb = ev.bpb;
            if (root && (!pg.tty || o->quiet))
                fprintf(stderr, "pretrain: step %" PRId64 " val loss %.4f, %.4f bits per byte\n", step, ev.loss, ev.bpb);
        }
        char *s = cJSON_PrintUnformatted(j);
        fprintf(cx.metrics, "%s\n", s);
        fflush(cx.metrics);
        free(s); cJSON_Delete(j);
        progress_update(&pg, (double)step);
        if (root && !pg.tty && !o->quiet && (step % 10 == 0 || last))
            fprintf(stderr, "pretrain: step %" PRId64 "/%" PRId64 " loss %.4f lr %.2e grad norm %.3f %.0f tok/s mfu %.1f%%\n",
                    step, r.steps, loss, lr, gnorm, tps_all, 100 * mfu);
        int stopping = o->stop_after > 0 && step - first_step >= o->stop_after;
        if (step % save_every == 0 || last || stopping) {   // the same steps on every rank
            cJSON *rep;
            if (check_replicas(&cx, step, &rep) < 0) goto out_pg;
            int src = save(&cx, o, &r, step, tokens_done, &rng, threads, skipped, elapsed_before + now_seconds() - t_start, keep, rep);
            cJSON_Delete(rep);
            if (W > 1 && dist_sum(src < 0) > 0) {   // rank 0 could not write it (or a fetch failed): every rank stops
                if (!root && src == 0) fail("rank 0 could not write the checkpoint for step %" PRId64 " (its message says why)", step);
                goto out_pg;
            }
            if (src < 0) goto out_pg;
        }
    }
    progress_end(&pg);
    res->steps_done = step;
    res->total_steps = r.steps;
    res->skipped = skipped;
    res->tok_per_s = tok_time > 0 ? tok_count / tok_time : 0;   // this rank's
    res->mfu = res->tok_per_s * flops_tok / peak;
    res->tok_per_s *= dist_world();                                // the whole job's

    if (root && o->samples > 0 && cx.tok && r.steps > 0 && step >= r.steps) {
        char *sp = path_join(o->out_dir, "samples.md");
        if (sample_write_report(&cx.m, cx.tok, sp, o->samples, (uint64_t)r.seed) < 0)
            fprintf(stderr, "deepc: warning: samples not written: %s\n", last_error());
        free(sp);
    }
    if (root && r.steps > 0 && step >= r.steps && report_write_run(o->out_dir, "Pre-training run") < 0)
        fprintf(stderr, "deepc: warning: report.md not written: %s\n", last_error());
    rc = 0;
    goto out;
out_pg:
    progress_end(&pg);
out:
    ctx_free(&cx);
    return rc;
}
