// test_model.c — the FP32 model in C alone: finite-difference gradient checks of
// every parameter tensor (directional derivatives), MTP and balance-loss
// gradients, the balance-loss and bias-update invariants of spec §13, and a
// save/load round trip. (Comparisons with transformers: tests/ref/.)
#include "test.h"
#include "base/check.h"
#include "base/io.h"
#include "base/rng.h"
#include "model/model.h"
#include "model/attention.h"
#include <time.h>
#include <unistd.h>

static Config small_config(int version, int rq, int n_group, int shared, int mtp, int yarn) {
    Config c;
    config_preset("tiny", &c);
    c.version = version;
    c.vocab_size = 61; c.hidden_size = 24; c.intermediate_size = 40; c.moe_intermediate_size = 12;
    c.num_hidden_layers = 2; c.num_attention_heads = 2;
    c.q_lora_rank = rq; c.kv_lora_rank = 16; c.qk_nope_head_dim = 8; c.qk_rope_head_dim = 4; c.v_head_dim = 6;
    c.n_routed_experts = 8; c.num_experts_per_tok = 2; c.n_shared_experts = shared;
    c.n_group = n_group; c.topk_group = n_group > 1 ? n_group / 2 : 1;
    c.first_k_dense_replace = 1; c.moe_layer_freq = 1;
    c.num_nextn_predict_layers = mtp;
    if (version == 3) { c.topk_method = TOPK_NOAUX_TC; c.scoring_func = SCORE_SIGMOID; c.norm_topk_prob = 1; c.routed_scaling_factor = 2.5f; }
    else { c.topk_method = n_group > 1 ? TOPK_GROUP_LIMITED_GREEDY : TOPK_GREEDY; c.scoring_func = SCORE_SOFTMAX; c.norm_topk_prob = 0; c.routed_scaling_factor = 1.5f; }
    c.yarn = yarn;
    if (yarn) { c.rope_factor = 8; c.beta_fast = 32; c.beta_slow = 1; c.mscale = 0.707f; c.mscale_all_dim = 0.707f; c.original_max_position_embeddings = 64; }
    c.max_position_embeddings = 4096;
    return c;
}

static double loss_at(Model *m, const int32_t *tok, const int32_t *tgt, int B, int T, const StepOpts *o0, uint64_t *hash) {
    StepOpts o = *o0; o.compute_grads = 0;
    StepOut out;
    if (model_step(m, tok, tgt, B, T, &o, &out) < 0) return NAN;
    *hash = out.routing_hash;
    return out.total;
}

