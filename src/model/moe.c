// moe.c — DeepSeekMoE forward/backward, router, balance loss, dense SwiGLU FFN.
#include "model/moe.h"
#include "base/check.h"
#include "kernels/gemm.h"
#include "kernels/swiglu.h"
#include "kernels/vmath.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN(x) (((x) + 63) & ~(size_t)63)

size_t moe_acts_bytes(const Config *c, int N) {
    size_t E = c->n_routed_experts, K = c->num_experts_per_tok, Im = c->moe_intermediate_size;
    size_t D = c->hidden_size, SI = (size_t)c->n_shared_experts * Im, NK = (size_t)N * K;
    return ALIGN(N * E * 4) + ALIGN(NK * 4) + ALIGN(NK * 4) + ALIGN(NK * 4) + ALIGN(NK * 4) + ALIGN((E + 1) * 4) +
           2 * ALIGN(NK * Im * 4) + 2 * ALIGN(NK * D * 4) + 2 * ALIGN(N * SI * 4);
}

void moe_acts_bind(const Config *c, int N, void *mem, MoeActs *a) {
    size_t E = c->n_routed_experts, K = c->num_experts_per_tok, Im = c->moe_intermediate_size;
    size_t D = c->hidden_size, SI = (size_t)c->n_shared_experts * Im, NK = (size_t)N * K;
    char *m = mem;
    a->scores = (float *)m; m += ALIGN(N * E * 4);
    a->topk = (int32_t *)m; m += ALIGN(NK * 4);
    a->gates = (float *)m; m += ALIGN(NK * 4);
    a->slot_row = (int32_t *)m; m += ALIGN(NK * 4);
    a->row_slot = (int32_t *)m; m += ALIGN(NK * 4);
    a->start = (int32_t *)m; m += ALIGN((E + 1) * 4);
    a->a = (float *)m; m += ALIGN(NK * Im * 4);
    a->b = (float *)m; m += ALIGN(NK * Im * 4);
    a->ye = (float *)m; m += ALIGN(NK * D * 4);
    a->x = (float *)m; m += ALIGN(NK * D * 4);
    a->sa = (float *)m; m += ALIGN(N * SI * 4);
    a->sb = (float *)m;
}

// Route one token: s[E] affinities -> topk[K], gates[K].
static void route_token(const Config *c, const float *s, const float *bias, int32_t *topk, float *gates) {
    int E = c->n_routed_experts, K = c->num_experts_per_tok;
    float sel[1024];
    ASSERT(E <= 1024);
    for (int e = 0; e < E; e++) sel[e] = s[e] + (bias && c->topk_method == TOPK_NOAUX_TC ? bias[e] : 0.0f);
    int G = c->n_group;
    if (G > 1 && c->topk_method != TOPK_GREEDY && c->topk_group < G) {
        int per = E / G;
        float gs[256];
        for (int g = 0; g < G; g++) {
            const float *x = sel + g * per;
            if (c->topk_method == TOPK_NOAUX_TC) {  // sum of the two largest
                float m1 = -INFINITY, m2 = -INFINITY;
                for (int i = 0; i < per; i++) {
                    if (x[i] > m1) { m2 = m1; m1 = x[i]; } else if (x[i] > m2) m2 = x[i];
                }
                gs[g] = per >= 2 ? m1 + m2 : m1;
            } else {                                 // max
                float m1 = -INFINITY;
                for (int i = 0; i < per; i++) if (x[i] > m1) m1 = x[i];
                gs[g] = m1;
            }
        }
        unsigned char keep[256] = {0};
        for (int r = 0; r < c->topk_group; r++) {
            int best = -1;
            for (int g = 0; g < G; g++) if (!keep[g] && (best < 0 || gs[g] > gs[best])) best = g;
            keep[best] = 1;
        }
        for (int g = 0; g < G; g++)
            if (!keep[g]) for (int i = 0; i < per; i++) sel[g * per + i] = -INFINITY;
    }
    for (int k = 0; k < K; k++) {
        int best = -1;
        for (int e = 0; e < E; e++) {
            int taken = 0;
            for (int j = 0; j < k; j++) taken |= topk[j] == e;
            if (!taken && (best < 0 || sel[e] > sel[best])) best = e;
        }
        topk[k] = best;
        gates[k] = s[best];
    }
    if (c->norm_topk_prob) {
        double sum = 0;
        for (int k = 0; k < K; k++) sum += gates[k];
        for (int k = 0; k < K; k++) gates[k] = (float)(gates[k] / (sum + 1e-20));
    }
    for (int k = 0; k < K; k++) gates[k] *= c->routed_scaling_factor;
}

