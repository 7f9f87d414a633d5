// kvcache.c — block-allocated latent cache in FP32, BF16, FP8 or int8 rows (see kvcache.h).
#include "infer/kvcache.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "base/check.h"
#include "kernels/bf16.h"
#include "kernels/fp8.h"
#if defined(__AVX2__)
#include <immintrin.h>
#endif

void kv_init(KVCache *kv, const Config *c, int n_layers, int max_len) {
    memset(kv, 0, sizeof *kv);
    kv->L = n_layers;
    kv->r_kv = c->kv_lora_rank;
    kv->width = c->kv_lora_rank + c->qk_rope_head_dim;
    kv->max_len = max_len;
    kv->dtype = KV_F32;
}

void kv_free(KVCache *kv) {
    for (int i = 0; i < kv->nblocks; i++) free(kv->blocks[i]);
    free(kv->blocks);
    memset(kv, 0, sizeof *kv);
}

static const char *names[KV_NDTYPES] = {"f32", "bf16", "fp8", "fp8-rope", "int8"};

int kv_dtype_parse(const char *s, int *dtype) {
    if (s && !strcmp(s, "fp32")) { *dtype = KV_F32; return 0; }
    for (int i = 0; i < KV_NDTYPES; i++)
        if (s && !strcmp(s, names[i])) { *dtype = i; return 0; }
    return fail("KV-cache format \"%s\" is not one of f32 (or fp32), bf16, fp8 (c_kv E4M3 with per-128 scales, "
                "k_pe BF16), fp8-rope (k_pe E4M3 too), int8 (per-128 scales)", s ? s : "(none)");
}

const char *kv_dtype_name(int dtype) { return dtype >= 0 && dtype < KV_NDTYPES ? names[dtype] : "?"; }

static int ngroups(int n) { return (n + FP8_BLOCK - 1) / FP8_BLOCK; }

size_t kv_row_bytes(int dtype, int r_kv, int d_rope) {
    size_t w = (size_t)r_kv + d_rope, b;
    switch (dtype) {
    case KV_BF16: return 2 * w;
    case KV_FP8: b = 4 * (size_t)ngroups(r_kv) + r_kv + 2 * (size_t)d_rope; break;
    case KV_FP8_ROPE: case KV_I8: b = 4 * (size_t)(ngroups(r_kv) + ngroups(d_rope)) + w; break;
    default: return 4 * w;
    }
    return (b + 3) & ~(size_t)3;   // rows start 4-byte aligned (scales first)
}

static size_t row_bytes(const KVCache *kv) { return kv_row_bytes(kv->dtype, kv->r_kv, kv->width - kv->r_kv); }

int kv_reserve(KVCache *kv, int n) {
    if (kv->max_len > 0 && n > kv->max_len)
        return fail("the sequence needs %d tokens but the context holds %d (use a shorter prompt or fewer "
                    "--max-tokens)", n, kv->max_len);
    while (kv->cap < n) {
        kv->blocks = xrealloc(kv->blocks, sizeof(float *) * (kv->nblocks + 1));
        kv->blocks[kv->nblocks++] = xmalloc_aligned((size_t)kv->L * KV_BLOCK * row_bytes(kv));
        kv->cap += KV_BLOCK;
    }
    return 0;
}

void kv_truncate(KVCache *kv, int n) { if (n < kv->len) kv->len = n < 0 ? 0 : n; }

size_t kv_bytes_per_token(const KVCache *kv) { return (size_t)kv->L * row_bytes(kv); }
size_t kv_bytes_allocated(const KVCache *kv) { return (size_t)kv->cap * kv_bytes_per_token(kv); }

// Encoded row of layer l at position s.
static unsigned char *row_at(const KVCache *kv, int l, int s) {
    return (unsigned char *)kv->blocks[s / KV_BLOCK] + ((size_t)l * KV_BLOCK + (size_t)(s % KV_BLOCK)) * row_bytes(kv);
}

// n values as E4M3 codes in groups of 128, one FP32 scale (amax/448) per group: sc [ngroups(n)], q [n].
static void fp8_groups_encode(const float *x, int n, float *sc, uint8_t *q) {
    float buf[FP8_BLOCK];
    for (int g = 0; g * FP8_BLOCK < n; g++) {
        int k0 = g * FP8_BLOCK, len = n - k0 < FP8_BLOCK ? n - k0 : FP8_BLOCK;
        float amax = 0.0f;
        for (int i = 0; i < len; i++) amax = fmaxf(amax, fabsf(x[k0 + i]));
        float s = fp8_scale_from_amax(amax, 0);
        for (int i = 0; i < len; i++) buf[i] = x[k0 + i] / s;
        fp8_e4m3_encode_row(buf, q + k0, (size_t)len);
        sc[g] = s;
    }
}

static void fp8_groups_decode(const float *sc, const uint8_t *q, int n, float *x) {
    for (int g = 0; g * FP8_BLOCK < n; g++) {
        int k0 = g * FP8_BLOCK, len = n - k0 < FP8_BLOCK ? n - k0 : FP8_BLOCK;
        fp8_e4m3_decode_row(q + k0, sc[g], x + k0, (size_t)len);
    }
}

