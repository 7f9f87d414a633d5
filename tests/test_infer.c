// test_infer.c — the inference engine against itself in its independent forms:
// cached decode == recomputation without cache (greedy, token for token);
// absorbed MLA == naive MLA with cache prefixes (rel err <= 1e-5); batched
// sequences == one at a time; router invariants. (Logits against transformers:
// tests/ref/test_infer.py.)
#include "test.h"
#include <omp.h>
#include <time.h>
#include <unistd.h>
#include "base/check.h"
#include "base/rng.h"
#include "base/team.h"
#include "infer/engine.h"
#include "infer/mla.h"
#include "infer/moe.h"
#include "infer/speculative.h"

static Config tiny_config(int version, int q_lora, int yarn, int shared, int groups) {
    Config c = {0};
    c.version = version;
    c.vocab_size = 97; c.hidden_size = 64; c.intermediate_size = 96; c.moe_intermediate_size = 32;
    c.num_hidden_layers = 3; c.num_attention_heads = 4;
    c.q_lora_rank = q_lora ? 48 : 0; c.kv_lora_rank = 32;
    c.qk_nope_head_dim = 16; c.qk_rope_head_dim = 8; c.v_head_dim = 16;
    c.n_routed_experts = 8; c.n_shared_experts = shared; c.num_experts_per_tok = 2;
    c.n_group = groups; c.topk_group = groups > 1 ? groups / 2 : 1;
    if (version == 3) { c.topk_method = TOPK_NOAUX_TC; c.scoring_func = SCORE_SIGMOID; c.norm_topk_prob = 1; c.routed_scaling_factor = 2.5f; }
    else { c.topk_method = groups > 1 ? TOPK_GROUP_LIMITED_GREEDY : TOPK_GREEDY; c.scoring_func = SCORE_SOFTMAX; c.routed_scaling_factor = 1.0f; }
    c.first_k_dense_replace = 1; c.moe_layer_freq = 1;
    c.rope_theta = 10000.0f;
    c.yarn = yarn; c.rope_factor = 4.0f; c.beta_fast = 32; c.beta_slow = 1; c.mscale = 0.707f; c.mscale_all_dim = 0.707f;
    c.original_max_position_embeddings = 16;
    c.rms_norm_eps = 1e-6f; c.max_position_embeddings = 256;
    c.bos_token_id = 0; c.eos_token_id = 1;
    return c;
}

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (v[i] > v[b]) b = i;
    return b;
}

static void check_cache_equals_recompute(const Config *c, uint64_t seed) {
    InferModel m;
    infer_model_random(&m, c, seed, 0.15f);
    Engine e;
    engine_init(&e, &m);
    e.attn_mode = ATTN_ABSORBED;
    int V = c->vocab_size, P = 5, G = 12;
    int32_t toks[64];
    Rng r; rng_seed(&r, seed + 1);
    for (int i = 0; i < P; i++) toks[i] = 2 + (int)rng_below(&r, V - 2);
    float *lg = xmalloc(sizeof(float) * V), *lg2 = xmalloc(sizeof(float) * V);
    KVCache kv;
    engine_kv_init(&e, &kv, 0);
    SeqChunk ch = {&kv, toks, P};
    CHECK(engine_forward(&e, &ch, 1, lg, 0, NULL) == 0, "%s", last_error());
    int n = P, same = 1;
    double worst = 0;
    for (int g = 0; g < G; g++) {
        int next = argmax(lg, V);
        // Recompute the whole sequence without a cache (naive form: also a different path).
        KVCache fresh;
        engine_kv_init(&e, &fresh, 0);
        Engine e2 = e; e2.attn_mode = ATTN_NAIVE;
        SeqChunk c2 = {&fresh, toks, n};
        CHECK(engine_forward(&e2, &c2, 1, lg2, 0, NULL) == 0, "%s", last_error());
        double re = rel_err(lg, lg2, V);
        if (re > worst) worst = re;
        if (argmax(lg2, V) != next) same = 0;
        kv_free(&fresh);
        toks[n++] = next;
        SeqChunk c1 = {&kv, toks + n - 1, 1};
        CHECK(engine_forward(&e, &c1, 1, lg, 0, NULL) == 0, "%s", last_error());
    }
    CHECK(same, "greedy tokens with cache differ from recomputation");
    CHECK(worst < 1e-4, "cached vs recomputed logits rel err %.3g", worst);
    CHECK(kv.len == P + G, "cache holds %d tokens, expected %d", kv.len, P + G);
    kv_free(&kv);
    free(lg); free(lg2);
    infer_model_free(&m);
}