void moe_train_route(const Config *c, const float *router, const float *bias, const float *u, int N,
               float *scores, int32_t *topk, float *gates) {
    int E = c->n_routed_experts, K = c->num_experts_per_tok, D = c->hidden_size;
    linear_fwd(scores, u, router, N, D, E, 0);                       // logits [N, E]
    #pragma omp parallel for if ((long)N * E > 8192)
    for (int n = 0; n < N; n++) {
        float *s = scores + (long)n * E;
        if (c->scoring_func == SCORE_SIGMOID) {
            vm_sigmoid(s, s, E);
        } else {
            double sum = vm_exp_shift(s, s, vm_max(s, E), E);
            for (int e = 0; e < E; e++) s[e] = (float)(s[e] / sum);
        }
        route_token(c, s, bias, topk + (long)n * K, gates + (long)n * K);
    }
}

void ffn_train_forward(const float *gate, const float *up, const float *down, const float *u, int N, int D, int I,
                 float *a, float *b, float *h, float *y, float beta) {
    linear_fwd(a, u, gate, N, D, I, 0);      // [N, I]
    linear_fwd(b, u, up, N, D, I, 0);        // [N, I]
    swiglu_fwd(h, a, b, (long)N * I);
    linear_fwd(y, h, down, N, I, D, beta);   // [N, D]
}

void ffn_train_backward(const float *gate, const float *up, const float *down, float *ggate, float *gup, float *gdown,
                  const float *u, const float *a, const float *b, const float *dy, int N, int D, int I,
                  float *h, float *dh, float *da, float *db, float *du, float du_beta) {
    linear_bwd_x(dh, dy, down, N, I, D, 0);
    swiglu_bwd(da, db, h, dh, a, b, (long)N * I);   // also recomputes h = silu(a) ⊙ b
    linear_bwd_w(gdown, dy, h, N, I, D);
    linear_bwd_w(ggate, da, u, N, D, I);
    linear_bwd_w(gup, db, u, N, D, I);
    linear_bwd_x(du, da, gate, N, D, I, du_beta);
    linear_bwd_x(du, db, up, N, D, I, 1);
}

