// params.c — the parameter table: one contiguous FP32 block, named views with
// the Hugging Face tensor names, per-layer pointers, random init, counts.
#include "model/model.h"
#include "base/check.h"
#include "base/rng.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { ParamView *v; int n, cap; size_t total; } Table;

static void add(Table *t, int trainable, int decay, int ndim, int64_t d0, int64_t d1, int64_t d2, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

#include <stdarg.h>
static void add(Table *t, int trainable, int decay, int ndim, int64_t d0, int64_t d1, int64_t d2, const char *fmt, ...) {
    size_t numel = (size_t)d0 * (ndim > 1 ? (size_t)d1 : 1) * (ndim > 2 ? (size_t)d2 : 1);
    if (t->v) {
        if (t->n == t->cap) t->v = xrealloc(t->v, sizeof(ParamView) * (t->cap = t->cap * 2 + 64));
        ParamView *p = &t->v[t->n];
        memset(p, 0, sizeof *p);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->name, sizeof p->name, fmt, ap);
        va_end(ap);
        p->ndim = ndim;
        p->shape[0] = d0; p->shape[1] = d1; p->shape[2] = d2;
        p->offset = t->total; p->numel = numel;
        p->trainable = trainable; p->decay = decay;
    }
    t->n++;
    t->total += numel;
}

// Lay out every tensor of the config in the block, in HF order.
static void layout(const Config *c, Table *t) {
    int64_t D = c->hidden_size, V = c->vocab_size, H = c->num_attention_heads;
    int64_t rq = c->q_lora_rank, rkv = c->kv_lora_rank, dn = c->qk_nope_head_dim, dr = c->qk_rope_head_dim;
    int64_t dv = c->v_head_dim, I = c->intermediate_size, Im = c->moe_intermediate_size, E = c->n_routed_experts;
    int64_t S = c->n_shared_experts, L = c->num_hidden_layers, nm = c->num_nextn_predict_layers;
    add(t, 1, 1, 2, V, D, 0, "model.embed_tokens.weight");
    for (int l = 0; l < L + nm; l++) {
        if (l >= L) {
            add(t, 1, 0, 1, D, 0, 0, "model.layers.%d.enorm.weight", l);
            add(t, 1, 0, 1, D, 0, 0, "model.layers.%d.hnorm.weight", l);
            add(t, 1, 1, 2, D, 2 * D, 0, "model.layers.%d.eh_proj.weight", l);
            add(t, 1, 0, 1, D, 0, 0, "model.layers.%d.shared_head.norm.weight", l);
        }
        add(t, 1, 0, 1, D, 0, 0, "model.layers.%d.input_layernorm.weight", l);
        if (c->attn_mha) {
            add(t, 1, 1, 2, H * (dn + dr), D, 0, "model.layers.%d.self_attn.q_proj.weight", l);
            add(t, 1, 1, 2, H * (dn + dr), D, 0, "model.layers.%d.self_attn.k_proj.weight", l);
            add(t, 1, 1, 2, H * dv, D, 0, "model.layers.%d.self_attn.v_proj.weight", l);
        } else if (rq > 0) {
            add(t, 1, 1, 2, rq, D, 0, "model.layers.%d.self_attn.q_a_proj.weight", l);
            add(t, 1, 0, 1, rq, 0, 0, "model.layers.%d.self_attn.q_a_layernorm.weight", l);
            add(t, 1, 1, 2, H * (dn + dr), rq, 0, "model.layers.%d.self_attn.q_b_proj.weight", l);
        } else {
            add(t, 1, 1, 2, H * (dn + dr), D, 0, "model.layers.%d.self_attn.q_proj.weight", l);
        }
        if (!c->attn_mha) {
            add(t, 1, 1, 2, rkv + dr, D, 0, "model.layers.%d.self_attn.kv_a_proj_with_mqa.weight", l);
            add(t, 1, 0, 1, rkv, 0, 0, "model.layers.%d.self_attn.kv_a_layernorm.weight", l);
            add(t, 1, 1, 2, H * (dn + dv), rkv, 0, "model.layers.%d.self_attn.kv_b_proj.weight", l);
        }
        add(t, 1, 1, 2, D, H * dv, 0, "model.layers.%d.self_attn.o_proj.weight", l);
        add(t, 1, 0, 1, D, 0, 0, "model.layers.%d.post_attention_layernorm.weight", l);
        if (config_is_moe_layer(c, l)) {
            add(t, 1, 1, 2, E, D, 0, "model.layers.%d.mlp.gate.weight", l);
            if (c->topk_method == TOPK_NOAUX_TC)
                add(t, 0, 0, 1, E, 0, 0, "model.layers.%d.mlp.gate.e_score_correction_bias", l);
            if (S > 0) {
                add(t, 1, 1, 2, S * Im, D, 0, "model.layers.%d.mlp.shared_experts.gate_proj.weight", l);
                add(t, 1, 1, 2, S * Im, D, 0, "model.layers.%d.mlp.shared_experts.up_proj.weight", l);
                add(t, 1, 1, 2, D, S * Im, 0, "model.layers.%d.mlp.shared_experts.down_proj.weight", l);
            }
            for (int e = 0; e < E; e++) add(t, 1, 1, 2, Im, D, 0, "model.layers.%d.mlp.experts.%d.gate_proj.weight", l, e);
            for (int e = 0; e < E; e++) add(t, 1, 1, 2, Im, D, 0, "model.layers.%d.mlp.experts.%d.up_proj.weight", l, e);
            for (int e = 0; e < E; e++) add(t, 1, 1, 2, D, Im, 0, "model.layers.%d.mlp.experts.%d.down_proj.weight", l, e);
        } else {
            add(t, 1, 1, 2, I, D, 0, "model.layers.%d.mlp.gate_proj.weight", l);
            add(t, 1, 1, 2, I, D, 0, "model.layers.%d.mlp.up_proj.weight", l);
            add(t, 1, 1, 2, D, I, 0, "model.layers.%d.mlp.down_proj.weight", l);
        }
    }
    add(t, 1, 0, 1, D, 0, 0, "model.norm.weight");
    if (!c->tie_word_embeddings) add(t, 1, 1, 2, V, D, 0, "lm_head.weight");
}

