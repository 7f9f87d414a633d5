// mla.c — MLA forward for inference (see mla.h).
#include "infer/mla.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/check.h"
#include "base/scratch.h"
#include "base/team.h"
#include "kernels/gemm.h"
#include "kernels/latent_attn.h"
#include "kernels/softmax.h"

void rmsnorm_rows(const float *x, const float *w, int N, int n, float eps, float *y) {
    for (int t = 0; t < N; t++) {
        const float *xr = x + (size_t)t * n;
        float *yr = y + (size_t)t * n;
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        float r = 1.0f / sqrtf((float)(ss / n) + eps);
        for (int i = 0; i < n; i++) yr[i] = w[i] * (xr[i] * r);
    }
}

// Interleaved pairs (2i, 2i+1) rotated by pos * inv_freq[i] (spec §4.1).
void rope_rows(const InferModel *m, float *v, int n, size_t ld, int pos) {
    int half = m->c.qk_rope_head_dim / 2;
    for (int i = 0; i < half; i++) {                   // each angle's cos and sin once for all n vectors
        float ang = (float)pos * m->inv_freq[i];
        float c = cosf(ang) * m->rope_mscale, s = sinf(ang) * m->rope_mscale;
        for (int j = 0; j < n; j++) {
            float *x = v + (size_t)j * ld, a = x[2 * i], b = x[2 * i + 1];
            x[2 * i] = a * c - b * s;
            x[2 * i + 1] = a * s + b * c;
        }
    }
}

// Causal softmax of score rows in place: row i belongs to the token at position pos_i and sees
// keys 0..pos_i (the rest are set to 0).
static void causal_softmax_rows(float *sc, int rows, int S, int rows_per_token, int pos0) {
    #pragma omp parallel for schedule(static) if ((size_t)rows * S > 32768)
    for (int i = 0; i < rows; i++) {
        int valid = pos0 + i / rows_per_token + 1;
        float *p = sc + (size_t)i * S;
        softmax_row(p, valid);
        for (int s = valid; s < S; s++) p[s] = 0.0f;
    }
}

// Absorbed attention of one sequence's n tokens as MQA over the cached rows [c_kv | k_pe]:
// scores [n*H, S] = q_lat [n*H, r]·Cᵀ + q_pe [n*H, d_rope]·K_peᵀ (one pair of GEMMs per cache
// block), causal softmax, o_lat [n*H, r] = P·C. q_lat rows are (token, head) pairs.
static void attend_absorbed(const InferModel *m, int cl, const MlaSeq *sq, const float *q_lat, const float *q,
                            float *o_lat) {
    const Config *c = &m->c;
    int H = c->num_attention_heads, r = c->kv_lora_rank, dr = c->qk_rope_head_dim, dn = c->qk_nope_head_dim;
    int dqk = dn + dr, W = sq->kv->width, n = sq->n, M = n * H;
    int S = sq->pos0 + n;
    float *sc = xmalloc(sizeof(float) * (size_t)M * S);              // [n*H, S]
    float *tmp = sq->kv->bf16 ? xmalloc(sizeof(float) * (size_t)KV_BLOCK * W) : NULL;   // one decoded block
    const float *qpe = q + (size_t)sq->row0 * H * dqk + dn;          // row i at i*dqk
    for (int b0 = 0; b0 < S; b0 += KV_BLOCK) {
        int bn = S - b0 < KV_BLOCK ? S - b0 : KV_BLOCK;
        const float *blk = kv_block_f32(sq->kv, cl, b0, bn, tmp);    // [bn, W] rows of this block
        gemm(0, 1, M, bn, r, m->softmax_scale, q_lat, r, blk, W, 0.0f,
                    sc + b0, S);
        gemm(0, 1, M, bn, dr, m->softmax_scale, qpe, dqk, blk + r, W, 1.0f,
                    sc + b0, S);
    }
    causal_softmax_rows(sc, M, S, H, sq->pos0);
    for (int b0 = 0; b0 < S; b0 += KV_BLOCK) {
        int bn = S - b0 < KV_BLOCK ? S - b0 : KV_BLOCK;
        gemm(0, 0, M, r, bn, 1.0f, sc + b0, S,
                    kv_block_f32(sq->kv, cl, b0, bn, tmp), W, b0 == 0 ? 0.0f : 1.0f, o_lat, r);
    }
    free(sc); free(tmp);
}

