// mla.c — MLA forward for inference (see mla.h).
#include "infer/mla.h"
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "base/check.h"

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
void rope_rows(const InferModel *m, float *v, int pos) {
    int half = m->c.qk_rope_head_dim / 2;
    for (int i = 0; i < half; i++) {
        float ang = (float)pos * m->inv_freq[i];
        float c = cosf(ang) * m->rope_mscale, s = sinf(ang) * m->rope_mscale;
        float a = v[2 * i], b = v[2 * i + 1];
        v[2 * i] = a * c - b * s;
        v[2 * i + 1] = a * s + b * c;
    }
}

// Softmax over n scores in place (FP32, max-subtracted).
static void softmax_inplace(float *p, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) if (p[i] > mx) mx = p[i];
    double sum = 0;
    for (int i = 0; i < n; i++) { p[i] = expf(p[i] - mx); sum += p[i]; }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) p[i] *= inv;
}

// Absorbed attention of one sequence's tokens: q_lat [n, H, r] (W_UKᵀ q_nope),
// q_pe [n, H, d_rope] from q rows; writes o_lat [n, H, r] = Σ_s p c_s.
static void attend_absorbed(const InferModel *m, int cl, const MlaSeq *sq, const float *q_lat, const float *q,
                            float *o_lat) {
    const Config *c = &m->c;
    int H = c->num_attention_heads, r = c->kv_lora_rank, dr = c->qk_rope_head_dim, dn = c->qk_nope_head_dim;
    int dqk = dn + dr;
    float scale = m->softmax_scale;
    int ctx_max = sq->pos0 + sq->n;
    #pragma omp parallel
    {
        float *p = xmalloc(sizeof(float) * (size_t)ctx_max);
        #pragma omp for collapse(2) schedule(static)
        for (int t = 0; t < sq->n; t++)
            for (int h = 0; h < H; h++) {
                int S = sq->pos0 + t + 1;   // keys at positions <= own position
                const float *ql = q_lat + ((size_t)t * H + h) * r;
                const float *qp = q + (size_t)(sq->row0 + t) * H * dqk + (size_t)h * dqk + dn;
                for (int s = 0; s < S; s++) {
                    const float *row = kv_row(sq->kv, cl, s);
                    float a = 0, b = 0;
                    for (int i = 0; i < r; i++) a += ql[i] * row[i];
                    for (int i = 0; i < dr; i++) b += qp[i] * row[r + i];
                    p[s] = (a + b) * scale;
                }
                softmax_inplace(p, S);
                float *ol = o_lat + ((size_t)t * H + h) * r;
                memset(ol, 0, sizeof(float) * r);
                for (int s = 0; s < S; s++) {
                    const float *row = kv_row(sq->kv, cl, s);
                    float ps = p[s];
                    for (int i = 0; i < r; i++) ol[i] += ps * row[i];
                }
            }
        free(p);
    }
}

// Naive attention: expand k_nope / v of every cached position through kv_b, then
// per head scores over [k_nope | k_pe] (d_qk) and values v (d_v). o [n, H*d_v].
static void attend_naive(const InferModel *m, const InferLayer *ly, int cl, const MlaSeq *sq, const float *q,
                         float *o) {
    const Config *c = &m->c;
    int H = c->num_attention_heads, r = c->kv_lora_rank, dr = c->qk_rope_head_dim, dn = c->qk_nope_head_dim;
    int dv = c->v_head_dim, dqk = dn + dr, kvw = H * (dn + dv);
    int S = sq->pos0 + sq->n;
    float *lat = xmalloc(sizeof(float) * (size_t)S * r);      // [S, r]
    for (int s = 0; s < S; s++) memcpy(lat + (size_t)s * r, kv_row(sq->kv, cl, s), sizeof(float) * r);
    float *kvx = xmalloc(sizeof(float) * (size_t)S * kvw);    // [S, H, dn + dv]
    lin_apply(&ly->kv_b, lat, S, kvx);
    float scale = m->softmax_scale;
    #pragma omp parallel
    {
        float *p = xmalloc(sizeof(float) * (size_t)S);
        #pragma omp for collapse(2) schedule(static)
        for (int t = 0; t < sq->n; t++)
            for (int h = 0; h < H; h++) {
                int St = sq->pos0 + t + 1;
                const float *qr = q + (size_t)(sq->row0 + t) * H * dqk + (size_t)h * dqk;
                for (int s = 0; s < St; s++) {
                    const float *k = kvx + (size_t)s * kvw + (size_t)h * (dn + dv);
                    const float *kp = kv_row(sq->kv, cl, s) + r;
                    float a = 0;
                    for (int i = 0; i < dn; i++) a += qr[i] * k[i];
                    for (int i = 0; i < dr; i++) a += qr[dn + i] * kp[i];
                    p[s] = a * scale;
                }
                softmax_inplace(p, St);
                float *orow = o + (size_t)(sq->row0 + t) * H * dv + (size_t)h * dv;
                memset(orow, 0, sizeof(float) * dv);
                for (int s = 0; s < St; s++) {
                    const float *v = kvx + (size_t)s * kvw + (size_t)h * (dn + dv) + dn;
                    for (int i = 0; i < dv; i++) orow[i] += p[s] * v[i];
                }
            }
        free(p);
    }
    free(lat); free(kvx);
}

