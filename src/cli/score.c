// score.c — `deepc score`: per-token log-probabilities and perplexity as JSON lines, with the
// training forward (model/) or the inference engine (infer/: any weight format, any KV-cache format),
// over text, token ids or a token shard, in windows of the model's training context.
#include "base/args.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include "base/progress.h"
#include "cli/cli.h"
#include "data/shard.h"
#include "data/tokenizer.h"
#include "infer/engine.h"
#include "infer/weights.h"
#include "model/model.h"
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Ids from a JSON array text.
static int parse_ids(const char *s, int32_t **ids, int *n) {
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(s, &end, 1);   // 1: nothing but white space may follow the array
    if (!j) return fail("--tokens: malformed JSON at byte %zu (expected an array like [0, 17, 42])",
                        end && end >= s ? (size_t)(end - s) : 0);
    if (!cJSON_IsArray(j)) { cJSON_Delete(j); return fail("--tokens: expected a JSON array of token ids"); }
    int k = cJSON_GetArraySize(j);
    *ids = xmalloc(sizeof(int32_t) * (k ? k : 1));
    *n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 ||
            e->valuedouble > 2147483647.0) {
            cJSON_Delete(j); free(*ids);
            return fail("--tokens: element %d is not a non-negative 32-bit integer", *n);
        }
        (*ids)[(*n)++] = (int32_t)e->valuedouble;
    }
    cJSON_Delete(j);
    return 0;
}

// The first max_tokens (0 = all) tokens of a shard, documents back to back as the trainer reads them.
static int read_shard(const char *path, long max_tokens, int32_t **ids, int *n) {
    Shard sh;
    TRY(shard_open(&sh, path, 0, 0));
    uint64_t k = sh.n_tokens;
    if (max_tokens > 0 && (uint64_t)max_tokens < k) k = (uint64_t)max_tokens;
    if (k > 0x7fffffff) { shard_close(&sh); return fail("%s: %llu tokens are too many to score at once (use --max-tokens)",
                                                        path, (unsigned long long)k); }
    *ids = xmalloc(sizeof(int32_t) * (k ? k : 1));
    for (uint64_t i = 0; i < k; i++) (*ids)[i] = (int32_t)shard_token(&sh, i);
    *n = (int)k;
    shard_close(&sh);
    return 0;
}

// log softmax(l)[t] in double (max-subtracted log-sum-exp).
static double log_prob(const float *l, int V, int t) {
    float mx = l[0];
    for (int i = 1; i < V; i++) if (l[i] > mx) mx = l[i];
    double s = 0;
    for (int i = 0; i < V; i++) s += exp((double)l[i] - mx);
    return (double)l[t] - mx - log(s);
}

typedef struct {
    int infer;             // 1: inference engine, 0: training forward
    Model tm;              // training model (infer == 0)
    InferModel im;         // inference model (infer == 1)
    Engine e;
    int chunk;             // infer: tokens per engine_forward within a window (0: the whole window at once)
} Scorer;

// Logits [n, V] of n tokens scored from position 0 (a fresh cache per window).
static int window_logits(Scorer *sc, const int32_t *ids, int n, float *logits) {
    if (!sc->infer) {
        int32_t *tgt = xmalloc(sizeof(int32_t) * n);
        for (int i = 0; i < n; i++) tgt[i] = i + 1 < n ? ids[i + 1] : -1;
        StepOpts so = {0, 0, 0, logits};
        StepOut out;
        int rc = model_step(&sc->tm, ids, tgt, 1, n, &so, &out);
        free(tgt);
        return rc;
    }
    KVCache kv;
    engine_kv_init(&sc->e, &kv, n);
    int step = sc->chunk > 0 ? sc->chunk : n, rc = 0;
    for (int i0 = 0; i0 < n && rc == 0; i0 += step) {   // chunk 1: every token through the decode path
        SeqChunk ch = {&kv, ids + i0, n - i0 < step ? n - i0 : step};
        rc = engine_forward(&sc->e, &ch, 1, logits + (size_t)i0 * sc->im.c.vocab_size, 1, NULL);
    }
    kv_free(&kv);
    return rc;
}

// 1 if DIR holds a quantized folder (fp8, deepc int8/int4): only the inference engine reads those.
static int folder_quantized(const char *dir) {
    Config c;
    FolderQuant q;
    return infer_folder_config(dir, &c, &q) == 0 && (q.fp8 || q.bits);
}

