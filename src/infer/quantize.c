// quantize.c — model folder → model folder in another weight format (see quantize.h).
#include "infer/quantize.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include "base/hugemem.h"
#include "base/progress.h"
#include "kernels/fp8.h"
#include "infer/weights.h"
#include "kernels/quant.h"
#include "model/safetensors.h"

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int is_projection(const StTensor *t) {
    const char *n = t->name;
    if (t->ndim != 2 || !ends_with(n, ".weight")) return 0;
    if (strstr(n, "embed_tokens") || strstr(n, "lm_head") || strstr(n, "shared_head.head") || ends_with(n, "mlp.gate.weight"))
        return 0;
    return t->dtype == ST_F32 || t->dtype == ST_BF16 || t->dtype == ST_F16 || t->dtype == ST_F8_E4M3 ||
           t->dtype == ST_I8 || t->dtype == ST_U8;
}

// A scale companion of another tensor (dropped: scales are regenerated).
static int is_scale(const StFile *f, const char *n) {
    char base[512];
    const char *sufs[] = {"_scale_inv", "_scale"};
    for (int i = 0; i < 2; i++) {
        size_t a = strlen(n), b = strlen(sufs[i]);
        if (a > b && a - b < sizeof base && !strcmp(n + a - b, sufs[i])) {
            memcpy(base, n, a - b); base[a - b] = 0;
            if (st_find(f, base)) return 1;
        }
    }
    return 0;
}

int quant_i4_rows8(const char *name, int rows) { return rows % 8 == 0 && !ends_with(name, "kv_b_proj.weight"); }

int quant_i4_layout(const void *qc, const char *where) {
    const cJSON *l = qc ? cJSON_GetObjectItemCaseSensitive((const cJSON *)qc, "layout") : NULL;
    if (!l) return 0;
    if (cJSON_IsString(l) && !strcmp(l->valuestring, "rows8")) return 1;
    return fail("%s: quantization_config.layout must be \"rows8\" (or absent) for a deepc int4 folder", where);
}

// FP32 values of a projection (FP8 times its scale_inv; int8/int4 times their scales). rows8: the folder's int4
// tensors named by quant_i4_rows8 are in the decode layout.
static int read_projection(const StFile *f, const StTensor *t, float *w, int R, int C, int rows8) {
    char sn[512];
    if (t->dtype == ST_I8 || t->dtype == ST_U8) {
        snprintf(sn, sizeof sn, "%s_scale", t->name);
        const StTensor *s = st_find(f, sn);
        int i4 = t->dtype == ST_U8;
        int Cf = C, Cb = i4 ? C / 2 : C;              // C: columns (the caller doubles U8 widths); Cb: bytes per row
        if (!s || s->dtype != ST_F16 || s->ndim != 2 || s->shape[0] != R || s->shape[1] != Cf / 32 || Cf % 32)
            return fail("tensor \"%s\": %s weights need \"%s\" as F16 [%d, %d]", t->name, i4 ? "int4" : "int8", sn, R, Cf / 32);
        if (i4 && rows8 && quant_i4_rows8(t->name, R)) {   // aligned copies, dequantized through the layout
            QMatrix q = {QT_I4, R, Cf, xmalloc((size_t)R * Cb + 64), xmalloc((size_t)R * (Cf / 32) * 2 + 64), 1, 1};
            memcpy(q.data, t->data, (size_t)R * Cb);
            memcpy(q.scale, s->data, (size_t)R * (Cf / 32) * 2);
            qmat_to_f32(&q, w);
            qmat_free(&q);
            return 0;
        }
        for (int r = 0; r < R; r++) {
            const uint16_t *d = (const uint16_t *)s->data + (size_t)r * (Cf / 32);
            uint16_t *dd = xmalloc(sizeof(uint16_t) * (Cf / 32));
            memcpy(dd, d, sizeof(uint16_t) * (Cf / 32));   // may be unaligned in the mapping
            if (i4) q4_dequantize_row((const uint8_t *)t->data + (size_t)r * Cb, dd, Cf, w + (size_t)r * Cf);
            else q8_dequantize_row((const int8_t *)t->data + (size_t)r * Cb, dd, Cf, w + (size_t)r * Cf);
            free(dd);
        }
        return 0;
    }
    TRY(st_read_f32(t, w, (int64_t)R * C));
    if (t->dtype == ST_F8_E4M3) {
        snprintf(sn, sizeof sn, "%s_scale_inv", t->name);
        const StTensor *s = st_find(f, sn);
        int br = (R + 127) / 128, bc = (C + 127) / 128;
        if (!s || s->ndim != 2 || s->shape[0] != br || s->shape[1] != bc)
            return fail("FP8 tensor \"%s\" needs \"%s\" [%d, %d]", t->name, sn, br, bc);
        float *sc = xmalloc(sizeof(float) * br * bc);
        if (st_read_f32(s, sc, (int64_t)br * bc) < 0) { free(sc); return -1; }
        for (int i = 0; i < R; i++)
            for (int j = 0; j < C; j++) w[(size_t)i * C + j] *= sc[(size_t)(i / 128) * bc + j / 128];
        free(sc);
    }
    return 0;
}