double moe_train_forward(const Config *c, const LayerW *w, const float *u, int B, int T, MoeActs *a,
                   float *y, int32_t *load) {
    int N = B * T, E = c->n_routed_experts, K = c->num_experts_per_tok, D = c->hidden_size;
    int Im = c->moe_intermediate_size, SI = c->n_shared_experts * Im;
    moe_train_route(c, w->router, w->router_bias, u, N, a->scores, a->topk, a->gates);
    // counting sort of the (token, slot) pairs by expert
    memset(a->start, 0, sizeof(int32_t) * (E + 1));
    for (int i = 0; i < N * K; i++) a->start[a->topk[i] + 1]++;
    for (int e = 0; e < E; e++) a->start[e + 1] += a->start[e];
    for (int e = 0; e < E; e++) load[e] += a->start[e + 1] - a->start[e];
    int32_t *fill = xmalloc(sizeof(int32_t) * E);
    memcpy(fill, a->start, sizeof(int32_t) * E);
    for (int i = 0; i < N * K; i++) {
        int r = fill[a->topk[i]]++;
        a->slot_row[i] = r;
        a->row_slot[r] = i;
    }
    free(fill);
    // experts in parallel; each gathers its tokens, runs its SwiGLU with BLAS
    #pragma omp parallel
    {
        float *H = NULL;
        size_t cap = 0;
        #pragma omp for schedule(dynamic)
        for (int e = 0; e < E; e++) {
            int r0 = a->start[e], ne = a->start[e + 1] - r0;
            if (ne == 0) continue;
            if ((size_t)ne > cap) {
                cap = ne;
                H = xrealloc(H, sizeof(float) * cap * Im);
            }
            float *X = a->x + (long)r0 * D;   // [ne, D] this expert's input rows, kept for the backward
            for (int r = 0; r < ne; r++) memcpy(X + (long)r * D, u + (long)(a->row_slot[r0 + r] / K) * D, sizeof(float) * D);
            ffn_train_forward(w->ex_gate + (long)e * Im * D, w->ex_up + (long)e * Im * D, w->ex_down + (long)e * D * Im,
                        X, ne, D, Im, a->a + (long)r0 * Im, a->b + (long)r0 * Im, H, a->ye + (long)r0 * D, 0);
        }
        free(H);
    }
    // shared experts, then the gated sum of the routed outputs
    if (SI > 0) {
        float *h = xmalloc(sizeof(float) * (size_t)N * SI);
        ffn_train_forward(w->sh_gate, w->sh_up, w->sh_down, u, N, D, SI, a->sa, a->sb, h, y, 0);
        free(h);
    } else {
        memset(y, 0, sizeof(float) * (size_t)N * D);
    }
    #pragma omp parallel for if ((long)N * K * D > 32768)
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            float g = a->gates[(long)n * K + k];
            const float *ye = a->ye + (long)a->slot_row[(long)n * K + k] * D;
            float *yr = y + (long)n * D;
            for (int i = 0; i < D; i++) yr[i] += g * ye[i];
        }
    // sequence-wise balance term: mean over sequences of Σ_i f_i P_i
    double bal = 0;
    float *f = xcalloc(E, sizeof(float)), *P = xcalloc(E, sizeof(float));
    for (int b = 0; b < B; b++) {
        memset(f, 0, sizeof(float) * E);
        memset(P, 0, sizeof(float) * E);
        for (int t = 0; t < T; t++) {
            long n = (long)b * T + t;
            for (int k = 0; k < K; k++) f[a->topk[n * K + k]] += 1;
            const float *s = a->scores + n * E;
            double sum = 0;
            for (int e = 0; e < E; e++) sum += s[e];
            for (int e = 0; e < E; e++) P[e] += (float)(c->scoring_func == SCORE_SIGMOID ? s[e] / sum : s[e]);
        }
        double lb = 0;
        for (int e = 0; e < E; e++) lb += ((double)E / ((double)K * T) * f[e]) * (P[e] / T);
        bal += lb;
    }
    free(f); free(P);
    return bal / B;
}

size_t moe_scratch_floats(const Config *c, int N) {
    size_t K = c->num_experts_per_tok, D = c->hidden_size, E = c->n_routed_experts;
    size_t SI = (size_t)c->n_shared_experts * c->moe_intermediate_size;
    // dxe [N*K, D], dg [N, K], ds [N, E], shared-expert scratch 4 x [N, SI]
    return N * K * D + N * K + N * E + 4 * N * SI;
}