// Naive attention: expand k_nope / v of every cached position through kv_b, then per head
// scores = [q_nope | q_pe]·[k_nope | k_pe]ᵀ (one GEMM over d_qk), causal softmax, o_h = P·v_h. o [n, H*d_v].
// Query rows go in blocks of NAIVE_QB: a block sees keys up to its last token only, so the masked triangle
// is skipped (about half the work of a prompt from an empty cache). Heads are split across threads.
#define NAIVE_QB 64
static void attend_naive(const InferModel *m, const InferLayer *ly, int cl, const MlaSeq *sq, const float *q,
                         float *o) {
    const Config *c = &m->c;
    int H = c->num_attention_heads, r = c->kv_lora_rank, dr = c->qk_rope_head_dim, dn = c->qk_nope_head_dim;
    int dv = c->v_head_dim, dqk = dn + dr, kvw = H * (dn + dv), n = sq->n;
    int S = sq->pos0 + n;
    float *lat = xmalloc(sizeof(float) * (size_t)S * r);      // [S, r]
    float *kpe = xmalloc(sizeof(float) * (size_t)S * dr);     // [S, d_rope]
    float *tmp = xmalloc(sizeof(float) * (size_t)KV_BLOCK * sq->kv->width);
    for (int b0 = 0; b0 < S; b0 += KV_BLOCK) {
        int bn = S - b0 < KV_BLOCK ? S - b0 : KV_BLOCK;
        const float *blk = kv_block_f32(sq->kv, cl, b0, bn, tmp);
        for (int j = 0; j < bn; j++) {
            memcpy(lat + (size_t)(b0 + j) * r, blk + (size_t)j * sq->kv->width, sizeof(float) * r);
            memcpy(kpe + (size_t)(b0 + j) * dr, blk + (size_t)j * sq->kv->width + r, sizeof(float) * dr);
        }
    }
    free(tmp);
    float *kvx = xmalloc(sizeof(float) * (size_t)S * kvw);    // [S, H, dn + dv]
    lin_apply(&ly->kv_b, lat, S, kvx);
    free(lat);
    const float *q0 = q + (size_t)sq->row0 * H * dqk;         // [n, H, d_qk]
    #pragma omp parallel
    {
        float *kh = xmalloc(sizeof(float) * (size_t)S * dqk);            // [S, d_qk] this head's keys
        float *sc = xmalloc(sizeof(float) * (size_t)NAIVE_QB * S);       // [QB, S] one query block's scores
        #pragma omp for schedule(dynamic, 1)
        for (int h = 0; h < H; h++) {
            for (int s = 0; s < S; s++) {
                memcpy(kh + (size_t)s * dqk, kvx + (size_t)s * kvw + (size_t)h * (dn + dv), sizeof(float) * dn);
                memcpy(kh + (size_t)s * dqk + dn, kpe + (size_t)s * dr, sizeof(float) * dr);
            }
            for (int i0 = 0; i0 < n; i0 += NAIVE_QB) {
                int nb = n - i0 < NAIVE_QB ? n - i0 : NAIVE_QB, Sv = sq->pos0 + i0 + nb;   // keys this block sees
                gemm(0, 1, nb, Sv, dqk, m->softmax_scale,
                            q0 + (size_t)i0 * H * dqk + (size_t)h * dqk, H * dqk, kh, dqk, 0.0f, sc, Sv);
                for (int i = 0; i < nb; i++) {
                    int valid = sq->pos0 + i0 + i + 1;
                    float *p = sc + (size_t)i * Sv;
                    softmax_row(p, valid);
                    memset(p + valid, 0, sizeof(float) * (size_t)(Sv - valid));
                }
                gemm(0, 0, nb, dv, Sv, 1.0f, sc, Sv,
                            kvx + (size_t)h * (dn + dv) + dn, kvw, 0.0f, o + (size_t)(sq->row0 + i0) * H * dv + (size_t)h * dv,
                            H * dv);
            }
        }
        free(kh); free(sc);
    }
    free(kpe); free(kvx);
}

// Absorbed attention of a sequence's few new tokens in one parallel step (base/team.h). Per token: each thread
// computes q_lat = W_UKᵀ q_nope for its range of heads from kv_b in its own format; then each thread
// attends with all heads over its share of the cached rows the token may see (causal), in one pass
// with an online softmax (kernels/latent_attn.h: every cache row read, and decoded from BF16/FP8,
// once in all, by one thread); the partial states are combined per head range, and o = W_UV o_lat.
// kv_b is read once in total, and so is the cache.
typedef struct {
    const InferModel *m;
    const InferLayer *ly;
    int cl;
    const MlaSeq *sq;
    const float *q0;                                                   // [n, H, d_qk]
    float *ov;                                                         // [n, H * d_v]
    float *q_lat, *o_lat;                                              // [n, H, r] each
    const LatAttn **parts;                                             // [threads] partial states
} FewJob;

// Start of share i of S rows among nt: S·i/nt rounded to the nearest multiple of 16, at most S (share nt ends at S).
static int split16(int S, int i, int nt) {
    int j = (int)(((long)S * i / nt + 8) / 16 * 16);
    return i >= nt || j > S ? S : j;
}

