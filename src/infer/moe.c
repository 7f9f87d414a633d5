// moe.c — router, grouped experts, shared experts (see moe.h).
#include "infer/moe.h"
#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "base/check.h"
#include "base/team.h"
#include "kernels/swiglu.h"

#define MOE_FEW_TOKENS 4   // up to this many tokens the shared experts join the experts' parallel loop

void ffn_forward(const Lin *g, const Lin *u, const Lin *d, const float *x, int N, float *out) {
    int Iw = g->rows;
    float *a = xmalloc(sizeof(float) * (size_t)N * Iw), *b = xmalloc(sizeof(float) * (size_t)N * Iw);  // [N, I]
    const QMatrix *w2[2] = {&g->q, &u->q};              // gate and up share x: one pass, A8 quantized once
    float *y2[2] = {a, b};
    qmat_matmul_multi(w2, 2, x, N, y2);
    swiglu_fwd(a, a, b, (long)N * Iw);                  // a = silu(a) · b (vectorized exp)
    lin_apply(d, a, N, out);
    free(a); free(b);
}

// Index of the largest v[i] over i with ok[i] (first on ties), or -1.
static int argmax_masked(const float *v, const unsigned char *ok, int n) {
    int best = -1;
    for (int i = 0; i < n; i++)
        if (ok[i] && (best < 0 || v[i] > v[best])) best = i;
    return best;
}

void moe_route(const Config *c, const float *router, const float *bias, const float *x, int N, int *idx, float *w) {
    int E = c->n_routed_experts, D = c->hidden_size, K = c->num_experts_per_tok;
    int G = c->n_group > 0 ? c->n_group : 1, TG = c->topk_group > 0 ? c->topk_group : G, per = E / G;
    float *z = xmalloc(sizeof(float) * (size_t)N * E);   // [N, E] router logits, FP32
    QMatrix rw;                                          // few tokens: the FP32 matvec kernel (no GEMM packing)
    if (N <= MOE_FEW_TOKENS && qmat_view(&rw, QT_F32, E, D, router, NULL) == 0) qmat_matmul(&rw, x, N, z);
    else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, E, D, 1.0f, x, D, router, D, 0.0f, z, E);
    float *s = xmalloc(sizeof(float) * E), *sel = xmalloc(sizeof(float) * E), *gs = xmalloc(sizeof(float) * G);
    unsigned char *ok = xmalloc(E), *gok = xmalloc(G), *gpick = xmalloc(G);
    for (int t = 0; t < N; t++) {
        const float *zt = z + (size_t)t * E;
        if (c->scoring_func == SCORE_SIGMOID) {
            for (int e = 0; e < E; e++) s[e] = 1.0f / (1.0f + expf(-zt[e]));
        } else {
            float mx = -INFINITY;
            for (int e = 0; e < E; e++) if (zt[e] > mx) mx = zt[e];
            double sum = 0;
            for (int e = 0; e < E; e++) { s[e] = expf(zt[e] - mx); sum += s[e]; }
            for (int e = 0; e < E; e++) s[e] = (float)(s[e] / sum);
        }
        for (int e = 0; e < E; e++) { sel[e] = s[e] + (bias && c->topk_method == TOPK_NOAUX_TC ? bias[e] : 0.0f); ok[e] = 1; }
        if (c->topk_method != TOPK_GREEDY && G > 1) {
            // Group score: sum of the top-2 (noaux_tc) or the max (group_limited_greedy) per group.
            for (int g = 0; g < G; g++) {
                float b1 = -INFINITY, b2 = -INFINITY;
                for (int e = g * per; e < (g + 1) * per; e++) {
                    float v = sel[e];
                    if (v > b1) { b2 = b1; b1 = v; } else if (v > b2) b2 = v;
                }
                gs[g] = c->topk_method == TOPK_NOAUX_TC ? b1 + (per > 1 ? b2 : 0.0f) : b1;
                gok[g] = 1; gpick[g] = 0;
            }
            for (int k = 0; k < TG && k < G; k++) {
                int g = argmax_masked(gs, gok, G);
                gok[g] = 0; gpick[g] = 1;
            }
            for (int e = 0; e < E; e++) ok[e] = gpick[e / per];   // other groups: -inf, never chosen
        }
        double sum = 0;
        for (int k = 0; k < K; k++) {
            int e = argmax_masked(sel, ok, E);
            ok[e] = 0;
            idx[(size_t)t * K + k] = e;
            w[(size_t)t * K + k] = s[e];
            sum += s[e];
        }
        for (int k = 0; k < K; k++) {
            float g = w[(size_t)t * K + k];
            if (c->norm_topk_prob && K > 1) g = (float)(g / (sum + 1e-20));
            w[(size_t)t * K + k] = g * c->routed_scaling_factor;
        }
    }
    free(z); free(s); free(sel); free(gs); free(ok); free(gok); free(gpick);
}