static int write_config(const char *src, const char *dst, QType to, int rows8) {
    char *a = path_join(src, "config.json"), *b = path_join(dst, "config.json");
    cJSON *j;
    int rc = json_load_file(a, &j);
    if (rc == 0) {
        cJSON_DeleteItemFromObjectCaseSensitive(j, "quantization_config");
        if (to == QT_FP8) {
            cJSON *q = cJSON_AddObjectToObject(j, "quantization_config");
            cJSON_AddStringToObject(q, "activation_scheme", "dynamic");
            cJSON_AddStringToObject(q, "fmt", "e4m3");
            cJSON_AddStringToObject(q, "quant_method", "fp8");
            int bs[2] = {128, 128};
            cJSON_AddItemToObject(q, "weight_block_size", cJSON_CreateIntArray(bs, 2));
        } else if (to == QT_I8 || to == QT_I4) {
            cJSON *q = cJSON_AddObjectToObject(j, "quantization_config");
            cJSON_AddStringToObject(q, "quant_method", "deepc");
            cJSON_AddStringToObject(q, "fmt", to == QT_I8 ? "int8" : "int4");
            cJSON_AddNumberToObject(q, "group_size", 32);
            if (rows8) cJSON_AddStringToObject(q, "layout", "rows8");
        }
        if (to == QT_BF16) {
            cJSON_DeleteItemFromObjectCaseSensitive(j, "torch_dtype");
            cJSON_DeleteItemFromObjectCaseSensitive(j, "dtype");
            cJSON_AddStringToObject(j, "torch_dtype", "bfloat16");
        }
        rc = json_save_file(b, j);
        cJSON_Delete(j);
    }
    free(a); free(b);
    return rc;
}