int cmd_score(int argc, char **argv) {
    Opt o[] = {
        {"--model", "DIR", "model folder", NULL, NULL, 0},
        {"--text", "S", "text to score (needs the folder's tokenizer.json)", NULL, NULL, 0},
        {"--file", "F", "file whose text to score", NULL, NULL, 0},
        {"--tokens", "JSON", "token ids, e.g. [0, 17, 42]", NULL, NULL, 0},
        {"--shard", "F", "token shard (from `deepc tokenize`): its tokens, documents back to back", NULL, NULL, 0},
        {"--max-tokens", "N", "score only the first N tokens of the input (0 = all)", "0", NULL, 0},
        {"--window", "N", "score in independent windows of N tokens (0 = the whole input as one window)", "0", NULL, 0},
        {"--engine", "E", "train (the training forward) or infer (the inference engine; default when --dtype or "
                          "--kv-cache is given, or the folder is quantized)", NULL, NULL, 0},
        {"--dtype", "T", "infer: weights native (as in the folder), f32, bf16, fp8, int8, int4", "native", NULL, 0},
        {"--kv-cache", "T", "infer: latent cache f32, bf16, fp8, fp8-rope, int8", "f32", NULL, 0},
        {"--chunk", "N", "infer: feed each window N tokens at a time (1: token by token, the decode path; 0: all at once)",
         "0", NULL, 0},
        {"--summary", NULL, "print only the closing line (no per-token lines)", NULL, NULL, 0},
        {"--threads", "N", "threads (default: all cores)", NULL, NULL, 0},
    };
    int n = sizeof o / sizeof *o;
    const char *usage = "usage: deepc score --model DIR (--text S | --file F | --tokens JSON | --shard F) [options]";
    args_parse(argc, argv, o, n, usage, NULL, NULL);
    const char *dir = opt_str(o, n, "--model"), *text = opt_str(o, n, "--text"), *file = opt_str(o, n, "--file");
    const char *toks = opt_str(o, n, "--tokens"), *shard = opt_str(o, n, "--shard");
    if (!dir || (!!text + !!file + !!toks + !!shard) != 1) { args_usage(usage, o, n); return 2; }
    if (opt_str(o, n, "--threads")) {
        long th = opt_int(o, n, "--threads");
        if (th < 1) fatal("--threads must be at least 1");
        omp_set_num_threads((int)th);
    }
    long max_tokens = opt_int(o, n, "--max-tokens"), window = opt_int(o, n, "--window");
    if (max_tokens < 0) fatal("--max-tokens must be >= 0");
    if (window < 0 || window == 1) fatal("--window must be 0 (whole input) or at least 2");
    const char *eng = opt_str(o, n, "--engine"), *dtype = opt_str(o, n, "--dtype");
    const char *kvt = opt_str(o, n, "--kv-cache");
    int explicit_infer = opt_flag(o, n, "--dtype") || opt_flag(o, n, "--kv-cache") || opt_flag(o, n, "--chunk");
    Scorer sc;
    memset(&sc, 0, sizeof sc);
    if (eng && strcmp(eng, "train") && strcmp(eng, "infer")) fatal("--engine must be train or infer, not \"%s\"", eng);
    sc.infer = eng ? !strcmp(eng, "infer") : explicit_infer || folder_quantized(dir);
    if (!sc.infer && explicit_infer) fatal("--dtype, --kv-cache and --chunk belong to the inference engine: drop --engine train");
    int kv_dtype = KV_F32;
    if (kv_dtype_parse(kvt, &kv_dtype) < 0) fatal("--kv-cache: %s", last_error());

    // The model.
    const Config *c;
    int64_t params = 0;
    size_t wbytes = 0;
    if (sc.infer) {
        if (infer_model_load(dir, &sc.im) < 0) fatal_last();
        if (dtype && strcmp(dtype, "native")) {
            QType t;
            if (qtype_parse(dtype, &t) < 0) fatal("--dtype: %s", last_error());
            if (infer_model_convert(&sc.im, t) < 0) fatal("converting to %s: %s", dtype, last_error());
        }
        engine_init(&sc.e, &sc.im);
        sc.e.kv_dtype = kv_dtype;
        long ck = opt_int(o, n, "--chunk");
        if (ck < 0 || ck > 1 << 20) fatal("--chunk must be 0 (whole windows) or a positive token count");
        sc.chunk = (int)ck;
        c = &sc.im.c;
        params = infer_model_params(&sc.im);
        wbytes = infer_model_bytes(&sc.im);
    } else {
        if (model_load(dir, &sc.tm) < 0) fatal_last();
        c = &sc.tm.c;
    }

    // The tokens.
    int32_t *ids = NULL; int nt = 0;
    Tokenizer *tok = NULL;
    if (toks) {
        if (parse_ids(toks, &ids, &nt) < 0) fatal_last();
    } else if (shard) {
        if (read_shard(shard, max_tokens, &ids, &nt) < 0) fatal_last();
    } else {
        char *buf = NULL; size_t len;
        if (file) { if (io_read_all(file, &buf, &len) < 0) fatal_last(); }
        else { buf = xstrdup(text); len = strlen(text); }
        if (tok_load(dir, &tok) < 0) fatal("%s (use --tokens or --shard to score ids without a tokenizer)", last_error());
        size_t k;
        int32_t *enc;
        if (tok_encode(tok, buf, len, 0, &enc, &k) < 0) fatal_last();
        if (k > 0x7ffffff0) fatal("%s: %zu tokens are too many to score at once", file ? file : "--text", k);
        int32_t bos = tok_bos(tok);
        ids = xmalloc(sizeof(int32_t) * (k + 1));
        nt = 0;
        if (bos >= 0) ids[nt++] = bos;
        memcpy(ids + nt, enc, sizeof(int32_t) * k);
        nt += (int)k;
        free(enc); free(buf);
    }
    if (max_tokens > 0 && nt > max_tokens) nt = (int)max_tokens;
    if (nt < 2) fatal("need at least 2 tokens to score (got %d)", nt);
    if (window > c->max_position_embeddings)
        fatal("--window %ld exceeds the model's context of %d", window, c->max_position_embeddings);
    int W = window > 0 ? (int)(window < nt ? window : nt) : nt;
    if (W > c->max_position_embeddings)
        fatal("%s of %d tokens exceeds the model's context of %d (pass --window %d or less)",
              window > 0 ? "a window" : "the input", W, c->max_position_embeddings, c->max_position_embeddings);
    int V = c->vocab_size;
    for (int i = 0; i < nt; i++)
        if (ids[i] >= V) fatal("token %d at position %d is outside the vocabulary [0, %d)", ids[i], i, V);

    // Score window by window: positions 1..n-1 of each window are predicted from the window alone.
    float *logits = xmalloc(sizeof(float) * (size_t)W * V);   // [W, V]
    int summary = opt_flag(o, n, "--summary"), nwin = (nt + W - 1) / W, done = 0;
    double sum = 0, t0 = now_seconds();
    long npred = 0;
    Progress pg;
    progress_start(&pg, "score", nwin, "windows");
    for (int w0 = 0; w0 < nt; w0 += W) {
        int wn = nt - w0 < W ? nt - w0 : W;
        if (wn >= 2) {
            if (window_logits(&sc, ids + w0, wn, logits) < 0) fatal("scoring tokens %d..%d: %s", w0, w0 + wn - 1, last_error());
            for (int i = 0; i + 1 < wn; i++) {
                int tgt = ids[w0 + i + 1];
                double lp = log_prob(logits + (size_t)i * V, V, tgt);
                sum += lp;
                npred++;
                if (summary) continue;
                printf("{\"position\": %d, \"token\": %d", w0 + i + 1, tgt);
                const char *b; size_t bl;
                if (tok && tok_token_bytes(tok, tgt, &b, &bl) == 0) {
                    char *s = xmalloc(bl + 1);
                    memcpy(s, b, bl); s[bl] = 0;
                    cJSON *js = cJSON_CreateString(s);
                    char *q = cJSON_PrintUnformatted(js);
                    printf(", \"text\": %s", q);
                    free(q); cJSON_Delete(js); free(s);
                }
                printf(", \"logprob\": %.6f}\n", lp);
            }
        }
        progress_update(&pg, ++done);
    }
    progress_end(&pg);
    double secs = now_seconds() - t0;
    printf("{\"tokens\": %ld, \"windows\": %d, \"window\": %d, \"engine\": \"%s\"", npred, nwin, W,
           sc.infer ? "infer" : "train");
    if (sc.infer)
        printf(", \"dtype\": \"%s\", \"kv_cache\": \"%s\", \"kv_bytes_per_token\": %zu, \"params\": %lld, "
               "\"weight_bytes\": %zu", dtype ? dtype : "native", kv_dtype_name(kv_dtype),
               kv_row_bytes(kv_dtype, c->kv_lora_rank, c->qk_rope_head_dim) * (size_t)c->num_hidden_layers,
               (long long)params, wbytes);
    printf(", \"seconds\": %.3f, \"mean_logprob\": %.6f, \"perplexity\": %.4f}\n", secs, sum / npred, exp(-sum / npred));
    free(ids); free(logits);
    if (tok) tok_free(tok);
    if (sc.infer) infer_model_free(&sc.im);
    else model_free(&sc.tm);
    return 0;
}
