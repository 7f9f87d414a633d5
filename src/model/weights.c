// weights.c — model folders: load (config.json + safetensors, any supported
// dtype, DeepSeek-V3 FP8 blocks, fused or per-expert layouts) and save (atomic).
#include "model/model.h"
#include "base/check.h"
#include "base/io.h"
#include "model/safetensors.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Read tensor `name` into dst[numel] with the expected shape; FP8 weights are
// dequantized with their 128x128 `weight_scale_inv` blocks.
static int read_tensor(const StFile *f, const char *dir, const char *name, int ndim, const int64_t *shape, float *dst) {
    const StTensor *t = st_find(f, name);
    if (!t) return fail("%s: missing tensor \"%s\"", dir, name);
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        char want[64], got[64];
        int a = 0, b = 0;
        for (int i = 0; i < ndim; i++) a += snprintf(want + a, sizeof want - a, "%s%lld", i ? "," : "", (long long)shape[i]);
        for (int i = 0; i < t->ndim && b < 60; i++) b += snprintf(got + b, sizeof got - b, "%s%lld", i ? "," : "", (long long)t->shape[i]);
        return fail("%s: tensor \"%s\" has shape [%s], the config implies [%s]", dir, name, got, want);
    }
    int64_t numel = st_numel(t);
    TRY(st_read_f32(t, dst, numel));
    if (t->dtype == ST_F8_E4M3) {
        char sname[160];
        snprintf(sname, sizeof sname, "%s_scale_inv", name);
        const StTensor *s = st_find(f, sname);
        if (!s) return fail("%s: FP8 tensor \"%s\" has no \"%s\" block scales", dir, name, sname);
        int64_t rows = ndim == 2 ? shape[0] : 1, cols = shape[ndim - 1];
        int64_t br = (rows + 127) / 128, bc = (cols + 127) / 128;
        if (s->ndim != 2 || s->shape[0] != br || s->shape[1] != bc)
            return fail("%s: \"%s\" must have shape [%lld,%lld] for a [%lld,%lld] weight", dir, sname,
                        (long long)br, (long long)bc, (long long)rows, (long long)cols);
        float *sc = xmalloc(sizeof(float) * br * bc);
        if (st_read_f32(s, sc, br * bc) < 0) { free(sc); return -1; }
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) dst[r * cols + c] *= sc[(r / 128) * bc + c / 128];
        free(sc);
    }
    return 0;
}

// transformers v5 may hold experts fused: mlp.experts.gate_up_proj [E, 2Im, D], mlp.experts.down_proj [E, D, Im].
static int read_fused_experts(const StFile *f, const char *dir, const Model *m, int l) {
    const Config *c = &m->c;
    int64_t E = c->n_routed_experts, Im = c->moe_intermediate_size, D = c->hidden_size;
    char name[160];
    snprintf(name, sizeof name, "model.layers.%d.mlp.experts.gate_up_proj", l);
    int64_t s1[3] = {E, 2 * Im, D}, s2[3] = {E, D, Im};
    float *gu = xmalloc(sizeof(float) * E * 2 * Im * D);
    if (read_tensor(f, dir, name, 3, s1, gu) < 0) { free(gu); return -1; }
    for (int64_t e = 0; e < E; e++) {
        memcpy(m->lw[l].ex_gate + e * Im * D, gu + e * 2 * Im * D, sizeof(float) * Im * D);
        memcpy(m->lw[l].ex_up + e * Im * D, gu + e * 2 * Im * D + Im * D, sizeof(float) * Im * D);
    }
    free(gu);
    snprintf(name, sizeof name, "model.layers.%d.mlp.experts.down_proj", l);
    return read_tensor(f, dir, name, 3, s2, m->lw[l].ex_down);
}

int model_load(const char *dir, Model *m) {
    char *cfg_path = path_join(dir, "config.json");
    Config c;
    int rc = config_load(cfg_path, &c);
    free(cfg_path);
    TRY(rc);
    StFile f;
    TRY(st_open(dir, &f));
    // A folder without MTP weights (transformers never writes them) loads without MTP.
    if (c.num_nextn_predict_layers > 0) {
        char probe[128];
        snprintf(probe, sizeof probe, "model.layers.%d.eh_proj.weight", c.num_hidden_layers);
        if (!st_find(&f, probe)) c.num_nextn_predict_layers = 0;
    }
    if (model_create(&c, m) < 0) { st_close(&f); return fail_ctx("%s", dir); }
    char fused_done[4096] = {0};
    for (int i = 0; i < m->n_views; i++) {
        const ParamView *v = &m->views[i];
        int l = -1, e = -1;
        if (sscanf(v->name, "model.layers.%d.mlp.experts.%d.", &l, &e) == 2 && !st_find(&f, v->name)) {
            char fname[160];
            snprintf(fname, sizeof fname, "model.layers.%d.mlp.experts.gate_up_proj", l);
            if (st_find(&f, fname)) {
                if (l < 4096 && !fused_done[l]) {
                    if (read_fused_experts(&f, dir, m, l) < 0) { st_close(&f); model_free(m); return -1; }
                    fused_done[l] = 1;
                }
                continue;
            }
        }
        if (!v->trainable && !st_find(&f, v->name)) continue;     // a missing router bias stays 0
        if (read_tensor(&f, dir, v->name, v->ndim, v->shape, m->params + v->offset) < 0) {
            st_close(&f);
            model_free(m);
            return -1;
        }
    }
    st_close(&f);
    return 0;
}

int model_write_files(const Model *m, const char *dir, int bf16) {
    TRY(io_mkdir_p(dir));
    char *cfg = path_join(dir, "config.json");
    int rc = config_save(cfg, &m->c);
    free(cfg);
    TRY(rc);
    StWriter w;
    st_writer_init(&w);
    uint16_t *half = NULL;
    if (bf16) {
        half = xmalloc(sizeof(uint16_t) * m->n_params);
        #pragma omp parallel for
        for (size_t i = 0; i < m->n_params; i++) half[i] = f32_to_bf16(m->params[i]);
    }
    for (int i = 0; i < m->n_views; i++) {
        const ParamView *v = &m->views[i];
        int keep32 = !v->trainable;   // the router bias stays FP32, as DeepSeek ships it
        if (bf16 && !keep32) st_writer_add(&w, v->name, ST_BF16, v->ndim, v->shape, half + v->offset);
        else st_writer_add(&w, v->name, ST_F32, v->ndim, v->shape, m->params + v->offset);
    }
    rc = st_writer_save_folder(&w, dir, (size_t)4 << 30);
    st_writer_free(&w);
    free(half);
    return rc;
}

int model_save(const Model *m, const char *dir, int bf16) {
    size_t n = strlen(dir) + 32;
    char *tmp = xmalloc(n), *old = xmalloc(n);
    snprintf(tmp, n, "%s.tmp.%d", dir, (int)getpid());
    snprintf(old, n, "%s.old.%d", dir, (int)getpid());
    io_rm_rf(tmp);
    int rc = model_write_files(m, tmp, bf16);
    if (rc == 0) rc = io_fsync_path(tmp);
    if (rc == 0) {
        int had = io_exists(dir);
        if (had && rename(dir, old) != 0) rc = fail("cannot move the old %s aside", dir);
        else if (rename(tmp, dir) != 0) {
            rc = fail("cannot rename %s to %s", tmp, dir);
            if (had) rename(old, dir);
        } else if (had) io_rm_rf(old);
    }
    if (rc != 0) io_rm_rf(tmp);
    free(tmp); free(old);
    return rc;
}