TEST(cache_equals_recompute_v3) {
    Config c = tiny_config(3, 1, 1, 1, 4);
    check_cache_equals_recompute(&c, 1000 + (uint64_t)time(NULL));
}

TEST(cache_equals_recompute_v2) {
    Config c = tiny_config(2, 0, 0, 2, 1);
    check_cache_equals_recompute(&c, 2000 + (uint64_t)time(NULL));
}

// The decode splits heads and cached rows over the threads: the same check at thread counts other than the
// machine's (3 threads split 12-17 rows with shares that round past the end unless clamped).
TEST(cache_equals_recompute_other_thread_counts) {
    int saved = omp_get_max_threads(), nts[3] = {1, 3, 4};
    for (int i = 0; i < 3; i++) {
        omp_set_num_threads(nts[i]);
        Config c = tiny_config(3, 1, 1, 1, 4);
        check_cache_equals_recompute(&c, 4000 + 17 * (uint64_t)i + (uint64_t)time(NULL));
    }
    omp_set_num_threads(saved);
}

// MLA alone: same prefix in two caches, then a chunk of new tokens in absorbed vs naive form.
TEST(absorbed_equals_naive) {
    uint64_t seed = 3000 + (uint64_t)time(NULL);
    int cfgs[4][3] = {{3, 1, 1}, {2, 0, 0}, {3, 0, 1}, {3, 1, 0}};
    for (int ci = 0; ci < 4; ci++) {
        Config c = tiny_config(cfgs[ci][0], cfgs[ci][1], cfgs[ci][2], 1, 1);
        if (ci == 3) {   // odd head count and widths: the decode kernels' scalar edges (r % 16, W % 8)
            c.num_attention_heads = 5; c.kv_lora_rank = 40; c.qk_rope_head_dim = 6;
        }
        InferModel m;
        infer_model_random(&m, &c, seed + ci, 0.15f);
        int D = c.hidden_size, prefixes[3] = {0, 7, 70}, chunks[4] = {1, 3, 9, 150};   // 70, 150: several 64-row query blocks
        Rng r; rng_seed(&r, seed + 17 + ci);
        for (int pi = 0; pi < 3; pi++)
            for (int ki = 0; ki < 4; ki++) {
                int P = prefixes[pi], n = chunks[ki];
                KVCache a, b;
                kv_init(&a, &c, c.num_hidden_layers, 0); kv_init(&b, &c, c.num_hidden_layers, 0);
                a.bf16 = b.bf16 = (pi + ki) % 2;   // half the cases with a BF16 cache
                kv_reserve(&a, P + n); kv_reserve(&b, P + n);
                float *xp = xmalloc(sizeof(float) * (size_t)(P + 1) * D), *x = xmalloc(sizeof(float) * (size_t)n * D);
                float *oa = xmalloc(sizeof(float) * (size_t)(P + n) * D), *ob = xmalloc(sizeof(float) * (size_t)(P + n) * D);
                for (int i = 0; i < P * D; i++) xp[i] = rng_normal(&r);
                for (int i = 0; i < n * D; i++) x[i] = rng_normal(&r);
                if (P > 0) {   // fill the prefix the same way in both caches
                    MlaSeq s = {&a, 0, P, 0, 1};
                    mla_forward(&m, &m.layers[1], 1, xp, P, &s, 1, oa);
                    s.kv = &b;
                    mla_forward(&m, &m.layers[1], 1, xp, P, &s, 1, ob);
                    a.len = b.len = P;
                }
                MlaSeq sa = {&a, 0, n, P, 0}, sb = {&b, 0, n, P, 1};
                mla_forward(&m, &m.layers[1], 1, x, n, &sa, 1, oa);
                mla_forward(&m, &m.layers[1], 1, x, n, &sb, 1, ob);
                double re = rel_err(oa, ob, (size_t)n * D);
                CHECK(re <= 1e-5, "config %d prefix %d chunk %d (bf16 cache %d): absorbed vs naive rel err %.3g", ci, P, n,
                      a.bf16, re);
                kv_free(&a); kv_free(&b);
                free(xp); free(x); free(oa); free(ob);
            }
        infer_model_free(&m);
    }
}