// n values as int8 in groups of 128, one FP32 scale (amax / 127; 1 for an all-zero group) per group, codes
// offset by 128: sc [ngroups(n)], u [n] = round(x / s) + 128 (ties to even, never 0: q in -127..127).
// A group with a NaN or an infinity gets the scale NaN and codes 128, so it decodes to NaN (as FP32 rows pass
// non-finite values on) instead of to numbers.
static void i8_groups_encode(const float *x, int n, float *sc, uint8_t *u) {
    for (int g = 0; g * FP8_BLOCK < n; g++) {
        int k0 = g * FP8_BLOCK, len = n - k0 < FP8_BLOCK ? n - k0 : FP8_BLOCK, finite = 1;
        float amax = 0.0f;
        for (int i = 0; i < len; i++) { amax = fmaxf(amax, fabsf(x[k0 + i])); finite &= isfinite(x[k0 + i]) != 0; }
        if (!finite) { sc[g] = NAN; memset(u + k0, 128, (size_t)len); continue; }
        float s = amax > 0.0f ? amax / 127.0f : 1.0f, inv = 1.0f / s;
        for (int i = 0; i < len; i++) {
            float q = nearbyintf(x[k0 + i] * inv);
            u[k0 + i] = (uint8_t)(int)(128.0f + (q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q));
        }
        sc[g] = s;
    }
}

// x = (u - 128) · s, one rounding either way (the FMA form u·s − 128·s is exact before its one rounding).
static void i8_groups_decode(const float *sc, const uint8_t *u, int n, float *x) {
    for (int g = 0; g * FP8_BLOCK < n; g++) {
        int k0 = g * FP8_BLOCK, len = n - k0 < FP8_BLOCK ? n - k0 : FP8_BLOCK, i = 0;
        float s = sc[g];
#if defined(__AVX2__) && defined(__FMA__)
        __m256 vs = _mm256_set1_ps(s), vo = _mm256_set1_ps(-128.0f * s);
        for (; i + 8 <= len; i += 8) {
            __m128i b = _mm_loadl_epi64((const __m128i *)(u + k0 + i));
            _mm256_storeu_ps(x + k0 + i, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)), vs, vo));
        }
#endif
        for (; i < len; i++) x[k0 + i] = (float)((int)u[k0 + i] - 128) * s;
    }
}

void kv_encode_row(int dtype, int r, int dr, const float *row, unsigned char *enc) {
    int w = r + dr, G = ngroups(r);
    switch (dtype) {
    case KV_F32: memcpy(enc, row, sizeof(float) * w); return;
    case KV_BF16: bf16_from_f32_row(row, (uint16_t *)enc, (size_t)w); return;
    default: break;
    }
    size_t nb = kv_row_bytes(dtype, r, dr);
    memset(enc, 0, nb);   // padding bytes too, so equal rows encode to equal bytes
    float sc[64];         // scales: ceil(r/128) + ceil(dr/128)
    if (G + ngroups(dr) > 64) fatal("KV cache: a latent row of %d + %d values is too wide for FP8/int8 rows", r, dr);
    if (dtype == KV_FP8) {   // [G scales | r codes | dr BF16]
        fp8_groups_encode(row, r, sc, enc + 4 * (size_t)G);
        memcpy(enc, sc, sizeof(float) * G);
        bf16_from_f32_row(row + r, (uint16_t *)(enc + 4 * (size_t)G + r), (size_t)dr);
    } else {                 // [G + Gp scales | r codes | dr codes]
        int Gp = ngroups(dr);
        unsigned char *q = enc + 4 * (size_t)(G + Gp);
        if (dtype == KV_I8) { i8_groups_encode(row, r, sc, q); i8_groups_encode(row + r, dr, sc + G, q + r); }
        else { fp8_groups_encode(row, r, sc, q); fp8_groups_encode(row + r, dr, sc + G, q + r); }
        memcpy(enc, sc, sizeof(float) * (G + Gp));
    }
}

void kv_decode_row(int dtype, int r, int dr, const unsigned char *enc, float *row) {
    int w = r + dr, G = ngroups(r);
    float sc[64];
    if (dtype >= KV_FP8 && G + ngroups(dr) > 64) fatal("KV cache: a latent row of %d + %d values is too wide for FP8/int8 rows", r, dr);
    switch (dtype) {
    case KV_F32: memcpy(row, enc, sizeof(float) * w); return;
    case KV_BF16: bf16_to_f32_row((const uint16_t *)enc, row, (size_t)w); return;
    case KV_FP8:
        memcpy(sc, enc, sizeof(float) * G);
        fp8_groups_decode(sc, enc + 4 * (size_t)G, r, row);
        bf16_to_f32_row((const uint16_t *)(enc + 4 * (size_t)G + r), row + r, (size_t)dr);
        return;
    default: {
        int Gp = ngroups(dr);
        const unsigned char *q = enc + 4 * (size_t)(G + Gp);
        memcpy(sc, enc, sizeof(float) * (G + Gp));
        if (dtype == KV_I8) { i8_groups_decode(sc, q, r, row); i8_groups_decode(sc + G, q + r, dr, row + r); }
        else { fp8_groups_decode(sc, q, r, row); fp8_groups_decode(sc + G, q + r, dr, row + r); }
    }
    }
}

void kv_write_row(KVCache *kv, int l, int s, const float *row) {
    kv_encode_row(kv->dtype, kv->r_kv, kv->width - kv->r_kv, row, row_at(kv, l, s));
}

const unsigned char *kv_block_raw(const KVCache *kv, int l, int b0) { return row_at(kv, l, b0); }

const float *kv_block_f32(const KVCache *kv, int l, int b0, int n, float *tmp) {
    if (kv->dtype == KV_F32) return kv_row(kv, l, b0);
    const unsigned char *src = row_at(kv, l, b0);   // n consecutive rows of one block
    size_t rb = row_bytes(kv);
    if (kv->dtype == KV_BF16) { bf16_to_f32_row((const uint16_t *)src, tmp, (size_t)n * kv->width); return tmp; }
    for (int j = 0; j < n; j++)
        kv_decode_row(kv->dtype, kv->r_kv, kv->width - kv->r_kv, src + (size_t)j * rb, tmp + (size_t)j * kv->width);
    return tmp;
}