// For every tensor: random direction v, compare (L(p+εv) − L(p−εv)) / 2ε with g·v.
static void gradcheck(Config c, float alpha, float lambda, uint64_t seed) {
    Model m;
    CHECK(model_create(&c, &m) == 0, "%s", last_error());
    model_init_random(&m, seed, 0.3f);
    Rng r; rng_seed(&r, seed + 1);
    for (int i = 0; i < m.n_views; i++)      // norms and router bias away from their trivial init
        if (m.views[i].ndim == 1)
            for (size_t j = 0; j < m.views[i].numel; j++) m.params[m.views[i].offset + j] += 0.2f * rng_normal(&r) * (m.views[i].trainable ? 1 : 0.1f);
    int B = 2, T = 6;
    int32_t tok[12], tgt[12];
    for (int i = 0; i < B * T; i++) { tok[i] = (int32_t)rng_below(&r, c.vocab_size); tgt[i] = (i % 5 == 4) ? -1 : (int32_t)rng_below(&r, c.vocab_size); }
    StepOpts o = {1, lambda, alpha, NULL};
    StepOut out;
    model_alloc_grads(&m);
    model_zero_grads(&m);
    CHECK(model_step(&m, tok, tgt, B, T, &o, &out) == 0, "%s", last_error());
    float *g = xmalloc(sizeof(float) * m.n_params);
    memcpy(g, m.grads, sizeof(float) * m.n_params);
    int bad = 0;
    for (int i = 0; i < m.n_views; i++) {
        const ParamView *v = &m.views[i];
        if (!v->trainable) continue;
        float *p = m.params + v->offset;
        float *dir = xmalloc(sizeof(float) * v->numel), *save = xmalloc(sizeof(float) * v->numel);
        memcpy(save, p, sizeof(float) * v->numel);
        double gv = 0, vv = 0;
        for (size_t j = 0; j < v->numel; j++) { dir[j] = rng_normal(&r); gv += (double)g[v->offset + j] * dir[j]; vv += dir[j] * dir[j]; }
        // a step that flips an expert choice is a discontinuity: shrink it until none flips
        double eps = 2e-3 / sqrt(vv / v->numel), lp = 0, lm = 0;
        for (int tries = 0; tries < 6; tries++, eps *= 0.3) {
            uint64_t hp = 0, hm = 0;
            for (size_t j = 0; j < v->numel; j++) p[j] = save[j] + (float)eps * dir[j];
            lp = loss_at(&m, tok, tgt, B, T, &o, &hp);
            for (size_t j = 0; j < v->numel; j++) p[j] = save[j] - (float)eps * dir[j];
            lm = loss_at(&m, tok, tgt, B, T, &o, &hm);
            if (hp == out.routing_hash && hm == out.routing_hash) break;
        }
        memcpy(p, save, sizeof(float) * v->numel);
        double fd = (lp - lm) / (2 * eps);
        double err = fabs(fd - gv) / fmax(fabs(gv), 1e-3);
        if (err > 5e-2 && fabs(fd - gv) > 2e-4) {
            printf("  %s: finite difference %.6g vs gradient %.6g (rel err %.3g)\n", v->name, fd, gv, err);
            bad++;
        }
        free(dir); free(save);
    }
    CHECK(bad == 0, "%d tensors with mismatching gradients (config v%d rq=%d groups=%d)", bad, c.version, c.q_lora_rank, c.n_group);
    free(g);
    model_free(&m);
}

TEST(gradcheck_v3_all_pieces) { gradcheck(small_config(3, 12, 4, 1, 1, 0), 0.01f, 0.3f, 11); }
TEST(gradcheck_v3_no_query_compression_yarn) { gradcheck(small_config(3, 0, 1, 2, 0, 1), 0.0f, 0.0f, 12); }
TEST(gradcheck_v2_softmax_group_limited) { gradcheck(small_config(2, 12, 2, 2, 0, 1), 0.003f, 0.0f, 13); }
TEST(gradcheck_v2_greedy_no_shared_mtp) { gradcheck(small_config(2, 0, 1, 0, 1, 0), 0.01f, 0.5f, 14); }
TEST(gradcheck_mha_ablation) {
    Config c = small_config(3, 0, 2, 1, 1, 1);
    c.attn_mha = 1;
    gradcheck(c, 0.01f, 0.3f, 15);
}

