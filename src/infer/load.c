// load.c — read a Hugging Face model folder into an InferModel (see weights.h).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include "base/progress.h"
#include "infer/weights.h"
#include "infer/quantize.h"
#include "model/safetensors.h"

// ---------------------------------------------------------------- loading

typedef struct { const StFile *f; const char *dir; int rows8; } Src;   // rows8: int4 decode layout (quantize.h)

static int read_tensor(const Src *s, const char *name, int rows, int cols, float **out) {
    const StTensor *t = st_find(s->f, name);
    if (!t) return fail("%s: tensor \"%s\" is missing from the model's safetensors (is this a complete "
                        "DeepSeek-V2/V3 folder?)", s->dir, name);
    int64_t want = (int64_t)rows * (cols > 0 ? cols : 1);
    int ok = cols > 0 ? (t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols)
                      : (t->ndim == 1 && t->shape[0] == rows);
    if (!ok) {
        if (cols > 0)
            return fail("%s: tensor \"%s\" has %d dims [%lld, %lld], config.json implies [%d, %d]", s->dir, name,
                        t->ndim, (long long)t->shape[0], (long long)(t->ndim > 1 ? t->shape[1] : 0), rows, cols);
        return fail("%s: tensor \"%s\" has shape [%lld...] (%d dims), config.json implies [%d]", s->dir, name,
                    (long long)(t->ndim > 0 ? t->shape[0] : 0), t->ndim, rows);
    }
    float *w = xmalloc((size_t)want * sizeof(float));
    if (st_read_f32(t, w, want) < 0) { free(w); return fail_ctx("%s: tensor \"%s\": ", s->dir, name); }
    if (t->dtype == ST_F8_E4M3) {
        // DeepSeek-V3 FP8: w = q * weight_scale_inv[row/128, col/128].
        char sname[512];
        snprintf(sname, sizeof sname, "%s_scale_inv", name);
        const StTensor *st = st_find(s->f, sname);
        int br = (rows + 127) / 128, bc = (cols + 127) / 128;
        if (!st) { free(w); return fail("%s: FP8 tensor \"%s\" has no \"%s\" block scales", s->dir, name, sname); }
        if (st->ndim != 2 || st->shape[0] != br || st->shape[1] != bc) {
            free(w);
            return fail("%s: \"%s\" should be [%d, %d] (128x128 blocks of [%d, %d])", s->dir, sname, br, bc, rows, cols);
        }
        float *sc = xmalloc((size_t)br * bc * sizeof(float));
        if (st_read_f32(st, sc, (int64_t)br * bc) < 0) { free(w); free(sc); return fail_ctx("%s: ", s->dir); }
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) w[(size_t)i * cols + j] *= sc[(size_t)(i / 128) * bc + j / 128];
        free(sc);
    }
    *out = w;
    return 0;
}