const ParamView *model_find(const Model *m, const char *name) {
    for (int i = 0; i < m->n_views; i++) if (!strcmp(m->views[i].name, name)) return &m->views[i];
    return NULL;
}

static float *ptr(const Model *m, float *base, const char *fmt, int l, int e) {
    char name[128];
    snprintf(name, sizeof name, fmt, l, e);
    const ParamView *v = model_find(m, name);
    return v ? base + v->offset : NULL;
}

static void bind_layers(const Model *m, float *base, LayerW *out) {
    for (int l = 0; l < m->n_layers_total; l++) {
        LayerW *w = &out[l];
        memset(w, 0, sizeof *w);
        w->attn_norm = ptr(m, base, "model.layers.%d.input_layernorm.weight", l, 0);
        w->q_a = ptr(m, base, "model.layers.%d.self_attn.q_a_proj.weight", l, 0);
        w->q_a_norm = ptr(m, base, "model.layers.%d.self_attn.q_a_layernorm.weight", l, 0);
        w->q_b = ptr(m, base, "model.layers.%d.self_attn.q_b_proj.weight", l, 0);
        w->q = ptr(m, base, "model.layers.%d.self_attn.q_proj.weight", l, 0);
        w->k_proj = ptr(m, base, "model.layers.%d.self_attn.k_proj.weight", l, 0);
        w->v_proj = ptr(m, base, "model.layers.%d.self_attn.v_proj.weight", l, 0);
        w->kv_a = ptr(m, base, "model.layers.%d.self_attn.kv_a_proj_with_mqa.weight", l, 0);
        w->kv_a_norm = ptr(m, base, "model.layers.%d.self_attn.kv_a_layernorm.weight", l, 0);
        w->kv_b = ptr(m, base, "model.layers.%d.self_attn.kv_b_proj.weight", l, 0);
        w->o = ptr(m, base, "model.layers.%d.self_attn.o_proj.weight", l, 0);
        w->ffn_norm = ptr(m, base, "model.layers.%d.post_attention_layernorm.weight", l, 0);
        w->gate = ptr(m, base, "model.layers.%d.mlp.gate_proj.weight", l, 0);
        w->up = ptr(m, base, "model.layers.%d.mlp.up_proj.weight", l, 0);
        w->down = ptr(m, base, "model.layers.%d.mlp.down_proj.weight", l, 0);
        w->router = ptr(m, base, "model.layers.%d.mlp.gate.weight", l, 0);
        w->router_bias = ptr(m, base, "model.layers.%d.mlp.gate.e_score_correction_bias", l, 0);
        w->sh_gate = ptr(m, base, "model.layers.%d.mlp.shared_experts.gate_proj.weight", l, 0);
        w->sh_up = ptr(m, base, "model.layers.%d.mlp.shared_experts.up_proj.weight", l, 0);
        w->sh_down = ptr(m, base, "model.layers.%d.mlp.shared_experts.down_proj.weight", l, 0);
        w->ex_gate = ptr(m, base, "model.layers.%d.mlp.experts.%d.gate_proj.weight", l, 0);
        w->ex_up = ptr(m, base, "model.layers.%d.mlp.experts.%d.up_proj.weight", l, 0);
        w->ex_down = ptr(m, base, "model.layers.%d.mlp.experts.%d.down_proj.weight", l, 0);
        w->enorm = ptr(m, base, "model.layers.%d.enorm.weight", l, 0);
        w->hnorm = ptr(m, base, "model.layers.%d.hnorm.weight", l, 0);
        w->eh_proj = ptr(m, base, "model.layers.%d.eh_proj.weight", l, 0);
        w->head_norm = ptr(m, base, "model.layers.%d.shared_head.norm.weight", l, 0);
        w->is_moe = config_is_moe_layer(&m->c, l);
    }
}