static void few_la_release(void *p) { lattn_free(p); free(p); }

static void absorbed_few_job(void *ctx, int id, int nt) {
    const FewJob *J = ctx;
    const InferModel *m = J->m;
    const MlaSeq *sq = J->sq;
    const Config *c = &m->c;
    int H = c->num_attention_heads, r = c->kv_lora_rank, dn = c->qk_nope_head_dim;
    int dv = c->v_head_dim, dqk = dn + c->qk_rope_head_dim, kvw = dn + dv, W = sq->kv->width, n = sq->n;
    const QMatrix *kvb = &J->ly->kv_b.q;                               // [H*(dn+dv), r]
    int h0 = H * id / nt, h1 = H * (id + 1) / nt;
    // int8 rows: attended as they are stored where the CPU has VNNI (integer scores and values); else decoded
    int i8 = sq->kv->dtype == KV_I8 && lattn_i8_fast() && r % 4 == 0 && (W - r) % 4 == 0;
    static _Thread_local Scratch tmp_s;
    float *tmp = sq->kv->bf16 && !i8 ? scratch_get(&tmp_s, sizeof(float) * (size_t)KV_BLOCK * W) : NULL;   // one decoded block
    size_t rb = kv_row_bytes(sq->kv->dtype, r, W - r);
    static _Thread_local LatAttn *few_la;                              // this thread's state, kept between calls
    if (!few_la) {                                                     // (its ~115 KB of buffers: ~1 % of a token)
        few_la = xcalloc(1, sizeof *few_la);
        scratch_at_thread_exit(few_la_release, few_la);
    }
    lattn_reserve(few_la, H, r, W, KV_BLOCK);
    LatAttn *la = few_la;
    J->parts[id] = la;
    for (int t = 0; t < n; t++) {
        int S = sq->pos0 + t + 1;                                      // keys this token sees
        const float *qt = J->q0 + (size_t)t * H * dqk;                 // [H, d_qk]
        float *qlt = J->q_lat + (size_t)t * H * r, *olt = J->o_lat + (size_t)t * H * r;   // [H, r]
        for (int h = h0; h < h1; h++)                                  // q_lat[t, h] = W_UK[h]ᵀ q_nope[t, h]
            qmat_gevm_rows(kvb, h * kvw, dn, qt + (size_t)h * dqk, qlt + (size_t)h * r);
        team_barrier();
        lattn_begin(la, qlt, r, qt + dn, dqk, m->softmax_scale);
        // this thread's rows: an equal share, split at multiples of 16 rows (whole blocks would leave one thread
        // a block more than the other at most context lengths), in pieces that end at block ends
        int j = split16(S, id, nt), j1 = split16(S, id + 1, nt);
        for (int bn; j < j1; j += bn) {
            bn = KV_BLOCK - j % KV_BLOCK < j1 - j ? KV_BLOCK - j % KV_BLOCK : j1 - j;
            if (i8) lattn_rows_i8(la, kv_block_raw(sq->kv, J->cl, j), rb, bn);   // [bn] encoded rows
            else lattn_rows(la, kv_block_f32(sq->kv, J->cl, j, bn, tmp), bn, W);   // [bn, W]
        }
        team_barrier();
        lattn_end_parts(J->parts, nt, h0, h1, olt, r);
        for (int h = h0; h < h1; h++)                                  // o[t, h] = W_UV[h] o_lat[t, h]
            qmat_gemv_rows(kvb, h * kvw + dn, dv, olt + (size_t)h * r, J->ov + ((size_t)t * H + h) * dv);
        // No barrier here: a thread's next write to its part (lattn_begin of the next token, or of the next call)
        // comes after the next token's first barrier or after this team_run has ended, when every thread is
        // done reading the parts.
    }
}

static void absorbed_few(const InferModel *m, const InferLayer *ly, int cl, const MlaSeq *sq, const float *q,
                         float *o) {
    const Config *c = &m->c;
    int H = c->num_attention_heads, r = c->kv_lora_rank, dqk = c->qk_nope_head_dim + c->qk_rope_head_dim, n = sq->n;
    FewJob J = {m, ly, cl, sq, q + (size_t)sq->row0 * H * dqk, o + (size_t)sq->row0 * H * c->v_head_dim,
                xmalloc(sizeof(float) * (size_t)n * H * r), xmalloc(sizeof(float) * (size_t)n * H * r),
                xmalloc(sizeof(LatAttn *) * (size_t)team_threads())};
    team_run(1, absorbed_few_job, &J);
    free(J.parts); free(J.q_lat); free(J.o_lat);
}