// Projection weights stay in their on-disk format, as views into the mapping where the
// layout allows (BF16, FP8 + F32 scales, deepc int8/int4 + F16 scales, F32); others become FP32.
static int load_lin(const Src *s, const char *name, int rows, int cols, Lin *l) {
    const StTensor *t = st_find(s->f, name);
    if (t && t->ndim == 2 && t->shape[0] == rows) {
        char sname[512];
        QMatrix q;
        if (t->dtype == ST_BF16 && t->shape[1] == cols && ((uintptr_t)t->data & 1) == 0) {
            TRY(qmat_view(&q, QT_BF16, rows, cols, t->data, NULL));
            lin_init_q(l, q);
            return 0;
        }
        if (t->dtype == ST_F32 && t->shape[1] == cols && ((uintptr_t)t->data & 3) == 0) {
            TRY(qmat_view(&q, QT_F32, rows, cols, t->data, NULL));
            lin_init_q(l, q);
            return 0;
        }
        snprintf(sname, sizeof sname, "%s_scale_inv", name);
        const StTensor *st = st_find(s->f, sname);
        if (t->dtype == ST_F8_E4M3 && t->shape[1] == cols && st && st->dtype == ST_F32 && ((uintptr_t)st->data & 3) == 0) {
            int br = (rows + 127) / 128, bc = (cols + 127) / 128;
            if (st->ndim != 2 || st->shape[0] != br || st->shape[1] != bc)
                return fail("%s: \"%s\" should be [%d, %d] (128x128 blocks of [%d, %d])", s->dir, sname, br, bc, rows, cols);
            TRY(qmat_view(&q, QT_FP8, rows, cols, t->data, st->data));
            lin_init_q(l, q);
            return 0;
        }
        // deepc block formats (docs/formats.md): int8 [R, C] or int4 nibbles U8 [R, C/2], F16 scales [R, C/32].
        snprintf(sname, sizeof sname, "%s_scale", name);
        st = st_find(s->f, sname);
        int i8 = t->dtype == ST_I8 && t->shape[1] == cols, i4 = t->dtype == ST_U8 && t->shape[1] * 2 == cols;
        if (i8 || i4) {
            if (cols % 32) return fail("%s: \"%s\": int8/int4 weights need a column count divisible by 32, not %d", s->dir, name, cols);
            if (!st || st->dtype != ST_F16 || st->ndim != 2 || st->shape[0] != rows || st->shape[1] != cols / 32)
                return fail("%s: %s weight \"%s\" needs \"%s\" as F16 [%d, %d]", s->dir, i8 ? "int8" : "int4", name, sname,
                            rows, cols / 32);
            if (((uintptr_t)st->data & 1) == 0) {
                TRY(qmat_view(&q, i8 ? QT_I8 : QT_I4, rows, cols, t->data, st->data));
            } else {
                QMatrix v;
                TRY(qmat_view(&v, i8 ? QT_I8 : QT_I4, rows, cols, t->data, t->data));   // placeholder scale, replaced below
                size_t sb = qmat_scale_bytes(v.type, rows, cols), db = qmat_data_bytes(v.type, rows, cols);
                void *d = xmalloc(db), *sc = xmalloc(sb);
                memcpy(d, t->data, db); memcpy(sc, st->data, sb);
                q = v; q.data = d; q.scale = sc; q.owns = 1;
            }
            q.il = i4 && s->rows8 && quant_i4_rows8(name, rows);   // stored in the decode layout: used as it is
            lin_init_q(l, q);
            return 0;
        }
    }
    float *w = NULL;
    TRY(read_tensor(s, name, rows, cols, &w));
    lin_init_f32(l, rows, cols, w);
    return 0;
}
static int load_vec(const Src *s, const char *name, int n, float **out) { return read_tensor(s, name, n, 0, out); }

#define NM(...) (snprintf(nm, sizeof nm, __VA_ARGS__), nm)