// Several sequences in one batch == each alone (prefill then a batched decode step).
TEST(batched_equals_single) {
    Config c = tiny_config(3, 1, 1, 1, 2);
    InferModel m;
    infer_model_random(&m, &c, 4000 + (uint64_t)time(NULL), 0.15f);
    Engine e; engine_init(&e, &m);
    int V = c.vocab_size;
    int32_t prompts[3][6] = {{5, 6, 7, 8, 9, 10}, {11, 12, 13, 0, 0, 0}, {20, 21, 22, 23, 0, 0}};
    int lens[3] = {6, 3, 4};
    int32_t nexts[3] = {30, 31, 32};
    KVCache kb[3], ks[3];
    float *lb = xmalloc(sizeof(float) * 3 * V), *ls = xmalloc(sizeof(float) * 3 * V);
    SeqChunk ch[3];
    for (int i = 0; i < 3; i++) { engine_kv_init(&e, &kb[i], 0); engine_kv_init(&e, &ks[i], 0); ch[i] = (SeqChunk){&kb[i], prompts[i], lens[i]}; }
    CHECK(engine_forward(&e, ch, 3, lb, 0, NULL) == 0, "%s", last_error());
    for (int i = 0; i < 3; i++) ch[i] = (SeqChunk){&kb[i], &nexts[i], 1};
    CHECK(engine_forward(&e, ch, 3, lb, 0, NULL) == 0, "%s", last_error());
    for (int i = 0; i < 3; i++) {
        SeqChunk s = {&ks[i], prompts[i], lens[i]};
        CHECK(engine_forward(&e, &s, 1, ls + (size_t)i * V, 0, NULL) == 0, "%s", last_error());
        s = (SeqChunk){&ks[i], &nexts[i], 1};
        CHECK(engine_forward(&e, &s, 1, ls + (size_t)i * V, 0, NULL) == 0, "%s", last_error());
    }
    double re = rel_err(lb, ls, (size_t)3 * V);
    CHECK(re < 1e-5, "batched vs single logits rel err %.3g", re);
    for (int i = 0; i < 3; i++) { kv_free(&kb[i]); kv_free(&ks[i]); }
    free(lb); free(ls);
    infer_model_free(&m);
}

