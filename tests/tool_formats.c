// tool_formats.c — helper that tests/ref/test_formats.py drives to check deepc's
// safetensors and config.json code against the Python `safetensors` package and
// transformers. Not a test by itself.
//
//   tool_formats dump FILE_OR_DIR OUT.json          names, dtypes, shapes, values (floats as FP32)
//   tool_formats write OUT SEED [MAX_SHARD_BYTES]    a fixed set of random tensors; with
//                                                    MAX_SHARD_BYTES, OUT is a model folder
//   tool_formats config IN.json OUT.json             parse + validate + rewrite
//   tool_formats preset NAME OUT.json                write a preset's config.json
//   tool_formats fields IN.json OUT.json             the parsed Config as JSON (deepc's field names)
//   tool_formats bench FILE_OR_DIR REPEATS           best time to open + convert every float tensor to FP32
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include "base/rng.h"
#include "model/config.h"
#include "model/safetensors.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void put_float(FILE *o, double v) {
    if (isnan(v)) fputs("NaN", o);
    else if (isinf(v)) fputs(v > 0 ? "Infinity" : "-Infinity", o);
    else fprintf(o, "%.9g", v);
}

static int dump(const char *in, const char *out) {
    StFile f;
    TRY(st_open(in, &f));
    FILE *o = fopen(out, "w");
    if (!o) { st_close(&f); return fail("cannot create %s", out); }
    fprintf(o, "{\"metadata\": %s, \"files\": %d, \"tensors\": {", f.metadata_json ? f.metadata_json : "null", f.nmaps);
    for (int i = 0; i < f.n; i++) {
        const StTensor *t = &f.tensors[i];
        cJSON *nm = cJSON_CreateString(t->name);
        char *ns = cJSON_PrintUnformatted(nm);
        fprintf(o, "%s\n%s: {\"dtype\": \"%s\", \"shape\": [", i ? "," : "", ns, st_dtype_name(t->dtype));
        free(ns); cJSON_Delete(nm);
        for (int d = 0; d < t->ndim; d++) fprintf(o, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        fputs("], \"values\": [", o);
        int64_t n = st_numel(t);
        const unsigned char *p = t->data;
        if (t->dtype <= ST_F8_E4M3) {
            float *v = xmalloc(sizeof(float) * (size_t)(n ? n : 1));
            if (st_read_f32(t, v, n) < 0) { fclose(o); free(v); st_close(&f); return -1; }
            for (int64_t k = 0; k < n; k++) { if (k) fputc(',', o); put_float(o, v[k]); }
            free(v);
        } else {
            for (int64_t k = 0; k < n; k++) {
                long long x = 0;
                switch (t->dtype) {
                case ST_I32: { int32_t y; memcpy(&y, p + 4 * k, 4); x = y; break; }
                case ST_I64: { int64_t y; memcpy(&y, p + 8 * k, 8); x = y; break; }
                case ST_U8: x = p[k]; break;
                case ST_I8: x = (int8_t)p[k]; break;
                default: break;
                }
                fprintf(o, "%s%lld", k ? "," : "", x);
            }
        }
        fputs("]}", o);
    }
    fputs("}}\n", o);
    int bad = ferror(o);
    fclose(o);
    st_close(&f);
    return bad ? fail("cannot write %s", out) : 0;
}

// Values that exercise rounding: ties, subnormals, overflow, specials, and random
// numbers over a wide exponent range.
static float probe(Rng *r, int i) {
    static const float special[] = { 0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65519.0f, 65520.0f, 70000.0f, -1e9f,
                                     6.1035156e-05f, 5.9604645e-08f, 2.9802322e-08f, 2.9802326e-08f, 1e-9f,
                                     3.3895314e38f, INFINITY, -INFINITY };
    int ns = (int)(sizeof special / sizeof special[0]);
    if (i < ns) return special[i];
    if (i < ns + 200) {   // an exact bf16 tie: low 16 bits 0x8000
        uint32_t u = (rng_u32(r) & 0x3fff0000u) | 0x8000u | (rng_u32(r) & 0x80000000u);
        float f; memcpy(&f, &u, 4); return f;
    }
    if (i < ns + 400) {   // an exact f16 tie: 13 dropped bits = 0x1000 inside the normal half range
        uint32_t e = 113 + (uint32_t)rng_below(r, 29);
        uint32_t u = (e << 23) | ((rng_u32(r) & 0x3ffu) << 13) | 0x1000u;
        float f; memcpy(&f, &u, 4); return f;
    }
    return (float)ldexp(rng_normal(r), (int)rng_below(r, 60) - 30);
}

static int write_set(const char *out, uint64_t seed, long long shard) {
    Rng r; rng_seed(&r, seed);
    StWriter w; st_writer_init(&w);
    enum { NCONV = 4096 };
    float *src = xmalloc(4 * NCONV);
    uint16_t *cb = xmalloc(2 * NCONV), *ch = xmalloc(2 * NCONV);
    for (int i = 0; i < NCONV; i++) { src[i] = probe(&r, i); cb[i] = f32_to_bf16(src[i]); ch[i] = f32_to_f16(src[i]); }
    int64_t nconv[1] = { NCONV };
    st_writer_add(&w, "conv.src", ST_F32, 1, nconv, src);
    st_writer_add(&w, "conv.bf16", ST_BF16, 1, nconv, cb);
    st_writer_add(&w, "conv.f16", ST_F16, 1, nconv, ch);
    int64_t s2[2] = { 3 + (int64_t)rng_below(&r, 20), 1 + (int64_t)rng_below(&r, 50) };
    size_t n2 = (size_t)(s2[0] * s2[1]);
    float *a = xmalloc(4 * n2);
    uint16_t *b = xmalloc(2 * n2), *h = xmalloc(2 * n2);
    uint8_t *q = xmalloc(n2), *u8 = xmalloc(n2);
    int8_t *i8 = xmalloc(n2);
    int32_t *i32 = xmalloc(4 * n2);
    int64_t *i64 = xmalloc(8 * n2);
    for (size_t i = 0; i < n2; i++) {
        a[i] = rng_normal(&r);
        b[i] = f32_to_bf16(rng_normal(&r));
        h[i] = f32_to_f16(rng_normal(&r) * 100);
        q[i] = (uint8_t)rng_u32(&r);
        u8[i] = (uint8_t)rng_u32(&r);
        i8[i] = (int8_t)rng_u32(&r);
        i32[i] = (int32_t)rng_u32(&r);
        i64[i] = (int64_t)(rng_u64(&r) >> 12) - (1LL << 51);   // exact in a double
    }
    st_writer_add(&w, "model.layers.0.self_attn.q_a_proj.weight", ST_F32, 2, s2, a);
    st_writer_add(&w, "model.embed_tokens.weight", ST_BF16, 2, s2, b);
    st_writer_add(&w, "lm_head.weight", ST_F16, 2, s2, h);
    st_writer_add(&w, "model.layers.0.mlp.experts.0.up_proj.weight", ST_F8_E4M3, 2, s2, q);
    st_writer_add(&w, "data.u8", ST_U8, 2, s2, u8);
    st_writer_add(&w, "data.i8", ST_I8, 2, s2, i8);
    st_writer_add(&w, "data.i32", ST_I32, 2, s2, i32);
    st_writer_add(&w, "data.i64", ST_I64, 2, s2, i64);
    float sc = 0.5f;
    st_writer_add(&w, "scalar", ST_F32, 0, NULL, &sc);
    int64_t z[2] = { 0, 3 };
    st_writer_add(&w, "empty", ST_BF16, 2, z, b);
    int rc = shard >= 0 ? st_writer_save_folder(&w, out, (size_t)shard) : st_writer_save(&w, out);
    st_writer_free(&w);
    free(src); free(cb); free(ch); free(a); free(b); free(h); free(q); free(u8); free(i8); free(i32); free(i64);
    return rc;
}

static int fields(const char *in, const char *out) {
    Config c;
    TRY(config_load(in, &c));
    cJSON *j = cJSON_CreateObject();
#define I(f) cJSON_AddNumberToObject(j, #f, c.f)
    I(version); I(vocab_size); I(hidden_size); I(intermediate_size); I(moe_intermediate_size); I(num_hidden_layers);
    I(num_attention_heads); I(q_lora_rank); I(kv_lora_rank); I(qk_nope_head_dim); I(qk_rope_head_dim); I(v_head_dim);
    I(n_routed_experts); I(n_shared_experts); I(num_experts_per_tok); I(n_group); I(topk_group); I(topk_method);
    I(scoring_func); I(norm_topk_prob); I(routed_scaling_factor); I(first_k_dense_replace); I(moe_layer_freq);
    I(rope_theta); I(yarn); I(rope_factor); I(beta_fast); I(beta_slow); I(mscale); I(mscale_all_dim);
    I(original_max_position_embeddings); I(rms_norm_eps); I(tie_word_embeddings); I(num_nextn_predict_layers);
    I(max_position_embeddings); I(bos_token_id); I(eos_token_id); I(aux_loss_alpha); I(fp8_weights);
#undef I
    cJSON_AddNumberToObject(j, "softmax_scale", config_softmax_scale(&c));
    cJSON_AddNumberToObject(j, "rope_attention_factor", config_rope_attention_factor(&c));
    cJSON *moe = cJSON_AddArrayToObject(j, "moe_layers");
    for (int l = 0; l < c.num_hidden_layers; l++) cJSON_AddItemToArray(moe, cJSON_CreateBool(config_is_moe_layer(&c, l)));
    int r = json_save_file(out, j);
    cJSON_Delete(j);
    return r;
}

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec; }

