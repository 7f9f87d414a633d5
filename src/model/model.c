// model.c — one training/scoring step of the whole model: embedding, decoder
// layers (MLA + dense FFN or MoE), final norm, LM head, cross-entropy, the MTP
// modules (spec §5) and the sequence-wise balance loss (spec §3.4); then the
// backward pass through all of it, accumulating into m->grads.
//
// MTP convention (documented in docs/model.md): depth k takes
// [enorm(Emb(t_{i+k})) ; hnorm(h_i^{k-1})] (embedding first, as serving code does
// for the released weights), h^0 = the main model's final-normed hidden state,
// runs one decoder layer over positions 0..T-k-1 and predicts targets[i+k].
#include "model/model.h"
#include "base/check.h"
#include "kernels/gemm.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/softmax.h"
#include "model/mha.h"
#include "model/mla.h"
#include "model/moe.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const float *x_in;        // [N, D] layer input (owned elsewhere)
    float *xn, *rstd1;        // [N, D], [N]
    MlaActs mla; MhaActs mha; float *mla_mem;   // one of the two, per config
    float *x_mid;             // [N, D] after attention + residual
    float *un, *rstd2;        // [N, D], [N]
    MoeActs moe; void *moe_mem;
    float *fa, *fb;           // [N, I] dense FFN pre-activations
    float *out;               // [N, D] layer output
} LayerActs;

typedef struct {
    int Tk, Nk;
    int32_t *tgt;             // [Nk] targets[b, i+k]
    float *e_in, *en, *rstd_e;// [Nk, D] embeddings of t_{i+k}, normalized, [Nk]
    float *hprev, *hn, *rstd_h; // [Nk, D] h^{k-1} rows, normalized, [Nk]
    float *cat;               // [Nk, 2D] = [en | hn]
    float *x0;                // [Nk, D] eh_proj output, the decoder layer's input
    float *hk_n, *rstd_o;     // [Nk, D] shared_head.norm output, [Nk]
    float *logits;            // [Nk, V]
} MtpActs;

struct ModelWork {
    int B, T, depth;          // shape this work was sized for; depth = MTP modules run
    LayerActs *la;            // [n_layers_total]
    MtpActs *mt;              // [depth]
    float *cos_t, *sin_t;     // [T, dr/2]
    float *x0;                // [N, D] embeddings
    float *hf, *rstd_f;       // [N, D] final-normed hidden, [N]
    float *logits;            // [N, V]
    float *scratch;           // layer backward scratch
    float *d_a, *d_b, *d_c;   // [N, D] each: residual gradients
    int32_t *load;            // [n_layers_total, E]
};

static float *fl(size_t n) { return xmalloc_aligned(sizeof(float) * (n ? n : 1)); }

void model_work_free(Model *m) {
    struct ModelWork *w = m->work;
    if (!w) return;
    for (int l = 0; l < m->n_layers_total; l++) {
        LayerActs *a = &w->la[l];
        free(a->xn); free(a->rstd1); free(a->mla_mem); free(a->x_mid); free(a->un); free(a->rstd2);
        free(a->moe_mem); free(a->fa); free(a->fb); free(a->out);
    }
    for (int k = 0; k < w->depth; k++) {
        MtpActs *t = &w->mt[k];
        free(t->tgt); free(t->e_in); free(t->en); free(t->rstd_e); free(t->hprev); free(t->hn); free(t->rstd_h);
        free(t->cat); free(t->x0); free(t->hk_n); free(t->rstd_o); free(t->logits);
    }
    free(w->la); free(w->mt); free(w->cos_t); free(w->sin_t); free(w->x0); free(w->hf); free(w->rstd_f);
    free(w->logits); free(w->scratch); free(w->d_a); free(w->d_b); free(w->d_c); free(w->load);
    free(w);
    m->work = NULL;
}

void model_free(Model *m) {
    model_work_free(m);
    free(m->params); free(m->grads); free(m->views); free(m->lw); free(m->lg);
    memset(m, 0, sizeof *m);
}

