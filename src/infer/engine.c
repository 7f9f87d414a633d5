// engine.c — batched forward pass (see engine.h).
#include "infer/engine.h"
#include <stdlib.h>
#include <string.h>
#include "base/check.h"
#include "base/team.h"
#include "infer/mla.h"
#include "infer/moe.h"

void engine_init(Engine *e, const InferModel *m) {
    e->m = m;
    e->attn_mode = ATTN_AUTO;
    e->naive_min_tokens = 0;   // 0: choose by the cost model in use_naive
    e->kv_bf16 = 0;
}

void engine_kv_init(const Engine *e, KVCache *kv, int max_len) {
    kv_init(kv, &e->m->c, e->m->c.num_hidden_layers + e->m->n_mtp, max_len);
    kv->dtype = e->kv_dtype;
}

// One transformer block on rows h [N, D] in place.
static void block_forward(const InferModel *m, const InferLayer *ly, int cl, float *h, int N, const MlaSeq *seq,
                          int nseq, float *xn, float *tmp) {
    const Config *c = &m->c;
    int D = c->hidden_size;
    rmsnorm_rows(h, ly->attn_norm, N, D, c->rms_norm_eps, xn);
    mla_forward(m, ly, cl, xn, N, seq, nseq, tmp);
    for (size_t i = 0; i < (size_t)N * D; i++) h[i] += tmp[i];
    rmsnorm_rows(h, ly->ffn_norm, N, D, c->rms_norm_eps, xn);
    if (ly->moe) moe_forward(m, ly, xn, N, tmp);
    else ffn_forward(&ly->gate, &ly->up, &ly->down, xn, N, tmp);
    for (size_t i = 0; i < (size_t)N * D; i++) h[i] += tmp[i];
}

// A few tokens (N in all), every sequence absorbed: each parallel step of the pass is then a team_run of a
// matvec, the attention or the experts, so one team session replaces ~5 OpenMP fork/joins per layer
// (base/team.h); otherwise some step would be a GEMM or an OpenMP region of its own.
static int few_tokens(const MlaSeq *seq, int nseq, int N) {
    int few = qmat_matvec_path(N);
    for (int i = 0; i < nseq; i++) few &= !seq[i].naive && seq[i].n <= ABSORB_GEMV_MAX;
    return few;
}

// The layers, final norm and head of one engine_forward (the part that may run in a team session).
typedef struct {
    const InferModel *m;
    const SeqChunk *ch;
    int nch;
    const MlaSeq *seq;
    int N;
    float *h, *xn, *tmp;                  // [N, D] each: residual stream, normed rows, block output
    float *logits;
    int all_logits;
    float *hidden;
} Pass;

static void pass_run(void *ctx) {
    const Pass *P = ctx;
    const InferModel *m = P->m;
    const Config *c = &m->c;
    int D = c->hidden_size, V = c->vocab_size, N = P->N;
    for (int l = 0; l < c->num_hidden_layers; l++) block_forward(m, &m->layers[l], l, P->h, N, P->seq, P->nch, P->xn, P->tmp);
    rmsnorm_rows(P->h, m->norm, N, D, c->rms_norm_eps, P->xn);
    if (P->hidden) memcpy(P->hidden, P->xn, sizeof(float) * (size_t)N * D);
    if (P->all_logits) {
        lin_apply(&m->head, P->xn, N, P->logits);
    } else {
        for (int i = 0; i < P->nch; i++) {   // last row of each chunk
            if (P->ch[i].n > 0)
                lin_apply(&m->head, P->xn + (size_t)(P->seq[i].row0 + P->ch[i].n - 1) * D, 1, P->logits + (size_t)i * V);
        }
    }
}

static int check_tokens(const Config *c, const int32_t *t, int n) {
    for (int i = 0; i < n; i++)
        if (t[i] < 0 || t[i] >= c->vocab_size)
            return fail("token id %d at position %d is outside the model's vocabulary (0..%d)", t[i], i,
                        c->vocab_size - 1);
    return 0;
}

// ATTN_AUTO: the form with fewer multiply-adds for n new tokens after P cached ones (S = P + n):
//   naive    S·r·H·(dn+dv)  [expand k/v]  + n·S·H·(dqk+dv)  [scores, P·V]
//   absorbed n·H·r·(dn+dv)  [W_UK, W_UV]  + n·S·H·(2r+dr)   [scores over 576, P·C over 512]
// so a prefill from an empty cache is naive and decode after a prefix is absorbed
// (docs/inference.md has the measured table). naive_min_tokens > 0 replaces this by n >= it.
static int use_naive(const Engine *e, int n, int P) {
    if (e->attn_mode == ATTN_NAIVE) return 1;
    if (e->attn_mode == ATTN_ABSORBED) return 0;
    if (e->naive_min_tokens > 0) return n >= e->naive_min_tokens;
    const Config *c = &e->m->c;
    double H = c->num_attention_heads, r = c->kv_lora_rank, dn = c->qk_nope_head_dim, dr = c->qk_rope_head_dim;
    double dv = c->v_head_dim, S = (double)P + n;
    double naive = S * r * H * (dn + dv) + n * S * H * (dn + dr + dv);
    double absorbed = n * H * r * (dn + dv) + n * S * H * (2 * r + dr);
    return naive < absorbed;
}

