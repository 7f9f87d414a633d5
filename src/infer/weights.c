// weights.c — load / make the inference model (see weights.h).
#include "infer/weights.h"
#include "base/io.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/check.h"
#include "base/rng.h"
#include "model/safetensors.h"

// ---------------------------------------------------------------- derived tables

void infer_model_derive(InferModel *m) {
    const Config *c = &m->c;
    int half = c->qk_rope_head_dim / 2;
    free(m->inv_freq);
    m->inv_freq = xmalloc(sizeof(float) * (half > 0 ? half : 1));
    int dim = c->qk_rope_head_dim;
    float base = c->rope_theta;
    // Same float32 steps as the references: inv = 1 / base^(2i/dim).
    for (int i = 0; i < half; i++) {
        float pos_freq = powf(base, (float)(2 * i) / (float)dim);
        m->inv_freq[i] = 1.0f / pos_freq;
    }
    m->rope_mscale = 1.0f;
    float scale = 1.0f / sqrtf((float)(c->qk_nope_head_dim + c->qk_rope_head_dim));
    if (c->yarn && c->rope_factor > 1.0f) {
        double factor = c->rope_factor;
        double L0 = c->original_max_position_embeddings;
        double bf = c->beta_fast > 0 ? c->beta_fast : 32, bs = c->beta_slow > 0 ? c->beta_slow : 1;
        double low = floor(dim * log(L0 / (bf * 2 * M_PI)) / (2 * log(base)));
        double high = ceil(dim * log(L0 / (bs * 2 * M_PI)) / (2 * log(base)));
        if (low < 0) low = 0;
        if (high > dim - 1) high = dim - 1;
        if (low == high) high += 0.001;
        for (int i = 0; i < half; i++) {
            float ramp = (float)(((float)i - (float)low) / (float)(high - low));
            ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
            float extra = 1.0f - ramp;                  // weight of the original frequency
            float f = m->inv_freq[i];
            m->inv_freq[i] = (f / (float)factor) * (1.0f - extra) + f * extra;
        }
        double ms = c->mscale, msa = c->mscale_all_dim;
        if (ms > 0 && msa > 0)
            m->rope_mscale = (float)((0.1 * ms * log(factor) + 1.0) / (0.1 * msa * log(factor) + 1.0));
        else
            m->rope_mscale = (float)(0.1 * log(factor) + 1.0);
        if (msa > 0) {
            double mm = 0.1 * msa * log(factor) + 1.0;
            scale = (float)(scale * mm * mm);
        }
    }
    m->softmax_scale = scale;
}

int infer_is_moe_layer(const Config *c, int l) {
    return c->n_routed_experts > 0 && l >= c->first_k_dense_replace && (c->moe_layer_freq <= 1 || l % c->moe_layer_freq == 0);
}

// ---------------------------------------------------------------- random model

// Uniform in [-a, a] with a = std·√3 (standard deviation std): fast enough for the 1.75 B
// weights of the benchmark model.
static float *rand_mat(Rng *r, size_t n, float std) {
    float *w = xmalloc(n * sizeof(float));
    float a = std * 1.7320508f * 2.0f / 4294967296.0f;
    for (size_t i = 0; i + 1 < n; i += 2) {
        uint64_t u = rng_u64(r);
        w[i] = a * (float)(uint32_t)u - std * 1.7320508f;
        w[i + 1] = a * (float)(uint32_t)(u >> 32) - std * 1.7320508f;
    }
    if (n & 1) w[n - 1] = std * rng_normal(r);
    return w;
}
static float *rand_norm(Rng *r, int n) {
    float *w = xmalloc((size_t)n * sizeof(float));
    for (int i = 0; i < n; i++) w[i] = 1.0f + 0.1f * rng_normal(r);
    return w;
}
static QType rand_type = QT_F32;   // infer_model_random_as: encode each matrix right after drawing it
static void rand_lin(Rng *r, Lin *l, int rows, int cols, float std) {
    lin_init_f32(l, rows, cols, rand_mat(r, (size_t)rows * cols, std));
    if (rand_type != QT_F32 && lin_convert(l, rand_type) < 0) fatal_last();
}