// Prints {"seconds": best, "elements": n}: st_open + st_read_f32 of every float tensor + st_close.
static int bench(const char *in, int reps) {
    double best = 1e30;
    int64_t total = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        StFile f;
        TRY(st_open(in, &f));
        total = 0;
        for (int i = 0; i < f.n; i++) {
            const StTensor *t = &f.tensors[i];
            if (t->dtype > ST_F8_E4M3) continue;
            int64_t n = st_numel(t);
            float *v = xmalloc(sizeof(float) * (size_t)(n ? n : 1));
            if (st_read_f32(t, v, n) < 0) { free(v); st_close(&f); return -1; }
            free(v);
            total += n;
        }
        st_close(&f);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    printf("{\"seconds\": %.6f, \"elements\": %lld}\n", best, (long long)total);
    return 0;
}

int main(int argc, char **argv) {
    const char *usage = "usage: tool_formats dump IN OUT.json | write OUT SEED [MAX_SHARD_BYTES] | "
                        "config IN.json OUT.json | preset NAME OUT.json | fields IN.json OUT.json | bench IN REPEATS";
    if (argc < 4) fatal("%s", usage);
    const char *mode = argv[1];
    int rc;
    if (!strcmp(mode, "dump")) rc = dump(argv[2], argv[3]);
    else if (!strcmp(mode, "write")) rc = write_set(argv[2], strtoull(argv[3], NULL, 10), argc > 4 ? atoll(argv[4]) : -1);
    else if (!strcmp(mode, "config")) {
        Config c;
        rc = config_load(argv[2], &c);
        if (rc == 0) rc = config_save(argv[3], &c);
    } else if (!strcmp(mode, "preset")) {
        Config c;
        rc = config_preset(argv[2], &c);
        if (rc == 0) rc = config_save(argv[3], &c);
    } else if (!strcmp(mode, "fields")) rc = fields(argv[2], argv[3]);
    else if (!strcmp(mode, "bench")) rc = bench(argv[2], atoi(argv[3]) > 0 ? atoi(argv[3]) : 1);
    else fatal("unknown mode %s; %s", mode, usage);
    if (rc < 0) fatal_last();
    return 0;
}