void mla_forward(const InferModel *m, const InferLayer *ly, int cl, const float *x, int N, const MlaSeq *seq,
                 int nseq, float *out) {
    const Config *c = &m->c;
    int H = c->num_attention_heads, r = c->kv_lora_rank, dr = c->qk_rope_head_dim, dn = c->qk_nope_head_dim;
    int dv = c->v_head_dim, dqk = dn + dr, rq = c->q_lora_rank;
    float eps = c->rms_norm_eps;
    float *q = xmalloc(sizeof(float) * (size_t)N * H * dqk);          // [N, H, d_qk]
    float *kva = xmalloc(sizeof(float) * (size_t)N * (r + dr));       // [N, r_kv + d_rope]
    if (rq > 0) {
        float *qa = xmalloc(sizeof(float) * (size_t)N * rq);         // [N, r_q]
        const QMatrix *w2[2] = {&ly->q_a.q, &ly->kv_a.q};            // same input x: one pass for both
        float *y2[2] = {qa, kva};
        qmat_matmul_multi(w2, 2, x, N, y2);
        rmsnorm_rows(qa, ly->q_a_norm, N, rq, eps, qa);
        lin_apply(&ly->q_b, qa, N, q);
        free(qa);
    } else {
        const QMatrix *w2[2] = {&ly->q.q, &ly->kv_a.q};
        float *y2[2] = {q, kva};
        qmat_matmul_multi(w2, 2, x, N, y2);
    }
    // Cache rows: normalized c_kv and rotated k_pe; rotate q_pe of every head.
    for (int si = 0; si < nseq; si++) {
        const MlaSeq *sq = &seq[si];
        for (int t = 0; t < sq->n; t++) {
            int row = sq->row0 + t, pos = sq->pos0 + t;
            float *dst = xmalloc(sizeof(float) * (size_t)(r + dr));   // [c_kv | k_pe] of this token
            const float *src = kva + (size_t)row * (r + dr);
            rmsnorm_rows(src, ly->kv_a_norm, 1, r, eps, dst);
            memcpy(dst + r, src + r, sizeof(float) * dr);
            rope_rows(m, dst + r, 1, 0, pos);
            kv_write_row(sq->kv, cl, pos, dst);
            free(dst);
            rope_rows(m, q + (size_t)row * H * dqk + dn, H, dqk, pos);   // q_pe of every head
        }
    }
    free(kva);
    float *o = xmalloc(sizeof(float) * (size_t)N * H * dv);           // [N, H * d_v]
    for (int si = 0; si < nseq; si++) {
        const MlaSeq *sq = &seq[si];
        if (sq->n <= 0) continue;
        if (sq->naive) { attend_naive(m, ly, cl, sq, q, o); continue; }
        if (sq->n <= ABSORB_GEMV_MAX) { absorbed_few(m, ly, cl, sq, q, o); continue; }
        // Many tokens: kv_b in FP32 (a view for FP32 weights), per head GEMMs.
        int n = sq->n, kvw = dn + dv;
        const QMatrix *kvb = &ly->kv_b.q;                             // [H*(dn+dv), r]: per head W_UK [dn, r], W_UV [dv, r]
        float *q_lat = xmalloc(sizeof(float) * (size_t)n * H * r);   // [n, H, r]
        float *o_lat = xmalloc(sizeof(float) * (size_t)n * H * r);   // [n, H, r]
        const float *q0 = q + (size_t)sq->row0 * H * dqk;            // [n, H, d_qk]
        float *ov = o + (size_t)sq->row0 * H * dv;                   // [n, H * d_v]
        float *wf = kvb->type == QT_F32 ? NULL : xmalloc(sizeof(float) * (size_t)H * kvw * r);
        if (wf) qmat_to_f32(kvb, wf);
        const float *w = wf ? wf : (const float *)kvb->data;        // [H, dn + dv, r]
        // q_lat[t, h] = W_UK[h]ᵀ q_nope[t, h]:  [n, dn] x [dn, r]
        for (int h = 0; h < H; h++)
            gemm(0, 0, n, r, dn, 1.0f, q0 + (size_t)h * dqk, H * dqk,
                        w + (size_t)h * kvw * r, r, 0.0f, q_lat + (size_t)h * r, H * r);
        attend_absorbed(m, cl, sq, q_lat, q, o_lat);
        // o[t, h] = W_UV[h] o_lat[t, h]:  [n, r] x [r, dv]
        for (int h = 0; h < H; h++)
            gemm(0, 1, n, dv, r, 1.0f, o_lat + (size_t)h * r, H * r,
                        w + ((size_t)h * kvw + dn) * r, r, 0.0f, ov + (size_t)h * dv, H * dv);
        free(wf);
        free(q_lat); free(o_lat);
    }
    lin_apply(&ly->o, o, N, out);
    free(q); free(o);
}