int quantize_folder(const char *src, const char *dst, QType to) {
    if (to == QT_F32) return fail("--to f32 is not a quantization (supported: bf16, fp8, int8, int4)");
    char *cfg = path_join(src, "config.json");
    int has = io_exists(cfg);
    free(cfg);
    if (!has) return fail("%s: no config.json (expected a model folder)", src);
    // the source's int4 layout (read as the engine reads it), and whether to write the decode layout
    Config sc;
    FolderQuant sq;
    if (infer_folder_config(src, &sc, &sq) < 0) return -1;
    int src_rows8 = sq.rows8, rows8 = to == QT_I4 && qmat_interleave_enabled();
    StFile f;
    if (st_open(src, &f) < 0) return fail_ctx("model folder %s: ", src);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", dst, (int)getpid());
    io_rm_rf(tmp);
    int rc = io_mkdir_p(tmp);
    StWriter w;
    st_writer_init(&w);
    void **bufs = xcalloc((size_t)f.n * 2 + 1, sizeof(void *));
    int nb = 0;
    Progress pr;
    progress_start(&pr, "quantize", f.n, "tensors");
    for (int i = 0; i < f.n && rc == 0; i++) {
        const StTensor *t = &f.tensors[i];
        progress_update(&pr, i + 1);
        if (is_scale(&f, t->name)) continue;
        if (is_projection(t)) {
            int R = (int)t->shape[0], C = (int)(t->dtype == ST_U8 ? t->shape[1] * 2 : t->shape[1]);
            float *wf = xmalloc(sizeof(float) * (size_t)R * C);
            if ((rc = read_projection(&f, t, wf, R, C, src_rows8)) < 0) { free(wf); break; }
            if ((to == QT_I8 || to == QT_I4) && C % 32) {
                // int8/int4 blocks need C % 32 == 0: keep this tensor in floating point.
                fprintf(stderr, "deepc: note: %s has %d columns (not a multiple of 32): kept in %s\n", t->name, C,
                        t->dtype == ST_BF16 ? "bf16" : "f32");
                if (t->dtype == ST_BF16) { free(wf); st_writer_add(&w, t->name, t->dtype, 2, t->shape, t->data); continue; }
                bufs[nb++] = wf;
                int64_t sh2[2] = {R, C};
                st_writer_add(&w, t->name, ST_F32, 2, sh2, wf);
                continue;
            }
            QMatrix q;
            if ((rc = qmat_from_f32(&q, wf, R, C, to)) < 0) { free(wf); break; }
            free(wf);
            if (to == QT_I4 && rows8 && quant_i4_rows8(t->name, R) && qmat_interleave(&q) != 1) {
                qmat_free(&q);
                rc = fail("tensor \"%s\": could not store it in the int4 decode layout", t->name);
                break;
            }
            bufs[nb++] = q.data; bufs[nb++] = q.scale;
            int64_t sh[2] = {R, C};
            char sn[512];
            if (to == QT_BF16) {
                st_writer_add(&w, t->name, ST_BF16, 2, sh, q.data);
            } else if (to == QT_FP8) {
                int64_t ss[2] = {(R + 127) / 128, (C + 127) / 128};
                st_writer_add(&w, t->name, ST_F8_E4M3, 2, sh, q.data);
                snprintf(sn, sizeof sn, "%s_scale_inv", t->name);
                st_writer_add(&w, sn, ST_F32, 2, ss, q.scale);
            } else {
                int64_t ss[2] = {R, C / 32};
                if (to == QT_I4) sh[1] = C / 2;
                st_writer_add(&w, t->name, to == QT_I8 ? ST_I8 : ST_U8, 2, sh, q.data);
                snprintf(sn, sizeof sn, "%s_scale", t->name);
                st_writer_add(&w, sn, ST_F16, 2, ss, q.scale);
            }
            // the writer keeps borrowed pointers: q's buffers live in bufs until the end
            continue;
        }
        if (to == QT_BF16 && (t->dtype == ST_F32 || t->dtype == ST_F16) && !strstr(t->name, "e_score_correction_bias")) {
            int64_t n = st_numel(t);
            float *tmpf = xmalloc(sizeof(float) * (size_t)(n ? n : 1));
            uint16_t *h = xmalloc(sizeof(uint16_t) * (size_t)(n ? n : 1));
            if ((rc = st_read_f32(t, tmpf, n)) < 0) { free(tmpf); free(h); break; }
            for (int64_t k = 0; k < n; k++) h[k] = f32_to_bf16(tmpf[k]);
            free(tmpf);
            bufs[nb++] = h;
            st_writer_add(&w, t->name, ST_BF16, t->ndim, t->shape, h);
            continue;
        }
        st_writer_add(&w, t->name, t->dtype, t->ndim, t->shape, t->data);
    }
    pr.quiet = 1;
    progress_end(&pr);
    if (rc == 0) rc = st_writer_save_folder(&w, tmp, (size_t)4 << 30);
    if (rc == 0) rc = write_config(src, tmp, to, rows8);
    // Copy the folder's other files (tokenizer, generation config, ...).
    DIR *d = rc == 0 ? opendir(src) : NULL;
    if (d) {
        struct dirent *de;
        while (rc == 0 && (de = readdir(d))) {
            const char *n = de->d_name;
            if (n[0] == '.' || ends_with(n, ".safetensors") || !strcmp(n, "model.safetensors.index.json") ||
                !strcmp(n, "config.json"))
                continue;
            char *a = path_join(src, n), *b = path_join(tmp, n);
            if (!io_is_dir(a)) rc = io_copy_file(a, b);
            free(a); free(b);
        }
        closedir(d);
    }
    st_writer_free(&w);
    for (int i = 0; i < nb; i++) huge_free(bufs[i]);   // qmat data (huge_alloc) and FP32 copies (malloc)
    free(bufs);
    st_close(&f);
    if (rc == 0) {
        if (io_exists(dst)) io_rm_rf(dst);
        if (rename(tmp, dst) != 0) rc = fail("cannot rename %s to %s", tmp, dst);
    }
    if (rc < 0) io_rm_rf(tmp);
    return rc;
}