// The routed experts with tokens (and the shared experts as item 0 when shared_in_loop), one work item each,
// handed to the threads one at a time through a shared counter (items differ in size). Each item writes
// its own rows of y (or out), so the result does not depend on which thread took it.
typedef struct {
    const InferLayer *ly;
    const float *x;                      // [N, D] the layer's input rows
    float *out;                          // [N, D] the shared experts' output (item 0 when shared_in_loop)
    float *y;                            // [N*K, D] per (token, slot) expert outputs
    const int *start, *order, *active;   // pairs of expert e: order[start[e] .. start[e+1]); active experts
    int N, nwork, shared_in_loop, K, D;
    _Atomic int next;                    // next work item
} ExpertsJob;

static void experts_job(void *ctx, int id, int nt) {
    (void)id; (void)nt;
    ExpertsJob *J = ctx;
    const InferLayer *ly = J->ly;
    int K = J->K, D = J->D;
    for (int a; (a = atomic_fetch_add_explicit(&J->next, 1, memory_order_relaxed)) < J->nwork;) {
        if (J->shared_in_loop && a == 0) { ffn_forward(&ly->sg, &ly->su, &ly->sd, J->x, J->N, J->out); continue; }
        int e = J->active[a - J->shared_in_loop], ne = J->start[e + 1] - J->start[e];
        const int *ord = J->order + J->start[e];
        float *xe = xmalloc(sizeof(float) * (size_t)ne * D), *ye = xmalloc(sizeof(float) * (size_t)ne * D);   // [ne, D]
        for (int j = 0; j < ne; j++) memcpy(xe + (size_t)j * D, J->x + (size_t)(ord[j] / K) * D, sizeof(float) * D);
        ffn_forward(&ly->eg[e], &ly->eu[e], &ly->ed[e], xe, ne, ye);
        for (int j = 0; j < ne; j++) memcpy(J->y + (size_t)ord[j] * D, ye + (size_t)j * D, sizeof(float) * D);
        free(xe); free(ye);
    }
}

void moe_forward(const InferModel *m, const InferLayer *ly, const float *x, int N, float *out) {
    const Config *c = &m->c;
    int E = c->n_routed_experts, D = c->hidden_size, K = c->num_experts_per_tok;
    int *idx = xmalloc(sizeof(int) * (size_t)N * K);
    float *w = xmalloc(sizeof(float) * (size_t)N * K);
    moe_route(c, ly->router, ly->router_bias, x, N, idx, w);
    // Group (token, slot) pairs by expert: order[start[e] .. start[e+1]).
    int *start = xcalloc((size_t)E + 1, sizeof(int)), *order = xmalloc(sizeof(int) * (size_t)N * K);
    for (int i = 0; i < N * K; i++) start[idx[i] + 1]++;
    for (int e = 0; e < E; e++) start[e + 1] += start[e];
    int *fill = xmalloc(sizeof(int) * (size_t)E);
    memcpy(fill, start, sizeof(int) * E);
    for (int i = 0; i < N * K; i++) order[fill[idx[i]]++] = i;
    int *active = xmalloc(sizeof(int) * (size_t)E), na = 0;
    for (int e = 0; e < E; e++) if (start[e + 1] > start[e]) active[na++] = e;
    float *y = xmalloc(sizeof(float) * (size_t)N * K * D);   // [N*K, D] per (token, slot) expert outputs
    // Few tokens (decode): the shared experts are one more work item of the same parallel step, taken
    // first (it is the largest), so each thread streams whole experts and the layer has one parallel step.
    // Many tokens: the shared experts afterwards, parallel inside their matmuls.
    int shared_in_loop = c->n_shared_experts > 0 && N <= MOE_FEW_TOKENS;
    ExpertsJob J = {ly, x, out, y, start, order, active, N, na + shared_in_loop, shared_in_loop, K, D, 0};
    team_run(1, experts_job, &J);
    if (c->n_shared_experts > 0) { if (!shared_in_loop) ffn_forward(&ly->sg, &ly->su, &ly->sd, x, N, out); }
    else memset(out, 0, sizeof(float) * (size_t)N * D);
    for (int t = 0; t < N; t++)
        for (int k = 0; k < K; k++) {
            float g = w[(size_t)t * K + k];
            const float *yr = y + ((size_t)t * K + k) * D;
            float *o = out + (size_t)t * D;
            for (int i = 0; i < D; i++) o[i] += g * yr[i];
        }
    free(idx); free(w); free(start); free(order); free(fill); free(active); free(y);
}