static void rand_layer(Rng *r, const Config *c, InferLayer *ly, int moe, float std) {
    int D = c->hidden_size, H = c->num_attention_heads, dqk = c->qk_nope_head_dim + c->qk_rope_head_dim;
    memset(ly, 0, sizeof *ly);
    ly->attn_norm = rand_norm(r, D);
    ly->ffn_norm = rand_norm(r, D);
    if (c->q_lora_rank > 0) {
        rand_lin(r, &ly->q_a, c->q_lora_rank, D, std);
        ly->q_a_norm = rand_norm(r, c->q_lora_rank);
        rand_lin(r, &ly->q_b, H * dqk, c->q_lora_rank, std);
    } else {
        rand_lin(r, &ly->q, H * dqk, D, std);
    }
    rand_lin(r, &ly->kv_a, c->kv_lora_rank + c->qk_rope_head_dim, D, std);
    ly->kv_a_norm = rand_norm(r, c->kv_lora_rank);
    rand_lin(r, &ly->kv_b, H * (c->qk_nope_head_dim + c->v_head_dim), c->kv_lora_rank, std);
    rand_lin(r, &ly->o, D, H * c->v_head_dim, std);
    ly->moe = moe;
    if (!moe) {
        int I = c->intermediate_size;
        rand_lin(r, &ly->gate, I, D, std);
        rand_lin(r, &ly->up, I, D, std);
        rand_lin(r, &ly->down, D, I, std);
    } else {
        int E = c->n_routed_experts, I = c->moe_intermediate_size;
        ly->router = rand_mat(r, (size_t)E * D, std);
        if (c->topk_method == TOPK_NOAUX_TC) ly->router_bias = rand_mat(r, E, 0.0f);
        ly->eg = xcalloc(E, sizeof(Lin)); ly->eu = xcalloc(E, sizeof(Lin)); ly->ed = xcalloc(E, sizeof(Lin));
        for (int e = 0; e < E; e++) {
            rand_lin(r, &ly->eg[e], I, D, std);
            rand_lin(r, &ly->eu[e], I, D, std);
            rand_lin(r, &ly->ed[e], D, I, std);
        }
        if (c->n_shared_experts > 0) {
            int S = c->n_shared_experts * I;
            rand_lin(r, &ly->sg, S, D, std);
            rand_lin(r, &ly->su, S, D, std);
            rand_lin(r, &ly->sd, D, S, std);
        }
    }
}

void infer_model_random_as(InferModel *m, const Config *c, uint64_t seed, float std, QType t) {
    rand_type = t;
    infer_model_random(m, c, seed, std);
    rand_type = QT_F32;
    infer_model_interleave(m);
}

// A view into a mapped file is copied; the file's pages it read are then dropped from resident memory.
// Returns the bytes copied out of mapped files.
static size_t interleave_lin(Lin *l) {
    QMatrix v = l->q;
    if (qmat_interleave(&l->q) && !v.owns) {
        io_map_release(v.data, qmat_data_bytes(v.type, v.rows, v.cols));
        io_map_release(v.scale, qmat_scale_bytes(v.type, v.rows, v.cols));
        return qmat_bytes(&v);
    }
    return 0;
}

// kv_b stays plain: absorbed attention reads it per head with qmat_gevm_rows (W_UKᵀ q), which has no
// decode-layout kernel, and with row ranges of d_v rows. (quant_i4_rows8 in quantize.h is the same rule by
// tensor name, for files.)
static size_t interleave_layer(const Config *c, InferLayer *ly) {
    Lin *ls[] = {&ly->q_a, &ly->q_b, &ly->q, &ly->kv_a, &ly->o, &ly->gate, &ly->up, &ly->down, &ly->sg, &ly->su, &ly->sd,
                 &ly->eh_proj};
    size_t b = 0;
    for (size_t i = 0; i < sizeof ls / sizeof *ls; i++) b += interleave_lin(ls[i]);
    if (ly->eg)
        for (int e = 0; e < c->n_routed_experts; e++)
            b += interleave_lin(&ly->eg[e]) + interleave_lin(&ly->eu[e]) + interleave_lin(&ly->ed[e]);
    return b;
}

void infer_model_interleave(InferModel *m) {
    size_t b = interleave_lin(&m->head);
    for (int l = 0; l < m->c.num_hidden_layers + m->n_mtp; l++) b += interleave_layer(&m->c, &m->layers[l]);
    if (b)
        fprintf(stderr, "deepc: note: this int4 folder is in the plain layout: %.0f MB re-laid in memory for decode; "
                "`deepc quantize --model DIR --to int4 --out NEW` writes the layout that is mapped as it is "
                "(docs/formats.md)\n", b / 1e6);
}

void infer_model_random(InferModel *m, const Config *c, uint64_t seed, float std) {
    memset(m, 0, sizeof *m);
    m->c = *c;
    Rng r;
    rng_seed(&r, seed);
    int D = c->hidden_size, V = c->vocab_size, L = c->num_hidden_layers;
    m->embed = rand_mat(&r, (size_t)V * D, 1.0f);
    m->norm = rand_norm(&r, D);
    rand_lin(&r, &m->head, V, D, std);
    m->n_mtp = c->num_nextn_predict_layers;
    m->layers = xcalloc((size_t)(L + m->n_mtp), sizeof(InferLayer));
    for (int l = 0; l < L; l++) rand_layer(&r, c, &m->layers[l], infer_is_moe_layer(c, l), std);
    for (int k = 0; k < m->n_mtp; k++) {
        InferLayer *ly = &m->layers[L + k];
        rand_layer(&r, c, ly, c->n_routed_experts > 0, std);
        ly->enorm = rand_norm(&r, D);
        ly->hnorm = rand_norm(&r, D);
        ly->mtp_norm = rand_norm(&r, D);
        rand_lin(&r, &ly->eh_proj, D, 2 * D, std);
    }
    infer_model_derive(m);
}

// ---------------------------------------------------------------- sizes / free