static int load_layer(const Src *s, const Config *c, int l, InferLayer *ly, int moe) {
    char nm[512];
    int D = c->hidden_size, H = c->num_attention_heads, dqk = c->qk_nope_head_dim + c->qk_rope_head_dim;
    const char *p = "model.layers";
    memset(ly, 0, sizeof *ly);
    TRY(load_vec(s, NM("%s.%d.input_layernorm.weight", p, l), D, &ly->attn_norm));
    TRY(load_vec(s, NM("%s.%d.post_attention_layernorm.weight", p, l), D, &ly->ffn_norm));
    if (c->q_lora_rank > 0) {
        TRY(load_lin(s, NM("%s.%d.self_attn.q_a_proj.weight", p, l), c->q_lora_rank, D, &ly->q_a));
        TRY(load_vec(s, NM("%s.%d.self_attn.q_a_layernorm.weight", p, l), c->q_lora_rank, &ly->q_a_norm));
        TRY(load_lin(s, NM("%s.%d.self_attn.q_b_proj.weight", p, l), H * dqk, c->q_lora_rank, &ly->q_b));
    } else {
        TRY(load_lin(s, NM("%s.%d.self_attn.q_proj.weight", p, l), H * dqk, D, &ly->q));
    }
    TRY(load_lin(s, NM("%s.%d.self_attn.kv_a_proj_with_mqa.weight", p, l), c->kv_lora_rank + c->qk_rope_head_dim, D,
                 &ly->kv_a));
    TRY(load_vec(s, NM("%s.%d.self_attn.kv_a_layernorm.weight", p, l), c->kv_lora_rank, &ly->kv_a_norm));
    TRY(load_lin(s, NM("%s.%d.self_attn.kv_b_proj.weight", p, l), H * (c->qk_nope_head_dim + c->v_head_dim),
                 c->kv_lora_rank, &ly->kv_b));
    TRY(load_lin(s, NM("%s.%d.self_attn.o_proj.weight", p, l), D, H * c->v_head_dim, &ly->o));
    ly->moe = moe;
    if (!moe) {
        int I = c->intermediate_size;
        TRY(load_lin(s, NM("%s.%d.mlp.gate_proj.weight", p, l), I, D, &ly->gate));
        TRY(load_lin(s, NM("%s.%d.mlp.up_proj.weight", p, l), I, D, &ly->up));
        TRY(load_lin(s, NM("%s.%d.mlp.down_proj.weight", p, l), D, I, &ly->down));
        return 0;
    }
    int E = c->n_routed_experts, I = c->moe_intermediate_size;
    TRY(read_tensor(s, NM("%s.%d.mlp.gate.weight", p, l), E, D, &ly->router));
    if (c->topk_method == TOPK_NOAUX_TC) {
        NM("%s.%d.mlp.gate.e_score_correction_bias", p, l);
        if (st_find(s->f, nm)) TRY(load_vec(s, nm, E, &ly->router_bias));
        else ly->router_bias = xcalloc(E, sizeof(float));
    }
    ly->eg = xcalloc(E, sizeof(Lin)); ly->eu = xcalloc(E, sizeof(Lin)); ly->ed = xcalloc(E, sizeof(Lin));
    NM("%s.%d.mlp.experts.gate_up_proj", p, l);
    const StTensor *fused = st_find(s->f, nm);
    if (fused) {
        // transformers v5 fused layout: gate_up_proj [E, 2I, D] (gate rows first), down_proj [E, D, I].
        char nm2[512];
        snprintf(nm2, sizeof nm2, "%s.%d.mlp.experts.down_proj", p, l);
        const StTensor *fd = st_find(s->f, nm2);
        if (!fd || fused->ndim != 3 || fused->shape[0] != E || fused->shape[1] != 2 * I || fused->shape[2] != D ||
            fd->ndim != 3 || fd->shape[0] != E || fd->shape[1] != D || fd->shape[2] != I)
            return fail("%s: fused experts of layer %d: expected gate_up_proj [%d, %d, %d] and down_proj [%d, %d, %d]",
                        s->dir, l, E, 2 * I, D, E, D, I);
        float *gu = xmalloc((size_t)E * 2 * I * D * sizeof(float)), *dn = xmalloc((size_t)E * D * I * sizeof(float));
        if (st_read_f32(fused, gu, (int64_t)E * 2 * I * D) < 0 || st_read_f32(fd, dn, (int64_t)E * D * I) < 0) {
            free(gu); free(dn);
            return fail_ctx("%s: layer %d experts: ", s->dir, l);
        }
        for (int e = 0; e < E; e++) {
            float *g = xmalloc((size_t)I * D * sizeof(float)), *u = xmalloc((size_t)I * D * sizeof(float));
            float *d = xmalloc((size_t)D * I * sizeof(float));
            memcpy(g, gu + (size_t)e * 2 * I * D, (size_t)I * D * sizeof(float));
            memcpy(u, gu + ((size_t)e * 2 * I + I) * D, (size_t)I * D * sizeof(float));
            memcpy(d, dn + (size_t)e * D * I, (size_t)D * I * sizeof(float));
            lin_init_f32(&ly->eg[e], I, D, g); lin_init_f32(&ly->eu[e], I, D, u); lin_init_f32(&ly->ed[e], D, I, d);
        }
        free(gu); free(dn);
    } else {
        for (int e = 0; e < E; e++) {
            TRY(load_lin(s, NM("%s.%d.mlp.experts.%d.gate_proj.weight", p, l, e), I, D, &ly->eg[e]));
            TRY(load_lin(s, NM("%s.%d.mlp.experts.%d.up_proj.weight", p, l, e), I, D, &ly->eu[e]));
            TRY(load_lin(s, NM("%s.%d.mlp.experts.%d.down_proj.weight", p, l, e), D, I, &ly->ed[e]));
        }
    }
    if (c->n_shared_experts > 0) {
        int S = c->n_shared_experts * I;
        TRY(load_lin(s, NM("%s.%d.mlp.shared_experts.gate_proj.weight", p, l), S, D, &ly->sg));
        TRY(load_lin(s, NM("%s.%d.mlp.shared_experts.up_proj.weight", p, l), S, D, &ly->su));
        TRY(load_lin(s, NM("%s.%d.mlp.shared_experts.down_proj.weight", p, l), D, S, &ly->sd));
    }
    return 0;
}