static void layer_acts_alloc(const Config *c, int l, int B, int T, LayerActs *a) {
    size_t N = (size_t)B * T, D = c->hidden_size;
    a->xn = fl(N * D); a->rstd1 = fl(N);
    if (c->attn_mha) {
        a->mla_mem = fl(mha_acts_floats(c, B, T));
        mha_acts_bind(c, B, T, a->mla_mem, &a->mha);
    } else {
        a->mla_mem = fl(mla_acts_floats(c, B, T));
        mla_acts_bind(c, B, T, a->mla_mem, &a->mla);
    }
    a->x_mid = fl(N * D); a->un = fl(N * D); a->rstd2 = fl(N); a->out = fl(N * D);
    if (config_is_moe_layer(c, l)) {
        a->moe_mem = xmalloc_aligned(moe_acts_bytes(c, (int)N));
        moe_acts_bind(c, (int)N, a->moe_mem, &a->moe);
    } else {
        a->fa = fl(N * c->intermediate_size); a->fb = fl(N * c->intermediate_size);
    }
}

static void work_ensure(Model *m, int B, int T, int depth) {
    struct ModelWork *w = m->work;
    if (w && w->B == B && w->T == T && w->depth == depth) return;
    model_work_free(m);
    const Config *c = &m->c;
    size_t N = (size_t)B * T, D = c->hidden_size, V = c->vocab_size;
    w = m->work = xcalloc(1, sizeof *w);
    w->B = B; w->T = T; w->depth = depth;
    w->la = xcalloc(m->n_layers_total, sizeof(LayerActs));
    for (int l = 0; l < c->num_hidden_layers; l++) layer_acts_alloc(c, l, B, T, &w->la[l]);
    w->mt = xcalloc(depth ? depth : 1, sizeof(MtpActs));
    for (int k = 1; k <= depth; k++) {
        MtpActs *t = &w->mt[k - 1];
        t->Tk = T - k; t->Nk = B * t->Tk;
        size_t Nk = t->Nk;
        t->tgt = xmalloc(sizeof(int32_t) * (Nk ? Nk : 1));
        t->e_in = fl(Nk * D); t->en = fl(Nk * D); t->rstd_e = fl(Nk);
        t->hprev = fl(Nk * D); t->hn = fl(Nk * D); t->rstd_h = fl(Nk);
        t->cat = fl(Nk * 2 * D); t->x0 = fl(Nk * D); t->hk_n = fl(Nk * D); t->rstd_o = fl(Nk);
        t->logits = fl(Nk * V);
        layer_acts_alloc(c, c->num_hidden_layers + k - 1, B, t->Tk, &w->la[c->num_hidden_layers + k - 1]);
    }
    int half = c->qk_rope_head_dim / 2;
    w->cos_t = fl((size_t)T * half); w->sin_t = fl((size_t)T * half);
    RopeParams rp = {c->qk_rope_head_dim, c->rope_theta, c->yarn, c->rope_factor, c->beta_fast, c->beta_slow,
                     c->original_max_position_embeddings, config_rope_attention_factor(c)};
    int *pos = xmalloc(sizeof(int) * T);
    for (int t = 0; t < T; t++) pos[t] = t;
    rope_tables(&rp, pos, T, w->cos_t, w->sin_t);
    free(pos);
    w->x0 = fl(N * D); w->hf = fl(N * D); w->rstd_f = fl(N); w->logits = fl(N * V);
    // backward scratch: the largest need of any layer
    size_t ffn = 0;
    if (c->n_routed_experts > 0) ffn = moe_scratch_floats(c, (int)N);
    size_t dense = 4 * N * (size_t)c->intermediate_size;
    if (dense > ffn) ffn = dense;
    size_t att = c->attn_mha ? mha_scratch_floats(c, B, T) : mla_scratch_floats(c, B, T);
    w->scratch = fl((att > ffn ? att : ffn) + 2 * N * D);
    w->d_a = fl(N * 2 * D); w->d_b = fl(N * 2 * D); w->d_c = fl(N * 2 * D);
    w->load = xcalloc((size_t)m->n_layers_total * (c->n_routed_experts ? c->n_routed_experts : 1), sizeof(int32_t));
}

