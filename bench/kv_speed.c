// bench/kv_speed.c — decode-step attention time per latent KV-cache format on one bench-infer MLA
// layer (H 16, r_kv 512, rope 64) after P cached tokens, against the FP32 cache in the same run;
// plus the raw speed of reading cache blocks back as FP32 (kv_block_f32), and the attention kernel alone on
// the same rows as FP32 (lattn_rows) and as int8 (lattn_rows_i8: VNNI integer scores and values where built in).
//   build/bench/kv_speed [--prefix P (4096)] [--threads N] [--reps R (7)]
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/check.h"
#include "base/progress.h"
#include "base/rng.h"
#include "infer/mla.h"
#include "kernels/latent_attn.h"

static double cpu_now(void) {   // thread CPU seconds (1 thread) or wall seconds (several)
    if (omp_get_max_threads() > 1) return now_seconds();
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int P = 4096, reps = 7;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--prefix")) P = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) omp_set_num_threads(atoi(argv[i + 1]));
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else fatal("unknown option %s", argv[i]);
    }
    if (P < 1 || reps < 1) fatal("--prefix and --reps must be positive");
    Config c;
    if (config_preset("bench-infer", &c) < 0) fatal_last();
    c.num_hidden_layers = 1; c.first_k_dense_replace = 1; c.intermediate_size = 32; c.vocab_size = 32;
    c.max_position_embeddings = P + 1;
    InferModel m;
    infer_model_random_as(&m, &c, 5, 0.02f, QT_BF16);
    int D = c.hidden_size, W = c.kv_lora_rank + c.qk_rope_head_dim;
    Rng r; rng_seed(&r, 9);
    float *row = xmalloc(sizeof(float) * W), *x = xmalloc(sizeof(float) * D), *out = xmalloc(sizeof(float) * D);
    float *tmp = xmalloc(sizeof(float) * (size_t)KV_BLOCK * W);
    for (int i = 0; i < D; i++) x[i] = rng_normal(&r);
    printf("# one bench-infer MLA layer, decode of 1 token after %d cached tokens, %d thread(s), best of %d\n", P,
           omp_get_max_threads(), reps);
    printf("| KV cache | cache MiB | attention ms | vs f32 | block decode GB/s (FP32 out) |\n|---|---|---|---|---|\n");
    double base = 0;
    for (int dt = KV_F32; dt < KV_NDTYPES; dt++) {
        KVCache kv;
        kv_init(&kv, &c, 1, 0);
        kv.dtype = dt;
        if (kv_reserve(&kv, P + 1) < 0) fatal_last();
        for (int s = 0; s < P; s++) {   // rows of a plausible size (RMS-normed c_kv, rotated k_pe)
            for (int i = 0; i < W; i++) row[i] = rng_normal(&r);
            kv_write_row(&kv, 0, s, row);
        }
        kv.len = P;
        double best = 1e30, bdec = 1e30;
        for (int rep = 0; rep < reps; rep++) {
            MlaSeq sq = {&kv, 0, 1, P, 0};
            double t0 = cpu_now();
            mla_forward(&m, &m.layers[0], 0, x, 1, &sq, 1, out);
            double t1 = cpu_now();
            for (int b0 = 0; b0 < P; b0 += KV_BLOCK) {
                const float *blk = kv_block_f32(&kv, 0, b0, P - b0 < KV_BLOCK ? P - b0 : KV_BLOCK, tmp);
                if (blk[0] == 12345.0f) printf("#\n");   // keep the read
            }
            double t2 = cpu_now();
            if (t1 - t0 < best) best = t1 - t0;
            if (t2 - t1 < bdec) bdec = t2 - t1;
        }
        if (dt == KV_F32) base = best;
        char dec[48];
        if (dt == KV_F32) snprintf(dec, sizeof dec, "(a pointer, no copy)");
        else snprintf(dec, sizeof dec, "%.1f", (double)P * W * 4 / bdec / 1e9);
        printf("| %s | %.1f | %.3f | %.2fx | %s |\n", kv_dtype_name(dt), kv_bytes_per_token(&kv) * (double)P / 1048576.0,
               best * 1e3, base / best, dec);
        fflush(stdout);
        kv_free(&kv);
    }
    // The kernel alone, one thread, on P rows held as FP32 and as int8 (the same values before encoding).
    {
        int rk = c.kv_lora_rank, H = c.num_attention_heads;
        size_t rb = kv_row_bytes(KV_I8, rk, W - rk);
        float *rows = xmalloc(sizeof(float) * (size_t)P * W), *q = xmalloc(sizeof(float) * (size_t)H * W);
        float *o = xmalloc(sizeof(float) * (size_t)H * rk);
        unsigned char *enc = xmalloc(rb * (size_t)P);
        for (size_t i = 0; i < (size_t)P * W; i++) rows[i] = rng_normal(&r);
        for (int i = 0; i < H * W; i++) q[i] = rng_normal(&r);
        for (int j = 0; j < P; j++) kv_encode_row(KV_I8, rk, W - rk, rows + (size_t)j * W, enc + (size_t)j * rb);
        LatAttn la;
        lattn_init(&la, H, rk, W, KV_BLOCK);
        double bf = 1e30, bi = 1e30;
        for (int rep = 0; rep < reps; rep++) {
            struct timespec ts;
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
            double t0 = ts.tv_sec + ts.tv_nsec * 1e-9;
            lattn_begin(&la, q, W, q + rk, W, 0.05f);
            for (int b0 = 0; b0 < P; b0 += KV_BLOCK) lattn_rows(&la, rows + (size_t)b0 * W, P - b0 < KV_BLOCK ? P - b0 : KV_BLOCK, W);
            lattn_end(&la, o, rk);
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
            double t1 = ts.tv_sec + ts.tv_nsec * 1e-9;
            lattn_begin(&la, q, W, q + rk, W, 0.05f);
            for (int b0 = 0; b0 < P; b0 += KV_BLOCK) lattn_rows_i8(&la, enc + (size_t)b0 * rb, rb, P - b0 < KV_BLOCK ? P - b0 : KV_BLOCK);
            lattn_end(&la, o, rk);
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
            double t2 = ts.tv_sec + ts.tv_nsec * 1e-9;
            if (t1 - t0 < bf) bf = t1 - t0;
            if (t2 - t1 < bi) bi = t2 - t1;
        }
        double fl = 2.0 * P * H * (W + rk);
        printf("# attention kernel alone, %d rows, %d heads, 1 thread, best of %d: FP32 rows (lattn_rows) %.3f ms, %.1f GFLOP/s; "
               "int8 rows (lattn_rows_i8, %s) %.3f ms, %.1f GFLOP/s equivalent: %.2fx\n", P, H, reps, bf * 1e3, fl / bf / 1e9,
               lattn_i8_fast() ? "VNNI" : "plain scores, FP32 values", bi * 1e3, fl / bi / 1e9, bf / bi);
        lattn_free(&la);
        free(rows); free(q); free(o); free(enc);
    }
    free(row); free(x); free(out); free(tmp);
    infer_model_free(&m);
    return 0;
}