static int load_all(const Src *s, InferModel *m) {
    const Config *c = &m->c;
    char nm[512];
    int D = c->hidden_size, V = c->vocab_size, L = c->num_hidden_layers;
    TRY(read_tensor(s, "model.embed_tokens.weight", V, D, &m->embed));
    TRY(load_vec(s, "model.norm.weight", D, &m->norm));
    if (st_find(s->f, "lm_head.weight")) TRY(load_lin(s, "lm_head.weight", V, D, &m->head));
    else if (c->tie_word_embeddings) {
        float *w = xmalloc((size_t)V * D * sizeof(float));
        memcpy(w, m->embed, (size_t)V * D * sizeof(float));
        lin_init_f32(&m->head, V, D, w);
    } else return fail("%s: tensor \"lm_head.weight\" is missing (and tie_word_embeddings is false)", s->dir);
    // MTP modules are loaded only when the folder has them (transformers drops them).
    m->n_mtp = 0;
    for (int k = 0; k < c->num_nextn_predict_layers; k++)
        if (st_find(s->f, NM("model.layers.%d.eh_proj.weight", L + k))) m->n_mtp = k + 1; else break;
    m->layers = xcalloc((size_t)(L + m->n_mtp), sizeof(InferLayer));
    Progress pr;
    progress_start(&pr, "load", L + m->n_mtp, "layers");
    for (int l = 0; l < L + m->n_mtp; l++) {
        int moe = l < L ? infer_is_moe_layer(c, l) : c->n_routed_experts > 0;
        TRY(load_layer(s, c, l, &m->layers[l], moe));
        if (l >= L) {
            InferLayer *ly = &m->layers[l];
            TRY(load_vec(s, NM("model.layers.%d.enorm.weight", l), D, &ly->enorm));
            TRY(load_vec(s, NM("model.layers.%d.hnorm.weight", l), D, &ly->hnorm));
            TRY(load_vec(s, NM("model.layers.%d.shared_head.norm.weight", l), D, &ly->mtp_norm));
            TRY(load_lin(s, NM("model.layers.%d.eh_proj.weight", l), D, 2 * D, &ly->eh_proj));
        }
        progress_update(&pr, l + 1);
    }
    pr.quiet = 1;
    progress_end(&pr);
    return 0;
}

int infer_folder_config(const char *dir, Config *c, FolderQuant *q) {
    memset(q, 0, sizeof *q);
    if (!io_is_dir(dir)) return fail("model folder \"%s\" does not exist or is not a folder", dir);
    char *cfg = path_join(dir, "config.json");
    if (!io_exists(cfg)) { free(cfg); return fail("%s: no config.json (expected a Hugging Face model folder)", dir); }
    cJSON *j;
    if (json_load_file(cfg, &j) < 0) { free(cfg); return -1; }
    // deepc's own int8/int4 folders carry quantization_config {"quant_method": "deepc", "fmt": "int8"|"int4"};
    // config.c knows only FP8, so that entry is checked here and removed before parsing the rest.
    cJSON *qc = cJSON_GetObjectItemCaseSensitive(j, "quantization_config");
    const cJSON *qm = qc ? cJSON_GetObjectItemCaseSensitive(qc, "quant_method") : NULL;
    q->fp8 = qc && !(cJSON_IsString(qm) && !strcmp(qm->valuestring, "deepc"));
    if (qc && !q->fp8) {
        const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(qc, "fmt");
        if (!cJSON_IsString(fmt) || (strcmp(fmt->valuestring, "int8") && strcmp(fmt->valuestring, "int4"))) {
            cJSON_Delete(j);
            int rc = fail("%s: quantization_config.fmt must be \"int8\" or \"int4\" for quant_method \"deepc\"", cfg);
            free(cfg);
            return rc;
        }
        q->bits = !strcmp(fmt->valuestring, "int4") ? 4 : 8;
        q->rows8 = q->bits == 4 ? quant_i4_layout(qc, cfg) : 0;
        if (q->rows8 < 0) { cJSON_Delete(j); free(cfg); return -1; }
        cJSON_DeleteItemFromObjectCaseSensitive(j, "quantization_config");
    }
    int rc = config_from_json(j, cfg, c);
    cJSON_Delete(j);
    free(cfg);
    return rc < 0 ? -1 : 0;
}

int infer_model_load(const char *dir, InferModel *m) {
    double t0 = now_seconds();
    memset(m, 0, sizeof *m);
    FolderQuant fq;
    if (infer_folder_config(dir, &m->c, &fq) < 0) return -1;
    int rc;
    StFile *f = xcalloc(1, sizeof(StFile));
    if (st_open(dir, f) < 0) { free(f); return fail_ctx("model folder %s: ", dir); }
    m->st = f;   // projection weights may be views into these mappings
    Src s = {f, dir, fq.rows8};
    rc = load_all(&s, m);
    if (rc < 0) { infer_model_free(m); return -1; }
    infer_model_derive(m);
    infer_model_interleave(m);
    m->load_seconds = now_seconds() - t0;
    return 0;
}