int engine_forward(const Engine *e, SeqChunk *ch, int nch, float *logits, int all_logits, float *hidden) {
    const InferModel *m = e->m;
    const Config *c = &m->c;
    int D = c->hidden_size;
    int N = 0;
    for (int i = 0; i < nch; i++) {
        TRY(check_tokens(c, ch[i].tokens, ch[i].n));
        TRY(kv_reserve(ch[i].kv, ch[i].kv->len + ch[i].n));
        N += ch[i].n;
    }
    if (N == 0) return 0;
    MlaSeq *seq = xmalloc(sizeof(MlaSeq) * (size_t)nch);
    float *h = xmalloc(sizeof(float) * (size_t)N * D);     // [N, D] residual stream
    float *xn = xmalloc(sizeof(float) * (size_t)N * D);    // [N, D]
    float *tmp = xmalloc(sizeof(float) * (size_t)N * D);   // [N, D]
    int row = 0;
    for (int i = 0; i < nch; i++) {
        seq[i] = (MlaSeq){ch[i].kv, row, ch[i].n, ch[i].kv->len, use_naive(e, ch[i].n, ch[i].kv->len)};
        for (int t = 0; t < ch[i].n; t++)
            memcpy(h + (size_t)(row + t) * D, m->embed + (size_t)ch[i].tokens[t] * D, sizeof(float) * D);
        row += ch[i].n;
    }
    Pass P = {m, ch, nch, seq, N, h, xn, tmp, logits, all_logits, hidden};
    if (few_tokens(seq, nch, N)) team_session(pass_run, &P);
    else pass_run(&P);
    for (int i = 0; i < nch; i++) ch[i].kv->len += ch[i].n;
    free(seq); free(h); free(xn); free(tmp);
    return 0;
}

// The projection, block, norm and head of one engine_mtp_forward (may run in a team session).
typedef struct {
    const InferModel *m;
    const InferLayer *ly;
    int cl;
    const MlaSeq *sq;
    int n;
    const float *cat;                     // [n, 2D]
    float *h, *xn, *tmp;                  // [n, D] each
    float *logits;                        // [n, V]
} MtpPass;

static void mtp_pass_run(void *ctx) {
    const MtpPass *P = ctx;
    const Config *c = &P->m->c;
    lin_apply(&P->ly->eh_proj, P->cat, P->n, P->h);
    block_forward(P->m, P->ly, P->cl, P->h, P->n, P->sq, 1, P->xn, P->tmp);
    rmsnorm_rows(P->h, P->ly->mtp_norm, P->n, c->hidden_size, c->rms_norm_eps, P->xn);
    lin_apply(&P->m->head, P->xn, P->n, P->logits);
}

int engine_mtp_forward(const Engine *e, int k, KVCache *kv, int *mtp_len, const float *hid, const int32_t *tokens,
                       int n, float *logits) {
    const InferModel *m = e->m;
    const Config *c = &m->c;
    if (k >= m->n_mtp) return fail("the model has %d MTP modules, module %d was asked for", m->n_mtp, k);
    int D = c->hidden_size, L = c->num_hidden_layers;
    TRY(check_tokens(c, tokens, n));
    TRY(kv_reserve(kv, *mtp_len + n));
    const InferLayer *ly = &m->layers[L + k];
    float *cat = xmalloc(sizeof(float) * (size_t)n * 2 * D);   // [n, 2D] = [enorm(emb) | hnorm(h)]
    float *h = xmalloc(sizeof(float) * (size_t)n * D), *xn = xmalloc(sizeof(float) * (size_t)n * D);
    float *tmp = xmalloc(sizeof(float) * (size_t)n * D);
    for (int t = 0; t < n; t++) {
        rmsnorm_rows(m->embed + (size_t)tokens[t] * D, ly->enorm, 1, D, c->rms_norm_eps, cat + (size_t)t * 2 * D);
        rmsnorm_rows(hid + (size_t)t * D, ly->hnorm, 1, D, c->rms_norm_eps, cat + (size_t)t * 2 * D + D);
    }
    MlaSeq sq = {kv, 0, n, *mtp_len, use_naive(e, n, *mtp_len)};
    MtpPass P = {m, ly, L + k, &sq, n, cat, h, xn, tmp, logits};
    if (few_tokens(&sq, 1, n)) team_session(mtp_pass_run, &P);
    else mtp_pass_run(&P);
    *mtp_len += n;
    free(cat); free(h); free(xn); free(tmp);
    return 0;
}