void moe_train_backward(const Config *c, const LayerW *w, LayerW *g, const float *u, int B, int T,
                  const MoeActs *a, const float *dy, float alpha, float *du, float *scratch) {
    int N = B * T, E = c->n_routed_experts, K = c->num_experts_per_tok, D = c->hidden_size;
    int Im = c->moe_intermediate_size, SI = c->n_shared_experts * Im;
    float *dxe = scratch;                          // [N*K, D] input grads per row (expert order)
    float *dg = dxe + (size_t)N * K * D;           // [N, K]
    float *ds = dg + (size_t)N * K;                // [N, E]
    float *sh = ds + (size_t)N * E;                // 4 x [N, SI]
    if (SI > 0)
        ffn_train_backward(w->sh_gate, w->sh_up, w->sh_down, g->sh_gate, g->sh_up, g->sh_down, u, a->sa, a->sb, dy,
                     N, D, SI, sh, sh + (size_t)N * SI, sh + 2 * (size_t)N * SI, sh + 3 * (size_t)N * SI, du, 1);
    // gate gradients: dg = <dy, ye>
    #pragma omp parallel for if ((long)N * K * D > 32768)
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            const float *ye = a->ye + (long)a->slot_row[(long)n * K + k] * D, *d = dy + (long)n * D;
            double s = 0;
            for (int i = 0; i < D; i++) s += (double)d[i] * ye[i];
            dg[(long)n * K + k] = (float)s;
        }
    // experts in parallel: each owns its weight gradients and its rows of dxe
    #pragma omp parallel
    {
        float *dY = NULL, *H = NULL, *dH = NULL, *dA = NULL, *dB = NULL;
        size_t cap = 0;
        #pragma omp for schedule(dynamic)
        for (int e = 0; e < E; e++) {
            int r0 = a->start[e], ne = a->start[e + 1] - r0;
            if (ne == 0) continue;
            if ((size_t)ne > cap) {
                cap = ne;
                dY = xrealloc(dY, sizeof(float) * cap * D);
                H = xrealloc(H, sizeof(float) * cap * Im);
                dH = xrealloc(dH, sizeof(float) * cap * Im);
                dA = xrealloc(dA, sizeof(float) * cap * Im);
                dB = xrealloc(dB, sizeof(float) * cap * Im);
            }
            for (int r = 0; r < ne; r++) {
                int slot = a->row_slot[r0 + r], n = slot / K;
                float gv = a->gates[slot];
                for (int i = 0; i < D; i++) dY[(long)r * D + i] = gv * dy[(long)n * D + i];
            }
            float *dX = dxe + (long)r0 * D;   // [ne, D] overwritten (du_beta 0)
            ffn_train_backward(w->ex_gate + (long)e * Im * D, w->ex_up + (long)e * Im * D, w->ex_down + (long)e * D * Im,
                         g->ex_gate + (long)e * Im * D, g->ex_up + (long)e * Im * D, g->ex_down + (long)e * D * Im,
                         a->x + (long)r0 * D, a->a + (long)r0 * Im, a->b + (long)r0 * Im, dY, ne, D, Im, H, dH, dA, dB,
                         dX, 0);
        }
        free(dY); free(H); free(dH); free(dA); free(dB);
    }
    // gather the routed input gradients back to tokens
    #pragma omp parallel for if ((long)N * K * D > 32768)
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            const float *src = dxe + (long)a->slot_row[(long)n * K + k] * D;
            float *d = du + (long)n * D;
            for (int i = 0; i < D; i++) d[i] += src[i];
        }
    // router: gate values -> affinities (+ balance loss) -> logits
    float R = c->routed_scaling_factor;
    float *fcoef = xcalloc((size_t)B * E, sizeof(float));   // α/B · f_i / T per sequence
    if (alpha != 0) {
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int k = 0; k < K; k++) fcoef[(long)b * E + a->topk[((long)b * T + t) * K + k]] += 1;
        for (long i = 0; i < (long)B * E; i++)
            fcoef[i] = (float)((double)alpha / B * ((double)E / ((double)K * T) * fcoef[i]) / T);
    }
    #pragma omp parallel for if ((long)N * E > 8192)
    for (int n = 0; n < N; n++) {
        const float *s = a->scores + (long)n * E;
        const int32_t *tk = a->topk + (long)n * K;
        const float *dgn = dg + (long)n * K;
        float *dsn = ds + (long)n * E;
        memset(dsn, 0, sizeof(float) * E);
        if (c->norm_topk_prob) {
            double sum = 0, dot = 0;
            for (int k = 0; k < K; k++) sum += s[tk[k]];
            sum += 1e-20;
            for (int k = 0; k < K; k++) dot += (double)dgn[k] * s[tk[k]];
            for (int k = 0; k < K; k++) dsn[tk[k]] += (float)(R / sum * (dgn[k] - dot / sum));
        } else {
            for (int k = 0; k < K; k++) dsn[tk[k]] += R * dgn[k];
        }
        if (alpha != 0) {
            const float *cf = fcoef + (long)(n / T) * E;
            if (c->scoring_func == SCORE_SIGMOID) {   // P uses s' = s / Σ s
                double sum = 0, dot = 0;
                for (int e = 0; e < E; e++) sum += s[e];
                for (int e = 0; e < E; e++) dot += (double)cf[e] * s[e] / sum;
                for (int e = 0; e < E; e++) dsn[e] += (float)((cf[e] - dot) / sum);
            } else {
                for (int e = 0; e < E; e++) dsn[e] += cf[e];
            }
        }
        // affinities -> logits (in place)
        if (c->scoring_func == SCORE_SIGMOID) {
            for (int e = 0; e < E; e++) dsn[e] *= s[e] * (1 - s[e]);
        } else {
            double dot = 0;
            for (int e = 0; e < E; e++) dot += (double)dsn[e] * s[e];
            for (int e = 0; e < E; e++) dsn[e] = (float)(s[e] * (dsn[e] - dot));
        }
    }
    free(fcoef);
    linear_bwd_w(g->router, ds, u, N, D, E);
    linear_bwd_x(du, ds, w->router, N, D, E, 1);
}