// Spec §13.7: uniform routing and uniform affinities give Σ f_i P_i = 1.
TEST(balance_loss_is_one_when_uniform) {
    Config c = small_config(3, 0, 1, 0, 0, 0);
    c.n_routed_experts = 4; c.num_experts_per_tok = 2; c.num_hidden_layers = 2; c.first_k_dense_replace = 1;
    Model m;
    CHECK(model_create(&c, &m) == 0, "%s", last_error());
    model_init_random(&m, 5, 0.02f);
    memset(m.lw[1].router, 0, sizeof(float) * 4 * c.hidden_size);   // all affinities equal
    // bias makes each token pick a different pair in turn: alternate between {0,1} and {2,3}
    int32_t tok[8] = {1, 2, 3, 4, 5, 6, 7, 8}, tgt[8] = {2, 3, 4, 5, 6, 7, 8, 9};
    StepOpts o = {0, 0, 1.0f, NULL};
    StepOut out;
    m.lw[1].router_bias[0] = m.lw[1].router_bias[1] = 0.1f;
    CHECK(model_step(&m, tok, tgt, 1, 8, &o, &out) == 0, "%s", last_error());
    // all tokens pick {0,1}: f = (2,2,0,0), P = (1/4 each) -> Σ f P = 1 as well
    CHECK(fabs(out.balance_loss - 1.0) < 1e-5, "balance %g", out.balance_loss);
    CHECK(out.expert_load[4 + 0] == 8 && out.expert_load[4 + 2] == 0, "load %d %d", out.expert_load[4], out.expert_load[6]);
    // the bias update lowers the overloaded experts by exactly gamma (spec §13.6)
    float b0 = m.lw[1].router_bias[0], b2 = m.lw[1].router_bias[2];
    model_update_router_bias(&m, out.expert_load, 0.001f);
    CHECK(fabsf(m.lw[1].router_bias[0] - (b0 - 0.001f)) < 1e-7f && fabsf(m.lw[1].router_bias[2] - (b2 + 0.001f)) < 1e-7f,
          "bias %g %g", m.lw[1].router_bias[0], m.lw[1].router_bias[2]);
    model_free(&m);
}

// Router invariants (spec §13.5): K distinct experts within topk_group groups; gates sum to the routed scale.
TEST(router_invariants) {
    Config c = small_config(3, 0, 4, 1, 0, 0);
    c.n_routed_experts = 16; c.num_experts_per_tok = 4; c.n_group = 4; c.topk_group = 2;
    Model m;
    CHECK(model_create(&c, &m) == 0, "%s", last_error());
    model_init_random(&m, 9, 0.3f);
    Rng r; rng_seed(&r, 3);
    for (int e = 0; e < 16; e++) m.lw[1].router_bias[e] = 0.3f * rng_normal(&r);
    int N = 50, D = c.hidden_size;
    float *u = xmalloc(sizeof(float) * N * D), *s = xmalloc(sizeof(float) * N * 16), gates[200];
    int32_t topk[200];
    for (int i = 0; i < N * D; i++) u[i] = rng_normal(&r);
    extern void moe_train_route(const Config *, const float *, const float *, const float *, int, float *, int32_t *, float *);
    moe_train_route(&c, m.lw[1].router, m.lw[1].router_bias, u, N, s, topk, gates);
    int ok = 1;
    for (int n = 0; n < N; n++) {
        double sum = 0; int groups[4] = {0};
        for (int k = 0; k < 4; k++) {
            sum += gates[n * 4 + k]; groups[topk[n * 4 + k] / 4] = 1;
            for (int j = 0; j < k; j++) ok &= topk[n * 4 + j] != topk[n * 4 + k];
        }
        ok &= groups[0] + groups[1] + groups[2] + groups[3] <= 2;
        ok &= fabs(sum - 2.5) < 1e-5;
    }
    CHECK(ok, "router invariants violated");
    free(u); free(s);
    model_free(&m);
}

TEST(save_load_round_trip) {
    Config c = small_config(3, 12, 2, 1, 1, 1);
    Model m, m2;
    CHECK(model_create(&c, &m) == 0, "%s", last_error());
    model_init_random(&m, 21, 0.1f);
    char dir[128];
    snprintf(dir, sizeof dir, "/tmp/deepc_test_model_%d", (int)getpid());
    CHECK(model_save(&m, dir, 0) == 0, "%s", last_error());
    CHECK(model_load(dir, &m2) == 0, "%s", last_error());
    CHECK(m2.n_params == m.n_params && !memcmp(m.params, m2.params, sizeof(float) * m.n_params), "weights differ after reload");
    CHECK(m2.c.num_nextn_predict_layers == 1 && m2.c.yarn == 1, "config differs after reload");
    model_free(&m2);
    CHECK(model_save(&m, dir, 1) == 0, "%s", last_error());       // BF16
    CHECK(model_load(dir, &m2) == 0, "%s", last_error());
    double e = 0;
    for (size_t i = 0; i < m.n_params; i++) e = fmax(e, fabs(m.params[i] - m2.params[i]) / (fabs(m.params[i]) + 1e-6));
    CHECK(e < 1.0 / 128, "bf16 relative error %g", e);
    model_free(&m2);
    io_rm_rf(dir);
    model_free(&m);
}