// Router invariants (spec §13.5) on random inputs, with a brute-force check of the choice.
TEST(router_invariants) {
    Rng r; rng_seed(&r, 5000 + (uint64_t)time(NULL));
    Config c = tiny_config(3, 1, 0, 1, 4);
    c.n_routed_experts = 16; c.num_experts_per_tok = 4; c.n_group = 4; c.topk_group = 2;
    int E = 16, D = c.hidden_size, K = 4, N = 50;
    float *W = xmalloc(sizeof(float) * E * D), *bias = xmalloc(sizeof(float) * E), *x = xmalloc(sizeof(float) * N * D);
    for (int i = 0; i < E * D; i++) W[i] = 0.3f * rng_normal(&r);
    for (int i = 0; i < E; i++) bias[i] = 0.5f * rng_normal(&r);   // negative biases included (spec §11 #2)
    for (int i = 0; i < N * D; i++) x[i] = rng_normal(&r);
    int idx[50 * 4]; float w[50 * 4];
    moe_route(&c, W, bias, x, N, idx, w);
    for (int t = 0; t < N; t++) {
        double sum = 0; int groups[4] = {0};
        for (int k = 0; k < K; k++) {
            sum += w[t * K + k];
            groups[idx[t * K + k] / 4] = 1;
            for (int j = 0; j < k; j++) CHECK(idx[t * K + j] != idx[t * K + k], "token %d: expert chosen twice", t);
        }
        CHECK(fabs(sum - 2.5) < 1e-5, "token %d: gates sum to %g, expected 2.5", t, sum);
        CHECK(groups[0] + groups[1] + groups[2] + groups[3] <= 2, "token %d: experts from more than topk_group groups", t);
        // Brute force: the chosen groups are the 2 with the largest top-2 sums of s + b.
        float s[16], gsum[4];
        for (int e = 0; e < E; e++) { float z = 0; for (int i = 0; i < D; i++) z += W[e * D + i] * x[t * D + i]; s[e] = 1 / (1 + expf(-z)) + bias[e]; }
        for (int g = 0; g < 4; g++) {
            float a = -1e9f, b = -1e9f;
            for (int e = g * 4; e < g * 4 + 4; e++) { if (s[e] > a) { b = a; a = s[e]; } else if (s[e] > b) b = s[e]; }
            gsum[g] = a + b;
        }
        for (int k = 0; k < K; k++) {
            int g = idx[t * K + k] / 4, rank = 0;
            for (int h = 0; h < 4; h++) if (gsum[h] > gsum[g]) rank++;
            CHECK(rank < 2, "token %d: expert %d from group %d ranked %d", t, idx[t * K + k], g, rank);
        }
    }
    // V2 softmax greedy: gates are the raw softmax probabilities times the scale, in decreasing order.
    Config c2 = tiny_config(2, 0, 0, 1, 1);
    c2.n_routed_experts = 16; c2.num_experts_per_tok = 4; c2.routed_scaling_factor = 16.0f;
    moe_route(&c2, W, NULL, x, N, idx, w);
    for (int t = 0; t < N; t++) {
        double z[16], mx = -1e9, sum = 0;
        for (int e = 0; e < E; e++) { z[e] = 0; for (int i = 0; i < D; i++) z[e] += W[e * D + i] * x[t * D + i]; if (z[e] > mx) mx = z[e]; }
        for (int e = 0; e < E; e++) sum += exp(z[e] - mx);
        for (int k = 0; k < K; k++) {
            double p = exp(z[idx[t * K + k]] - mx) / sum * 16.0;
            CHECK(fabs(p - w[t * K + k]) < 1e-4 * p + 1e-6, "token %d slot %d: gate %g, softmax*16 = %g", t, k, w[t * K + k], p);
            if (k > 0) CHECK(w[t * K + k] <= w[t * K + k - 1], "token %d: gates not in decreasing order", t);
        }
    }
    free(W); free(bias); free(x);
}

// Decode-sized MoE (1-4 tokens): the experts (the shared ones among them) are work items handed to the threads
// through a counter. The output must be bit for bit the experts computed one after another — at 1-3
// threads, in plain OpenMP regions and in a team session, with and without shared experts, FP32 and int4 weights.
typedef struct { const InferModel *m; const InferLayer *ly; const float *x; int N; float *out; } MoeCall;
static void moe_call(void *p) { MoeCall *a = p; moe_forward(a->m, a->ly, a->x, a->N, a->out); }

static void moe_sequential(const InferModel *m, const InferLayer *ly, const float *x, int N, float *out) {
    const Config *c = &m->c;
    int E = c->n_routed_experts, K = c->num_experts_per_tok, D = c->hidden_size;
    int idx[4 * 16];
    float w[4 * 16], *y = xcalloc((size_t)N * K * D, sizeof(float)), *xe = xmalloc(sizeof(float) * (size_t)N * K * D);
    float *ye = xmalloc(sizeof(float) * (size_t)N * K * D);
    moe_route(c, ly->router, ly->router_bias, x, N, idx, w);
    for (int e = 0; e < E; e++) {                      // experts in order, their (token, slot) pairs in order
        int ne = 0, pairs[4 * 16];
        for (int i = 0; i < N * K; i++)
            if (idx[i] == e) { memcpy(xe + (size_t)ne * D, x + (size_t)(i / K) * D, sizeof(float) * D); pairs[ne++] = i; }
        if (!ne) continue;
        ffn_forward(&ly->eg[e], &ly->eu[e], &ly->ed[e], xe, ne, ye);
        for (int j = 0; j < ne; j++) memcpy(y + (size_t)pairs[j] * D, ye + (size_t)j * D, sizeof(float) * D);
    }
    if (c->n_shared_experts > 0) ffn_forward(&ly->sg, &ly->su, &ly->sd, x, N, out);
    else memset(out, 0, sizeof(float) * (size_t)N * D);
    for (int t = 0; t < N; t++)
        for (int k = 0; k < K; k++)
            for (int i = 0; i < D; i++) out[(size_t)t * D + i] += w[t * K + k] * y[((size_t)t * K + k) * D + i];
    free(y); free(xe); free(ye);
}