// One decoder layer forward; returns its balance term (0 for dense layers).
static double layer_fwd(Model *m, int l, const float *x_in, int B, int T, LayerActs *a, int32_t *load) {
    const Config *c = &m->c;
    const LayerW *w = &m->lw[l];
    int N = B * T, D = c->hidden_size;
    struct ModelWork *wk = m->work;
    a->x_in = x_in;
    rmsnorm_fwd(a->xn, D, a->rstd1, x_in, D, w->attn_norm, N, D, c->rms_norm_eps);
    if (c->attn_mha) mha_train_forward(c, w, a->xn, B, T, wk->cos_t, wk->sin_t, &a->mha, a->x_mid);
    else mla_train_forward(c, w, a->xn, B, T, wk->cos_t, wk->sin_t, &a->mla, a->x_mid);   // attention output
    #pragma omp parallel for if ((long)N * D > 32768)
    for (long i = 0; i < (long)N * D; i++) a->x_mid[i] += x_in[i];
    rmsnorm_fwd(a->un, D, a->rstd2, a->x_mid, D, w->ffn_norm, N, D, c->rms_norm_eps);
    double bal = 0;
    if (w->is_moe) {
        bal = moe_train_forward(c, w, a->un, B, T, &a->moe, a->out, load);
    } else {
        float *h = wk->scratch;   // [N, I] (the backward scratch is free during the forward)
        ffn_train_forward(w->gate, w->up, w->down, a->un, N, D, c->intermediate_size, a->fa, a->fb, h, a->out, 0);
    }
    #pragma omp parallel for if ((long)N * D > 32768)
    for (long i = 0; i < (long)N * D; i++) a->out[i] += a->x_mid[i];
    return bal;
}

// One decoder layer backward: dx_in[N, D] (=) ∂L/∂x_in given dout[N, D].
static void layer_bwd(Model *m, int l, int B, int T, LayerActs *a, const float *dout, float *dx_in, float alpha) {
    const Config *c = &m->c;
    const LayerW *w = &m->lw[l];
    LayerW *g = &m->lg[l];
    struct ModelWork *wk = m->work;
    int N = B * T, D = c->hidden_size;
    size_t ND = (size_t)N * D;
    float *dmid = wk->scratch, *du = dmid + ND, *sc = du + ND;
    // FFN: out = x_mid + FFN(RMSNorm(x_mid))
    memset(du, 0, sizeof(float) * ND);
    if (w->is_moe) {
        moe_train_backward(c, w, g, a->un, B, T, &a->moe, dout, alpha, du, sc);
    } else {
        size_t NI = (size_t)N * c->intermediate_size;
        ffn_train_backward(w->gate, w->up, w->down, g->gate, g->up, g->down, a->un, a->fa, a->fb, dout, N, D,
                     c->intermediate_size, sc, sc + NI, sc + 2 * NI, sc + 3 * NI, du, 1);
    }
    memcpy(dmid, dout, sizeof(float) * ND);
    rmsnorm_bwd(dmid, D, g->ffn_norm, du, D, a->x_mid, D, w->ffn_norm, a->rstd2, N, D);
    // attention: x_mid = x_in + MLA(RMSNorm(x_in))
    float *dxn = du;
    memset(dxn, 0, sizeof(float) * ND);
    if (c->attn_mha) mha_train_backward(c, w, g, a->xn, B, T, wk->cos_t, wk->sin_t, &a->mha, dmid, dxn, sc);
    else mla_train_backward(c, w, g, a->xn, B, T, wk->cos_t, wk->sin_t, &a->mla, dmid, dxn, sc);
    memcpy(dx_in, dmid, sizeof(float) * ND);
    rmsnorm_bwd(dx_in, D, g->attn_norm, dxn, D, a->x_in, D, w->attn_norm, a->rstd1, N, D);
}

