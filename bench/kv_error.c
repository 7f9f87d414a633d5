// bench/kv_error.c — what each latent KV-cache format does to a trained model's attention and
// logits, against the FP32 cache, on held-out tokens (the choice of k_pe's format for FP8 rests on it).
//   build/bench/kv_error MODEL_DIR SHARD [--tokens N (4096)] [--window W (256)] [--threads N]
// Per format: layer 0's attention output (its real input: the RMS-normed embeddings) as
// max|Δ| / max|ref| per window; the model's logits as the same ratio per token (mean and max);
// mean KL(p_f32 || p_format) per token; the share of tokens whose argmax is unchanged; perplexity.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/check.h"
#include "base/progress.h"
#include "data/shard.h"
#include "infer/engine.h"
#include "infer/mla.h"

static double row_rel(const float *a, const float *b, int n) {
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) { num = fmax(num, fabs((double)a[i] - b[i])); den = fmax(den, fabs((double)b[i])); }
    return num / (den > 1e-30 ? den : 1e-30);
}

// log-softmax of a row into lp (double).
static void log_softmax(const float *l, int V, double *lp) {
    double mx = l[0], s = 0;
    for (int i = 1; i < V; i++) if (l[i] > mx) mx = l[i];
    for (int i = 0; i < V; i++) s += exp(l[i] - mx);
    double lse = mx + log(s);
    for (int i = 0; i < V; i++) lp[i] = l[i] - lse;
}

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (v[i] > v[b]) b = i;
    return b;
}

int main(int argc, char **argv) {
    if (argc < 3) fatal("usage: build/bench/kv_error MODEL_DIR SHARD [--tokens N] [--window W] [--threads N]");
    int NT = 4096, W = 256;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--tokens")) NT = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--window")) W = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) omp_set_num_threads(atoi(argv[i + 1]));
        else fatal("unknown option %s", argv[i]);
    }
    InferModel m;
    if (infer_model_load(argv[1], &m) < 0) fatal_last();
    Shard sh;
    if (shard_open(&sh, argv[2], (uint32_t)m.c.vocab_size, 0) < 0) fatal_last();
    if ((uint64_t)NT > sh.n_tokens) NT = (int)sh.n_tokens;
    if (W < 2 || W > m.c.max_position_embeddings) fatal("--window must be in 2..%d", m.c.max_position_embeddings);
    NT = NT / W * W;
    if (NT < W) fatal("the shard has fewer than %d tokens", W);
    int V = m.c.vocab_size, D = m.c.hidden_size, nf = KV_NDTYPES;
    Engine e;
    engine_init(&e, &m);
    float *lg[KV_NDTYPES], *att[KV_NDTYPES];
    for (int k = 0; k < nf; k++) {
        lg[k] = xmalloc(sizeof(float) * (size_t)W * V);   // [W, V]
        att[k] = xmalloc(sizeof(float) * (size_t)W * D);  // [W, D]
    }
    float *xn = xmalloc(sizeof(float) * (size_t)W * D);   // [W, D]
    double *lp0 = xmalloc(sizeof(double) * V), *lp1 = xmalloc(sizeof(double) * V);
    double att_err[KV_NDTYPES] = {0}, att_max[KV_NDTYPES] = {0}, lg_sum[KV_NDTYPES] = {0}, lg_max[KV_NDTYPES] = {0}, kl[KV_NDTYPES] = {0}, nll[KV_NDTYPES] = {0};
    long same[KV_NDTYPES] = {0}, rows = 0, preds = 0;
    int32_t *ids = xmalloc(sizeof(int32_t) * W);
    Progress pg;
    progress_start(&pg, "kv_error", NT / W, "windows");
    for (int w0 = 0; w0 < NT; w0 += W) {
        for (int i = 0; i < W; i++) ids[i] = (int32_t)shard_token(&sh, (uint64_t)(w0 + i));
        for (int i = 0; i < W; i++) memcpy(xn + (size_t)i * D, m.embed + (size_t)ids[i] * D, sizeof(float) * D);
        rmsnorm_rows(xn, m.layers[0].attn_norm, W, D, m.c.rms_norm_eps, xn);
        for (int k = 0; k < nf; k++) {
            e.kv_dtype = k;   // KV_F32, KV_BF16, KV_FP8, KV_FP8_ROPE, KV_I8
            KVCache kv;
            engine_kv_init(&e, &kv, W);
            SeqChunk ch = {&kv, ids, W};
            if (engine_forward(&e, &ch, 1, lg[k], 1, NULL) < 0) fatal_last();
            kv_free(&kv);
            engine_kv_init(&e, &kv, W);
            kv_reserve(&kv, W);
            MlaSeq s = {&kv, 0, W, 0, 0};
            mla_forward(&m, &m.layers[0], 0, xn, W, &s, 1, att[k]);
            kv_free(&kv);
        }
        for (int k = 1; k < nf; k++) {
            double a = row_rel(att[k], att[0], W * D);
            att_err[k] += a; att_max[k] = fmax(att_max[k], a);
        }
        for (int i = 0; i < W; i++) {
            log_softmax(lg[0] + (size_t)i * V, V, lp0);
            int t = argmax(lg[0] + (size_t)i * V, V);
            if (i + 1 < W) nll[0] -= lp0[ids[i + 1]];
            for (int k = 1; k < nf; k++) {
                const float *l = lg[k] + (size_t)i * V;
                double r = row_rel(l, lg[0] + (size_t)i * V, V);
                lg_sum[k] += r; lg_max[k] = fmax(lg_max[k], r);
                log_softmax(l, V, lp1);
                double d = 0;
                for (int j = 0; j < V; j++) d += exp(lp0[j]) * (lp0[j] - lp1[j]);
                kl[k] += d;
                same[k] += argmax(l, V) == t;
                if (i + 1 < W) nll[k] -= lp1[ids[i + 1]];
            }
            rows++;
            if (i + 1 < W) preds++;
        }
        progress_update(&pg, w0 / W + 1);
    }
    progress_end(&pg);
    printf("# %s: %ld tokens in windows of %d, r_kv %d, d_rope %d, %d layers\n", argv[1], rows, W, m.c.kv_lora_rank,
           m.c.qk_rope_head_dim, m.c.num_hidden_layers);
    printf("| KV cache | B/token | layer-0 attention rel err (mean / max) | logits rel err (mean / max) | KL nats/token | argmax same | perplexity |\n");
    printf("|---|---|---|---|---|---|---|\n");
    int nw = NT / W;
    for (int k = 0; k < nf; k++)
        printf("| %s | %zu | %.2e / %.2e | %.2e / %.2e | %.2e | %.2f%% | %.4f |\n", kv_dtype_name(k),
               kv_row_bytes(k, m.c.kv_lora_rank, m.c.qk_rope_head_dim) * (size_t)m.c.num_hidden_layers, att_err[k] / nw,
               att_max[k], lg_sum[k] / rows, lg_max[k], kl[k] / rows, k ? 100.0 * same[k] / rows : 100.0, exp(nll[k] / preds));
    shard_close(&sh);
    infer_model_free(&m);
    return 0;
}