TEST(moe_few_tokens_equal_sequential_experts) {
    uint64_t seed = 9700 + (uint64_t)time(NULL);
    int saved = omp_get_max_threads();
    for (int shared = 0; shared <= 1; shared++)
        for (int qt = 0; qt < 2; qt++) {
            Config c = tiny_config(3, 1, 0, shared, 4);
            c.hidden_size = 256; c.moe_intermediate_size = 128; c.n_routed_experts = 16; c.num_experts_per_tok = 4;
            c.q_lora_rank = 64; c.intermediate_size = 128;              // int4: every input width a multiple of 32
            InferModel m;
            infer_model_random(&m, &c, seed + (uint64_t)(2 * shared + qt), 0.1f);
            if (qt) CHECK(infer_model_convert(&m, QT_I4) == 0, "%s", last_error());
            const InferLayer *ly = &m.layers[1];
            int D = c.hidden_size;
            float *x = xmalloc(sizeof(float) * 4 * (size_t)D), *ref = xmalloc(sizeof(float) * 4 * (size_t)D);
            float *out = xmalloc(sizeof(float) * 4 * (size_t)D);
            Rng r; rng_seed(&r, seed + 77 + (uint64_t)qt);
            for (int i = 0; i < 4 * D; i++) x[i] = rng_normal(&r);
            for (int N = 1; N <= 4; N++) {
                omp_set_num_threads(1);
                moe_sequential(&m, ly, x, N, ref);
                for (int nt = 1; nt <= 3; nt++)
                    for (int sess = 0; sess <= 1; sess++)
                        for (int rep = 0; rep < 3; rep++) {
                            omp_set_num_threads(nt);
                            memset(out, 0xff, sizeof(float) * (size_t)N * D);
                            MoeCall a = {&m, ly, x, N, out};
                            if (sess) team_session(moe_call, &a); else moe_call(&a);
                            CHECK(memcmp(out, ref, sizeof(float) * (size_t)N * D) == 0,
                                  "%s, shared %d, %d tokens, %d threads%s: MoE differs from the experts one by one "
                                  "(rel err %.3g)", qt ? "int4" : "f32", shared, N, nt, sess ? " in a session" : "",
                                  rel_err(out, ref, (size_t)N * D));
                        }
            }
            omp_set_num_threads(saved);
            free(x); free(ref); free(out);
            infer_model_free(&m);
        }
}

// A BF16 latent cache: the same greedy continuation as FP32 on a tiny model, logits close.
TEST(bf16_cache_close_to_f32) {
    Config c = tiny_config(3, 1, 1, 1, 2);
    // all layers dense: BF16 rounding may flip an expert choice, a legitimate discontinuity
    // that would make logits differ by far more than the cache's rounding error
    c.first_k_dense_replace = c.num_hidden_layers;
    InferModel m;
    infer_model_random(&m, &c, 8000 + (uint64_t)time(NULL), 0.15f);
    Engine e; engine_init(&e, &m);
    int V = c.vocab_size;
    int32_t toks[40] = {5, 17, 3, 44, 9, 21, 2, 60};
    float *la = xmalloc(sizeof(float) * 40 * V), *lb = xmalloc(sizeof(float) * 40 * V);
    KVCache a, b;
    e.kv_bf16 = 0; engine_kv_init(&e, &a, 0);
    e.kv_bf16 = 1; engine_kv_init(&e, &b, 0);
    CHECK(b.bf16 == 1 && kv_bytes_per_token(&b) * 2 == kv_bytes_per_token(&a), "bf16 cache bytes");
    SeqChunk ca = {&a, toks, 8}, cb = {&b, toks, 8};
    CHECK(engine_forward(&e, &ca, 1, la, 1, NULL) == 0 && engine_forward(&e, &cb, 1, lb, 1, NULL) == 0, "%s", last_error());
    for (int i = 0; i < 8; i++) {   // then 8 decode steps fed the same tokens
        toks[8 + i] = (int32_t)((7 * i + 3) % V);
        ca = (SeqChunk){&a, &toks[8 + i], 1}; cb = (SeqChunk){&b, &toks[8 + i], 1};
        CHECK(engine_forward(&e, &ca, 1, la + (size_t)(8 + i) * V, 0, NULL) == 0, "%s", last_error());
        CHECK(engine_forward(&e, &cb, 1, lb + (size_t)(8 + i) * V, 0, NULL) == 0, "%s", last_error());
    }
    double re = rel_err(lb, la, (size_t)16 * V);
    CHECK(re < 2e-2 && re > 0, "bf16 vs f32 cache logits rel err %.3g", re);
    printf("# bf16 vs f32 latent cache: logits rel err %.2g\n", re);
    kv_free(&a); kv_free(&b); free(la); free(lb);
    infer_model_free(&m);
}