TEST(missing_tensor_is_named) {
    Config c = small_config(3, 0, 1, 1, 0, 0);
    Model m, m2;
    model_create(&c, &m);
    model_init_random(&m, 1, 0.1f);
    char dir[128];
    snprintf(dir, sizeof dir, "/tmp/deepc_test_model_bad_%d", (int)getpid());
    CHECK(model_save(&m, dir, 0) == 0, "%s", last_error());
    // a config claiming more layers than the weights have
    Config c2 = c; c2.num_hidden_layers = 3;
    char *cfg = path_join(dir, "config.json");
    config_save(cfg, &c2);
    CHECK(model_load(dir, &m2) < 0 && strstr(last_error(), "model.layers.2."), "message: %s", last_error());
    // a config with another width
    c2 = c; c2.hidden_size = 32;
    config_save(cfg, &c2);
    CHECK(model_load(dir, &m2) < 0 && strstr(last_error(), "shape"), "message: %s", last_error());
    free(cfg);
    io_rm_rf(dir);
    model_free(&m);
}

// The causal attention core (row/column blocks, packed keys) against the textbook
// formulas in double, forward and backward, at lengths around the block size and
// for a shared rope key (MLA) and per-head rope keys (MHA).
static double attn_case(int B, int T, int H, int shared_key, Rng *r) {
    int dn = 8, dr = 4, dv = 6, qw = H * (dn + dr), kvw = H * (dn + dv), ow = H * dv;
    int ld = shared_key ? dr : H * dr, hs = shared_key ? 0 : dr;
    AttnShape s = {B, T, H, dn, dr, dv, 0.37f, ld, hs};
    size_t N = (size_t)B * T;
    float *q = xmalloc(sizeof(float) * N * qw), *kv = xmalloc(sizeof(float) * N * kvw), *kpe = xmalloc(sizeof(float) * N * ld);
    float *dO = xmalloc(sizeof(float) * N * ow), *o = xmalloc(sizeof(float) * N * ow);
    float *P = xmalloc(sizeof(float) * (size_t)B * H * T * T), *dq = xmalloc(sizeof(float) * N * qw);
    float *dkv = xmalloc(sizeof(float) * N * kvw), *dpe = xmalloc(sizeof(float) * N * H * dr);
    float *sc = xmalloc(sizeof(float) * attn_core_scratch_floats(&s));
    for (size_t i = 0; i < N * qw; i++) q[i] = 2 * rng_normal(r);
    for (size_t i = 0; i < N * kvw; i++) kv[i] = rng_normal(r);
    for (size_t i = 0; i < N * ld; i++) kpe[i] = rng_normal(r);
    for (size_t i = 0; i < N * ow; i++) dO[i] = rng_normal(r);
    attn_core_fwd(&s, q, kv, kpe, P, o);
    attn_core_bwd(&s, q, kv, kpe, P, dO, dq, dkv, dpe, sc);
    double worst = 0;
    double *S = xmalloc(sizeof(double) * T * T), *dP = xmalloc(sizeof(double) * T * T);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            #define Q(i, k) q[((size_t)b * T + (i)) * qw + h * (dn + dr) + (k)]          /* k < dn+dr */
            #define KN(j, k) kv[((size_t)b * T + (j)) * kvw + h * (dn + dv) + (k)]       /* k < dn */
            #define VV(j, k) kv[((size_t)b * T + (j)) * kvw + h * (dn + dv) + dn + (k)]  /* k < dv */
            #define KP(j, k) kpe[((size_t)b * T + (j)) * ld + h * hs + (k)]
            #define DO(i, k) dO[((size_t)b * T + (i)) * ow + h * dv + (k)]
            for (int i = 0; i < T; i++) {
                double mx = -1e300, sum = 0;
                for (int j = 0; j <= i; j++) {
                    double d = 0;
                    for (int k = 0; k < dn; k++) d += (double)Q(i, k) * KN(j, k);
                    for (int k = 0; k < dr; k++) d += (double)Q(i, dn + k) * KP(j, k);
                    S[i * T + j] = 0.37 * d;
                    if (S[i * T + j] > mx) mx = S[i * T + j];
                }
                for (int j = 0; j <= i; j++) sum += (S[i * T + j] = exp(S[i * T + j] - mx));
                for (int j = 0; j <= i; j++) S[i * T + j] /= sum;
                for (int k = 0; k < dv; k++) {
                    double a = 0;
                    for (int j = 0; j <= i; j++) a += S[i * T + j] * VV(j, k);
                    worst = fmax(worst, fabs(a - o[((size_t)b * T + i) * ow + h * dv + k]));
                }
                double rs = 0;
                for (int j = 0; j <= i; j++) {
                    double d = 0;
                    for (int k = 0; k < dv; k++) d += (double)DO(i, k) * VV(j, k);
                    dP[i * T + j] = d;
                    rs += d * S[i * T + j];
                }
                for (int j = 0; j <= i; j++) dP[i * T + j] = 0.37 * S[i * T + j] * (dP[i * T + j] - rs);   // dS·scale
            }
            for (int i = 0; i < T; i++) {
                for (int k = 0; k < dn + dr; k++) {   // dq
                    double a = 0;
                    for (int j = 0; j <= i; j++) a += dP[i * T + j] * (k < dn ? KN(j, k) : KP(j, k - dn));
                    worst = fmax(worst, fabs(a - dq[((size_t)b * T + i) * qw + h * (dn + dr) + k]));
                }
                int j = i;   // dk, dk_pe, dv of key j
                for (int k = 0; k < dn + dr; k++) {
                    double a = 0;
                    for (int ii = j; ii < T; ii++) a += dP[ii * T + j] * Q(ii, k);
                    float got = k < dn ? dkv[((size_t)b * T + j) * kvw + h * (dn + dv) + k]
                                       : dpe[(((size_t)b * H + h) * T + j) * dr + k - dn];
                    worst = fmax(worst, fabs(a - got));
                }
                for (int k = 0; k < dv; k++) {
                    double a = 0;
                    for (int ii = j; ii < T; ii++) a += S[ii * T + j] * DO(ii, k);
                    worst = fmax(worst, fabs(a - dkv[((size_t)b * T + j) * kvw + h * (dn + dv) + dn + k]));
                }
            }
            #undef Q
            #undef KN
            #undef VV
            #undef KP
            #undef DO
        }
    free(S); free(dP); free(q); free(kv); free(kpe); free(dO); free(o); free(P); free(dq); free(dkv); free(dpe); free(sc);
    return worst;
}

TEST(attention_core_matches_textbook_causal) {
    Rng r;
    rng_seed(&r, (uint64_t)time(NULL) ^ 0xa77e);
    int Ts[] = {1, 2, 63, 64, 65, 150};
    for (size_t i = 0; i < sizeof Ts / sizeof *Ts; i++)
        for (int shared = 0; shared < 2; shared++) {
            double w = attn_case(2, Ts[i], 3, shared, &r);
            CHECK(w < 2e-4, "T=%d shared_key=%d: max abs error %g", Ts[i], shared, w);
        }
}

int main(void) {
    RUN(gradcheck_v3_all_pieces);
    RUN(gradcheck_v3_no_query_compression_yarn);
    RUN(gradcheck_v2_softmax_group_limited);
    RUN(gradcheck_v2_greedy_no_shared_mtp);
    RUN(gradcheck_mha_ablation);
    RUN(balance_loss_is_one_when_uniform);
    RUN(router_invariants);
    RUN(save_load_round_trip);
    RUN(missing_tensor_is_named);
    RUN(attention_core_matches_textbook_causal);
    return test_summary();
}