// logits[N, V] = hn[N, D] · lm_headᵀ and the summed cross-entropy against tgt (count of
// counted targets in *count); with grads the logits become scale · (softmax − onehot) in
// place; copy (may be NULL) receives the raw logits. Done in row chunks of ~8 MB so each
// chunk of logits is still in cache for the loss pass.
static double head_ce(const Model *m, float *logits, const float *hn, const int32_t *tgt, int N, float scale,
                      int grads, float *copy, int *count) {
    int D = m->c.hidden_size, V = m->c.vocab_size;
    int rows = (int)((8u << 20) / (sizeof(float) * (size_t)V));
    if (rows < 64) rows = 64;
    double ce = 0;
    int counted = 0;
    for (int r0 = 0; r0 < N; r0 += rows) {
        int nr = N - r0 < rows ? N - r0 : rows, cr;
        float *lg = logits + (size_t)r0 * V;                                       // [nr, V]
        linear_fwd(lg, hn + (size_t)r0 * D, m->lm_head, nr, D, V, 0);
        if (copy) memcpy(copy + (size_t)r0 * V, lg, sizeof(float) * (size_t)nr * V);
        ce += cross_entropy(lg, tgt + r0, nr, V, grads ? lg : NULL, scale, &cr);
        counted += cr;
    }
    *count = counted;
    return ce;
}

static int check_tokens(const Config *c, const int32_t *tok, const int32_t *tgt, int N) {
    for (int i = 0; i < N; i++) {
        if (tok[i] < 0 || tok[i] >= c->vocab_size)
            return fail("token %d at position %d is outside the vocabulary [0, %d)", tok[i], i, c->vocab_size);
        if (tgt && tgt[i] >= c->vocab_size)
            return fail("target %d at position %d is outside the vocabulary [0, %d)", tgt[i], i, c->vocab_size);
    }
    return 0;
}