TEST(bad_tokens_and_full_context) {
    Config c = tiny_config(3, 1, 0, 1, 1);
    InferModel m;
    infer_model_random(&m, &c, 6000, 0.1f);
    Engine e; engine_init(&e, &m);
    float *lg = xmalloc(sizeof(float) * c.vocab_size);
    KVCache kv; engine_kv_init(&e, &kv, 4);
    int32_t bad[2] = {3, 97};
    SeqChunk ch = {&kv, bad, 2};
    CHECK(engine_forward(&e, &ch, 1, lg, 0, NULL) < 0, "token 97 of a 97-token vocabulary accepted");
    CHECK(strstr(last_error(), "97") != NULL, "message should name the id: %s", last_error());
    CHECK(kv.len == 0, "failed call changed the cache");
    int32_t ok[5] = {3, 4, 5, 6, 7};
    ch = (SeqChunk){&kv, ok, 5};
    CHECK(engine_forward(&e, &ch, 1, lg, 0, NULL) < 0, "5 tokens into a 4-token context accepted");
    ch.n = 4;
    CHECK(engine_forward(&e, &ch, 1, lg, 0, NULL) == 0, "%s", last_error());
    kv_free(&kv); free(lg);
    infer_model_free(&m);
}

// MTP self-speculation must reproduce plain greedy decoding exactly, whatever the drafts are.
// A 3-token vocabulary makes random drafts right about a third of the time, so both the
// accept and the reject paths run (P(no accept in ~30 drafts) ~ 1e-5).
TEST(mtp_speculative_equals_greedy) {
    uint64_t seed = 7000 + (uint64_t)time(NULL);
    int acc = 0, rej = 0, steps = 0, toks = 0;
    for (int run = 0; run < 8; run++) {
        Config c = tiny_config(3, 1, 1, 1, 2);
        c.num_nextn_predict_layers = 1;
        c.vocab_size = 3;
        InferModel m;
        infer_model_random(&m, &c, seed + run, 0.15f);
        Engine e; engine_init(&e, &m);
        int32_t prompt[6] = {0, 2, 1, 1, 2, 0}, a[40], b[40];
        int na, nb;
        KVCache k1, k2;
        engine_kv_init(&e, &k1, 0); engine_kv_init(&e, &k2, 0);
        double secs;
        SpecStats st;
        CHECK(plain_greedy(&e, &k1, prompt, 6, 40, -1, a, &na, &secs) == 0, "%s", last_error());
        CHECK(spec_greedy(&e, &k2, prompt, 6, 40, -1, b, &nb, &st) == 0, "%s", last_error());
        CHECK(na == 40 && nb == 40, "lengths %d %d", na, nb);
        int same = na == nb;
        for (int i = 0; i < na && i < nb; i++) same &= a[i] == b[i];
        CHECK(same, "run %d: speculative output differs from plain greedy", run);
        acc += st.accepted; rej += st.drafted - st.accepted; steps += st.main_steps; toks += nb;
        kv_free(&k1); kv_free(&k2);
        infer_model_free(&m);
    }
    CHECK(acc > 0 && rej > 0, "accepted %d, rejected %d drafts: both paths should have run", acc, rej);
    printf("# MTP speculation on random 3-token models: %d/%d drafts accepted, %d main steps for %d tokens\n", acc,
           acc + rej, steps, toks);
}

