// kvcache.c — block-allocated latent cache (see kvcache.h).
#include "infer/kvcache.h"
#include <stdlib.h>
#include <string.h>
#include "base/check.h"
#include "model/safetensors.h"   // f32_to_bf16 / bf16_to_f32

void kv_init(KVCache *kv, const Config *c, int n_layers, int max_len) {
    memset(kv, 0, sizeof *kv);
    kv->L = n_layers;
    kv->r_kv = c->kv_lora_rank;
    kv->width = c->kv_lora_rank + c->qk_rope_head_dim;
    kv->max_len = max_len;
}

void kv_free(KVCache *kv) {
    for (int i = 0; i < kv->nblocks; i++) free(kv->blocks[i]);
    free(kv->blocks);
    memset(kv, 0, sizeof *kv);
}

int kv_reserve(KVCache *kv, int n) {
    if (kv->max_len > 0 && n > kv->max_len)
        return fail("the sequence needs %d tokens but the context holds %d (use a shorter prompt or fewer "
                    "--max-tokens)", n, kv->max_len);
    while (kv->cap < n) {
        kv->blocks = xrealloc(kv->blocks, sizeof(float *) * (kv->nblocks + 1));
        kv->blocks[kv->nblocks++] = xmalloc_aligned((size_t)kv->L * KV_BLOCK * kv->width * (kv->bf16 ? 2 : sizeof(float)));
        kv->cap += KV_BLOCK;
    }
    return 0;
}

void kv_truncate(KVCache *kv, int n) { if (n < kv->len) kv->len = n < 0 ? 0 : n; }

size_t kv_bytes_per_token(const KVCache *kv) { return (size_t)kv->L * kv->width * (kv->bf16 ? 2 : sizeof(float)); }

static uint16_t *row16(const KVCache *kv, int l, int s) {
    return (uint16_t *)kv->blocks[s / KV_BLOCK] + ((size_t)l * KV_BLOCK + (size_t)(s % KV_BLOCK)) * kv->width;
}

void kv_write_row(KVCache *kv, int l, int s, const float *row) {
    if (!kv->bf16) { memcpy(kv_row(kv, l, s), row, sizeof(float) * kv->width); return; }
    uint16_t *d = row16(kv, l, s);
    for (int i = 0; i < kv->width; i++) d[i] = f32_to_bf16(row[i]);
}

const float *kv_block_f32(const KVCache *kv, int l, int b0, int n, float *tmp) {
    if (!kv->bf16) return kv_row(kv, l, b0);
    const uint16_t *src = row16(kv, l, b0);   // n consecutive rows of one block
    for (size_t i = 0; i < (size_t)n * kv->width; i++) tmp[i] = bf16_to_f32(src[i]);
    return tmp;
}
size_t kv_bytes_allocated(const KVCache *kv) { return (size_t)kv->cap * kv_bytes_per_token(kv); }