int model_step(Model *m, const int32_t *tokens, const int32_t *targets, int B, int T, const StepOpts *o, StepOut *out) {
    const Config *c = &m->c;
    int L = c->num_hidden_layers, D = c->hidden_size, V = c->vocab_size, E = c->n_routed_experts;
    int N = B * T;
    if (B <= 0 || T <= 0) return fail("model_step: empty batch (B=%d, T=%d)", B, T);
    TRY(check_tokens(c, tokens, targets, N));
    int depth = (o->mtp_lambda != 0 && c->num_nextn_predict_layers > 0) ? c->num_nextn_predict_layers : 0;
    if (depth >= T) depth = T - 1;
    if (o->compute_grads && !m->grads) model_alloc_grads(m);
    work_ensure(m, B, T, depth);
    struct ModelWork *w = m->work;
    memset(w->load, 0, sizeof(int32_t) * (size_t)m->n_layers_total * (E ? E : 1));
    memset(out, 0, sizeof *out);
    out->expert_load = w->load;

    // ---- forward: main model
    #pragma omp parallel for if ((long)N * D > 32768)
    for (int n = 0; n < N; n++) memcpy(w->x0 + (size_t)n * D, m->embed + (size_t)tokens[n] * D, sizeof(float) * D);
    double bal = 0;
    const float *x = w->x0;
    for (int l = 0; l < L; l++) {
        bal += layer_fwd(m, l, x, B, T, &w->la[l], w->load + (size_t)l * E);
        x = w->la[l].out;
    }
    const float *hL = x;                                                           // [N, D]
    rmsnorm_fwd(w->hf, D, w->rstd_f, hL, D, m->final_norm, N, D, c->rms_norm_eps);
    int cnt = 0;
    for (int i = 0; i < N; i++) cnt += targets[i] >= 0;
    double ce = head_ce(m, w->logits, w->hf, targets, N, cnt ? 1.0f / cnt : 0.0f, o->compute_grads, o->logits, &cnt);
    out->loss = cnt ? ce / cnt : 0;
    out->n_targets = cnt;

    // ---- forward: MTP modules
    double mtp = 0;
    int mtp_cnt[8] = {0};
    for (int k = 1; k <= depth; k++) {
        MtpActs *t = &w->mt[k - 1];
        int l = L + k - 1, Tk = t->Tk, Nk = t->Nk;
        const LayerW *lw = &m->lw[l];
        const float *hprev_src = k == 1 ? w->hf : w->la[l - 1].out;                // [B, T-k+1, D]
        int Tp = T - k + 1;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < Tk; i++) {
                int r = b * Tk + i;
                memcpy(t->e_in + (size_t)r * D, m->embed + (size_t)tokens[b * T + i + k] * D, sizeof(float) * D);
                memcpy(t->hprev + (size_t)r * D, hprev_src + ((size_t)b * Tp + i) * D, sizeof(float) * D);
                t->tgt[r] = targets[b * T + i + k];
            }
        rmsnorm_fwd(t->cat, 2 * D, t->rstd_e, t->e_in, D, lw->enorm, Nk, D, c->rms_norm_eps);
        rmsnorm_fwd(t->cat + D, 2 * D, t->rstd_h, t->hprev, D, lw->hnorm, Nk, D, c->rms_norm_eps);
        linear_fwd(t->x0, t->cat, lw->eh_proj, Nk, 2 * D, D, 0);                   // [Nk, D]
        bal += layer_fwd(m, l, t->x0, B, Tk, &w->la[l], w->load + (size_t)l * E);
        rmsnorm_fwd(t->hk_n, D, t->rstd_o, w->la[l].out, D, lw->head_norm, Nk, D, c->rms_norm_eps);
        int ck = 0;
        for (int i = 0; i < Nk; i++) ck += t->tgt[i] >= 0;
        float sc = ck ? o->mtp_lambda / (float)depth / ck : 0.0f;
        double cek = head_ce(m, t->logits, t->hk_n, t->tgt, Nk, sc, o->compute_grads, NULL, &ck);   // logits [Nk, V]
        mtp_cnt[k - 1] = ck;
        mtp += ck ? cek / ck : 0;
    }
    uint64_t hsh = 1469598103934665603ULL;        // FNV-1a over all selections
    for (int l = 0; l < m->n_layers_total; l++) {
        if (!m->lw[l].is_moe || (l >= L && l - L >= depth)) continue;
        int Nl = l < L ? N : w->mt[l - L].Nk;
        const int32_t *tk = w->la[l].moe.topk;
        for (long i = 0; i < (long)Nl * c->num_experts_per_tok; i++) hsh = (hsh ^ (uint64_t)tk[i]) * 1099511628211ULL;
    }
    out->routing_hash = hsh;
    out->mtp_loss = depth ? mtp / depth : 0;
    out->balance_loss = bal;
    out->total = out->loss + o->mtp_lambda * out->mtp_loss + o->balance_alpha * bal;
    if (!isfinite(out->total)) return fail("loss is not finite (%g)", out->total);
    if (!o->compute_grads) return 0;

    // ---- backward
    LayerW *G = m->lg;
    float *g_embed = m->grads + model_find(m, "model.embed_tokens.weight")->offset;
    const ParamView *hv = model_find(m, "lm_head.weight");
    float *g_head = hv ? m->grads + hv->offset : g_embed;
    float *g_norm = m->grads + model_find(m, "model.norm.weight")->offset;
    size_t ND = (size_t)N * D;
    float *dhf = w->d_a;                     // [N, D] gradient wrt the final-normed hidden h^0
    // main head
    linear_bwd_w(g_head, w->logits, w->hf, N, D, V);
    linear_bwd_x(dhf, w->logits, m->lm_head, N, D, V, 0);
    // MTP modules, deepest first; dnext = gradient flowing into h^{k} from depth k+1
    float *dnext = NULL;
    for (int k = depth; k >= 1; k--) {
        MtpActs *t = &w->mt[k - 1];
        int l = L + k - 1, Tk = t->Tk, Nk = t->Nk, Tp = T - k + 1;
        const LayerW *lw = &m->lw[l];
        size_t NkD = (size_t)Nk * D;
        float *dh = w->d_b;                  // [Nk, D] gradient wrt the MTP layer output h^k
        if (!dnext) memset(dh, 0, sizeof(float) * NkD);
        else if (dnext != dh) memcpy(dh, dnext, sizeof(float) * NkD);
        float *dhn = w->d_c;                 // [Nk, D]
        linear_bwd_w(g_head, t->logits, t->hk_n, Nk, D, V);
        linear_bwd_x(dhn, t->logits, m->lm_head, Nk, D, V, 0);
        rmsnorm_bwd(dh, D, G[l].head_norm, dhn, D, w->la[l].out, D, lw->head_norm, t->rstd_o, Nk, D);
        float *dx0 = w->d_c;                 // [Nk, D]
        layer_bwd(m, l, B, Tk, &w->la[l], dh, dx0, o->balance_alpha);
        float *dcat = w->d_b;                // [Nk, 2D]
        linear_bwd_w(G[l].eh_proj, dx0, t->cat, Nk, 2 * D, D);
        linear_bwd_x(dcat, dx0, lw->eh_proj, Nk, 2 * D, D, 0);
        // embedding half -> shared embedding; hidden half -> h^{k-1}
        float *de = w->d_c, *dhp = w->d_c + NkD;    // [Nk, D] each
        memset(de, 0, sizeof(float) * 2 * NkD);
        rmsnorm_bwd(de, D, G[l].enorm, dcat, 2 * D, t->e_in, D, lw->enorm, t->rstd_e, Nk, D);
        rmsnorm_bwd(dhp, D, G[l].hnorm, dcat + D, 2 * D, t->hprev, D, lw->hnorm, t->rstd_h, Nk, D);
        for (int b = 0; b < B; b++)
            for (int i = 0; i < Tk; i++) {
                const float *src = de + ((size_t)b * Tk + i) * D;
                float *dst = g_embed + (size_t)tokens[b * T + i + k] * D;
                for (int j = 0; j < D; j++) dst[j] += src[j];
            }
        // scatter dhp (rows of length Tk) into a [B, Tp] layout for the previous depth
        float *dprev = (k == 1) ? dhf : w->d_b;
        if (k == 1) {
            for (int b = 0; b < B; b++)
                for (int i = 0; i < Tk; i++) {
                    float *dst = dprev + ((size_t)b * Tp + i) * D;
                    const float *src = dhp + ((size_t)b * Tk + i) * D;
                    for (int j = 0; j < D; j++) dst[j] += src[j];
                }
        } else {
            memset(dprev, 0, sizeof(float) * (size_t)B * Tp * D);
            for (int b = 0; b < B; b++)
                memcpy(dprev + (size_t)b * Tp * D, dhp + (size_t)b * Tk * D, sizeof(float) * (size_t)Tk * D);
        }
        dnext = dprev;
    }
    (void)mtp_cnt;
    // final norm
    float *dx = w->d_b;                      // [N, D] gradient wrt the residual stream
    memset(dx, 0, sizeof(float) * ND);
    rmsnorm_bwd(dx, D, g_norm, dhf, D, hL, D, m->final_norm, w->rstd_f, N, D);
    for (int l = L - 1; l >= 0; l--) {
        float *dprev = (dx == w->d_b) ? w->d_c : w->d_b;
        layer_bwd(m, l, B, T, &w->la[l], dx, dprev, o->balance_alpha);
        dx = dprev;
    }
    for (int n = 0; n < N; n++) {
        float *dst = g_embed + (size_t)tokens[n] * D;
        const float *src = dx + (size_t)n * D;
        for (int j = 0; j < D; j++) dst[j] += src[j];
    }
    return 0;
}