int model_create(const Config *c, Model *m) {
    memset(m, 0, sizeof *m);
    TRY(config_validate(c, "model config"));
    m->c = *c;
    Table t = {0};
    t.v = xmalloc(sizeof(ParamView) * 64); t.cap = 64;
    layout(c, &t);
    m->views = t.v; m->n_views = t.n; m->n_params = t.total;
    m->params = xmalloc_aligned(sizeof(float) * m->n_params);
    m->n_layers_total = c->num_hidden_layers + c->num_nextn_predict_layers;
    m->lw = xcalloc(m->n_layers_total, sizeof(LayerW));
    bind_layers(m, m->params, m->lw);
    m->embed = m->params + model_find(m, "model.embed_tokens.weight")->offset;
    m->final_norm = m->params + model_find(m, "model.norm.weight")->offset;
    const ParamView *h = model_find(m, "lm_head.weight");
    m->lm_head = h ? m->params + h->offset : m->embed;
    return 0;
}

void model_alloc_grads(Model *m) {
    if (m->grads) return;
    m->grads = xmalloc_aligned(sizeof(float) * m->n_params);
    m->lg = xcalloc(m->n_layers_total, sizeof(LayerW));
    bind_layers(m, m->grads, m->lg);
}

void model_zero_grads(Model *m) {
    if (m->grads) memset(m->grads, 0, sizeof(float) * m->n_params);
}

void model_init_random(Model *m, uint64_t seed, float std) {
    #pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < m->n_views; i++) {
        const ParamView *v = &m->views[i];
        float *p = m->params + v->offset;
        if (v->ndim == 1) {
            float val = strstr(v->name, "e_score_correction_bias") ? 0.0f : 1.0f;   // norms at 1, bias at 0
            for (size_t j = 0; j < v->numel; j++) p[j] = val;
        } else {
            Rng r;
            rng_seed_stream(&r, seed, (uint64_t)i);
            for (size_t j = 0; j < v->numel; j++) p[j] = std * rng_normal(&r);
        }
    }
}

void model_param_counts(const Config *c, size_t *total, size_t *active) {
    Config main = *c;
    main.num_nextn_predict_layers = 0;                 // MTP modules are counted apart
    Table t = {0};
    layout(&main, &t);
    size_t expert = 3 * (size_t)c->hidden_size * c->moe_intermediate_size;
    size_t moe_layers = 0;
    for (int l = 0; l < c->num_hidden_layers; l++) moe_layers += config_is_moe_layer(c, l);
    *total = t.total;
    *active = t.total - moe_layers * (size_t)(c->n_routed_experts - c->num_experts_per_tok) * expert;
}

void model_update_router_bias(Model *m, const int32_t *load, float gamma) {
    int E = m->c.n_routed_experts;
    for (int l = 0; l < m->n_layers_total; l++) {
        float *b = m->lw[l].router_bias;
        if (!b) continue;
        const int32_t *c = load + (size_t)l * E;
        double mean = 0;
        for (int e = 0; e < E; e++) mean += c[e];
        mean /= E;
        if (mean == 0) continue;                        // layer not run this step (e.g. MTP off)
        for (int e = 0; e < E; e++) {
            double d = mean - c[e];
            b[e] += gamma * (float)((d > 0) - (d < 0));
        }
    }
}