void mla_forward(const InferModel *m, const InferLayer *ly, int cl, const float *x, int N, const MlaSeq *seq,
                 int nseq, float *out) {
    const Config *c = &m->c;
    int H = c->num_attention_heads, r = c->kv_lora_rank, dr = c->qk_rope_head_dim, dn = c->qk_nope_head_dim;
    int dv = c->v_head_dim, dqk = dn + dr, rq = c->q_lora_rank;
    float eps = c->rms_norm_eps;
    float *q = xmalloc(sizeof(float) * (size_t)N * H * dqk);          // [N, H, d_qk]
    if (rq > 0) {
        float *qa = xmalloc(sizeof(float) * (size_t)N * rq);         // [N, r_q]
        lin_apply(&ly->q_a, x, N, qa);
        rmsnorm_rows(qa, ly->q_a_norm, N, rq, eps, qa);
        lin_apply(&ly->q_b, qa, N, q);
        free(qa);
    } else {
        lin_apply(&ly->q, x, N, q);
    }
    float *kva = xmalloc(sizeof(float) * (size_t)N * (r + dr));       // [N, r_kv + d_rope]
    lin_apply(&ly->kv_a, x, N, kva);
    // Cache rows: normalized c_kv and rotated k_pe; rotate q_pe of every head.
    for (int si = 0; si < nseq; si++) {
        const MlaSeq *sq = &seq[si];
        for (int t = 0; t < sq->n; t++) {
            int row = sq->row0 + t, pos = sq->pos0 + t;
            float *dst = kv_row(sq->kv, cl, pos);
            const float *src = kva + (size_t)row * (r + dr);
            rmsnorm_rows(src, ly->kv_a_norm, 1, r, eps, dst);
            memcpy(dst + r, src + r, sizeof(float) * dr);
            rope_rows(m, dst + r, pos);
            for (int h = 0; h < H; h++) rope_rows(m, q + (size_t)row * H * dqk + (size_t)h * dqk + dn, pos);
        }
    }
    free(kva);
    float *o = xmalloc(sizeof(float) * (size_t)N * H * dv);           // [N, H * d_v]
    for (int si = 0; si < nseq; si++) {
        const MlaSeq *sq = &seq[si];
        if (sq->n <= 0) continue;
        if (sq->naive) { attend_naive(m, ly, cl, sq, q, o); continue; }
        int n = sq->n;
        float *q_lat = xmalloc(sizeof(float) * (size_t)n * H * r);   // [n, H, r]
        float *o_lat = xmalloc(sizeof(float) * (size_t)n * H * r);   // [n, H, r]
        // q_lat[t, h] = W_UK[h]ᵀ q_nope[t, h]:  [n, dn] x [dn, r]
        for (int h = 0; h < H; h++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, r, dn, 1.0f,
                        q + (size_t)sq->row0 * H * dqk + (size_t)h * dqk, H * dqk,
                        ly->w_uk + (size_t)h * dn * r, r, 0.0f, q_lat + (size_t)h * r, H * r);
        attend_absorbed(m, cl, sq, q_lat, q, o_lat);
        // o[t, h] = W_UV[h] o_lat[t, h]:  [n, r] x [r, dv]
        for (int h = 0; h < H; h++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, dv, r, 1.0f, o_lat + (size_t)h * r, H * r,
                        ly->w_uv + (size_t)h * dv * r, r, 0.0f, o + (size_t)sq->row0 * H * dv + (size_t)h * dv, H * dv);
        free(q_lat); free(o_lat);
    }
    lin_apply(&ly->o, o, N, out);
    free(q); free(o);
}