// Decode in a team session (base/team.h: one OpenMP region per token, spinning hand-offs) against the same
// steps as plain OpenMP regions, 3 threads, every weight format: logits bit for bit (both split the work by
// thread the same way). Matrices large enough that the matvecs go parallel too; 1, 2 and 3 sequences at once.
TEST(team_session_equals_plain_regions) {
    Config c = tiny_config(3, 1, 1, 1, 2);
    c.hidden_size = 512; c.intermediate_size = 1024; c.moe_intermediate_size = 256; c.vocab_size = 600;
    c.q_lora_rank = 128; c.kv_lora_rank = 64; c.num_hidden_layers = 2;
    int V = c.vocab_size, old_threads = omp_get_max_threads();
    omp_set_num_threads(3);                                 // more threads than a small machine's cores: a thread
                                                             // that falls behind shows a missing wait
    const QType types[5] = {QT_F32, QT_BF16, QT_FP8, QT_I8, QT_I4};
    uint64_t seed = 9100 + (uint64_t)time(NULL);
    for (int ti = 0; ti < 5; ti++) {
        InferModel m;
        infer_model_random(&m, &c, seed + ti, 0.1f);
        if (types[ti] != QT_F32) CHECK(infer_model_convert(&m, types[ti]) == 0, "%s", last_error());
        Engine e; engine_init(&e, &m);
        e.attn_mode = ATTN_ABSORBED;
        size_t nl = (size_t)4 * 3 * V;                        // [step, sequence, V] logits of the decode steps
        float *lg[2] = {xcalloc(nl, sizeof(float)), xcalloc(nl, sizeof(float))}, *pl = xmalloc(sizeof(float) * V);
        for (int side = 0; side < 2; side++) {
            int old = team_set_enabled(side);
            KVCache kv[3];
            int32_t toks[3][12];
            Rng r; rng_seed(&r, seed + 50 + ti);
            for (int i = 0; i < 3; i++) {
                engine_kv_init(&e, &kv[i], 0);
                for (int j = 0; j < 12; j++) toks[i][j] = 2 + (int)rng_below(&r, V - 2);
                SeqChunk ch = {&kv[i], toks[i], 3 + i};       // 3-5 prompt tokens each (absorbed, in a session)
                CHECK(engine_forward(&e, &ch, 1, pl, 0, NULL) == 0, "%s", last_error());
            }
            for (int step = 0; step < 4; step++) {           // decode 1, 2, 3 sequences at once
                int ns = 1 + step % 3;
                SeqChunk ch[3];
                for (int i = 0; i < ns; i++) ch[i] = (SeqChunk){&kv[i], &toks[i][6 + step], 1};
                CHECK(engine_forward(&e, ch, ns, lg[side] + (size_t)step * 3 * V, 0, NULL) == 0, "%s", last_error());
            }
            for (int i = 0; i < 3; i++) kv_free(&kv[i]);
            team_set_enabled(old);
        }
        CHECK(memcmp(lg[0], lg[1], sizeof(float) * nl) == 0, "%s: logits in a team session differ from plain OpenMP "
              "regions (rel err %.3g)", qtype_name(types[ti]), rel_err(lg[1], lg[0], nl));
        free(lg[0]); free(lg[1]); free(pl);
        infer_model_free(&m);
    }
    omp_set_num_threads(old_threads);
}

int main(int argc, char **argv) {
    // Tiny models make many short parallel regions: spinning OpenMP threads on a shared, loaded
    // machine turn a 0.2 s run into tens of seconds. libgomp reads the policy at start-up, hence
    // the re-exec with it set (OMP_WAIT_POLICY given by the caller is kept).
    if (argc > 0 && !getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "passive", 1);
        execv("/proc/self/exe", argv);
    }
    RUN(cache_equals_recompute_v3);
    RUN(cache_equals_recompute_v2);
    RUN(cache_equals_recompute_other_thread_counts);
    RUN(absorbed_equals_naive);
    RUN(batched_equals_single);
    RUN(router_invariants);
    RUN(moe_few_tokens_equal_sequential_experts);
    RUN(bf16_cache_close_to_f32);
    RUN(bad_tokens_and_full_context);
    RUN(mtp_speculative_equals_greedy);
    RUN(team_session_equals_plain_regions);
    return test_summary();
}