static void free_layer(const Config *c, InferLayer *ly) {
    free(ly->attn_norm); free(ly->ffn_norm); free(ly->q_a_norm); free(ly->kv_a_norm);
    lin_free(&ly->q_a); lin_free(&ly->q_b); lin_free(&ly->q); lin_free(&ly->kv_a); lin_free(&ly->kv_b);
    lin_free(&ly->o);
    lin_free(&ly->gate); lin_free(&ly->up); lin_free(&ly->down);
    free(ly->router); free(ly->router_bias);
    if (ly->eg)
        for (int e = 0; e < c->n_routed_experts; e++) { lin_free(&ly->eg[e]); lin_free(&ly->eu[e]); lin_free(&ly->ed[e]); }
    free(ly->eg); free(ly->eu); free(ly->ed);
    lin_free(&ly->sg); lin_free(&ly->su); lin_free(&ly->sd);
    free(ly->enorm); free(ly->hnorm); free(ly->mtp_norm); lin_free(&ly->eh_proj);
}

void infer_model_free(InferModel *m) {
    if (m->layers)
        for (int l = 0; l < m->c.num_hidden_layers + m->n_mtp; l++) free_layer(&m->c, &m->layers[l]);
    free(m->layers); free(m->embed); free(m->norm); lin_free(&m->head); free(m->inv_freq);
    if (m->st) { st_close(m->st); free(m->st); }
    memset(m, 0, sizeof *m);
}

static size_t layer_bytes(const Config *c, const InferLayer *ly) {
    size_t b = lin_bytes(&ly->q_a) + lin_bytes(&ly->q_b) + lin_bytes(&ly->q) + lin_bytes(&ly->kv_a) +
               lin_bytes(&ly->kv_b) + lin_bytes(&ly->o) + lin_bytes(&ly->gate) + lin_bytes(&ly->up) +
               lin_bytes(&ly->down) + lin_bytes(&ly->sg) + lin_bytes(&ly->su) + lin_bytes(&ly->sd);
    if (ly->eg)
        for (int e = 0; e < c->n_routed_experts; e++)
            b += lin_bytes(&ly->eg[e]) + lin_bytes(&ly->eu[e]) + lin_bytes(&ly->ed[e]);
    return b;
}

size_t infer_model_bytes(const InferModel *m) {
    size_t b = lin_bytes(&m->head) + (size_t)m->c.vocab_size * m->c.hidden_size * sizeof(float);
    for (int l = 0; l < m->c.num_hidden_layers; l++) b += layer_bytes(&m->c, &m->layers[l]);
    return b;
}

static int64_t lin_n(const Lin *l) { return (int64_t)l->rows * l->cols; }

int64_t infer_model_params(const InferModel *m) {
    const Config *c = &m->c;
    int64_t n = (int64_t)c->vocab_size * c->hidden_size + lin_n(&m->head) + c->hidden_size;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        const InferLayer *ly = &m->layers[l];
        n += 2 * c->hidden_size + c->kv_lora_rank + (c->q_lora_rank > 0 ? c->q_lora_rank : 0);
        n += lin_n(&ly->q_a) + lin_n(&ly->q_b) + lin_n(&ly->q) + lin_n(&ly->kv_a) + lin_n(&ly->kv_b) + lin_n(&ly->o);
        n += lin_n(&ly->gate) + lin_n(&ly->up) + lin_n(&ly->down) + lin_n(&ly->sg) + lin_n(&ly->su) + lin_n(&ly->sd);
        if (ly->moe) {
            n += (int64_t)c->n_routed_experts * c->hidden_size;
            for (int e = 0; e < c->n_routed_experts; e++) n += lin_n(&ly->eg[e]) + lin_n(&ly->eu[e]) + lin_n(&ly->ed[e]);
        }
    }
    return n;
}

static int convert_layer(const Config *c, InferLayer *ly, QType t) {
    Lin *ls[] = {&ly->q_a, &ly->q_b, &ly->q, &ly->kv_a, &ly->kv_b, &ly->o, &ly->gate, &ly->up, &ly->down,
                 &ly->sg, &ly->su, &ly->sd, &ly->eh_proj};
    for (size_t i = 0; i < sizeof ls / sizeof *ls; i++) TRY(lin_convert(ls[i], t));
    if (ly->eg)
        for (int e = 0; e < c->n_routed_experts; e++) {
            TRY(lin_convert(&ly->eg[e], t)); TRY(lin_convert(&ly->eu[e], t)); TRY(lin_convert(&ly->ed[e], t));
        }
    return 0;
}

int infer_model_convert(InferModel *m, QType t) {
    for (int l = 0; l < m->c.num_hidden_layers + m->n_mtp; l++) TRY(convert_layer(&m->c, &m->layers[l], t));
    QType ht = t == QT_F32 ? QT_F32 : (t == QT_BF16 || t == QT_FP8) ? QT_BF16 : QT_I8;
    if (m->head.cols % 32 && ht == QT_I8) ht = QT_BF16;
    TRY(lin_convert(&m->head, ht));
    infer_model_interleave(m);
    return 0;
}
