// bpe_map.c — open-addressing (linear probing) byte-string → int64 map.
#include "data/bpe_map.h"
#include "base/check.h"
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

uint64_t bpe_map_hash(const void *key, size_t len) {
    uint64_t h = XXH3_64bits(key, len);
    return h ? h : 1;
}

static void alloc_slots(BpeMap *m, size_t cap) {
    m->cap = cap;
    m->hash = xcalloc(cap, sizeof *m->hash);
    m->koff = xmalloc(cap * sizeof *m->koff);
    m->klen = xmalloc(cap * sizeof *m->klen);
    m->val = xmalloc(cap * sizeof *m->val);
}

void bpe_map_init(BpeMap *m, size_t expect) {
    memset(m, 0, sizeof *m);
    size_t cap = 64;
    while (cap < expect * 2) cap *= 2;
    alloc_slots(m, cap);
    m->arena_cap = 4096;
    m->arena = xmalloc(m->arena_cap);
}

void bpe_map_free(BpeMap *m) {
    free(m->hash); free(m->koff); free(m->klen); free(m->val); free(m->arena);
    memset(m, 0, sizeof *m);
}

void bpe_map_clear(BpeMap *m) {
    memset(m->hash, 0, m->cap * sizeof *m->hash);
    m->count = 0;
    m->arena_len = 0;
}

int64_t *bpe_map_find_h(const BpeMap *m, const void *key, size_t len, uint64_t h) {
    size_t mask = m->cap - 1, i = h & mask;
    for (;;) {
        uint64_t s = m->hash[i];
        if (!s) return NULL;
        if (s == h && m->klen[i] == len && !memcmp(m->arena + m->koff[i], key, len)) return &m->val[i];
        i = (i + 1) & mask;
    }
}

int64_t *bpe_map_find(const BpeMap *m, const void *key, size_t len) {
    return bpe_map_find_h(m, key, len, bpe_map_hash(key, len));
}

static void grow(BpeMap *m) {
    BpeMap old = *m;
    alloc_slots(m, old.cap * 2);
    size_t mask = m->cap - 1;
    for (size_t j = 0; j < old.cap; j++) {
        if (!old.hash[j]) continue;
        size_t i = old.hash[j] & mask;
        while (m->hash[i]) i = (i + 1) & mask;
        m->hash[i] = old.hash[j]; m->koff[i] = old.koff[j]; m->klen[i] = old.klen[j]; m->val[i] = old.val[j];
    }
    free(old.hash); free(old.koff); free(old.klen); free(old.val);
}

int64_t *bpe_map_put_h(BpeMap *m, const void *key, size_t len, uint64_t h, int64_t def, int *added) {
    if ((m->count + 1) * 4 > m->cap * 3) grow(m);
    size_t mask = m->cap - 1, i = h & mask;
    for (;;) {
        uint64_t s = m->hash[i];
        if (!s) break;
        if (s == h && m->klen[i] == len && !memcmp(m->arena + m->koff[i], key, len)) {
            if (added) *added = 0;
            return &m->val[i];
        }
        i = (i + 1) & mask;
    }
    if (m->arena_len + len > m->arena_cap) {
        while (m->arena_len + len > m->arena_cap) m->arena_cap *= 2;
        if (m->arena_cap > UINT32_MAX) fatal("bpe_map: key arena over 4 GiB");
        m->arena = xrealloc(m->arena, m->arena_cap);
    }
    memcpy(m->arena + m->arena_len, key, len);
    m->hash[i] = h; m->koff[i] = (uint32_t)m->arena_len; m->klen[i] = (uint32_t)len; m->val[i] = def;
    m->arena_len += len;
    m->count++;
    if (added) *added = 1;
    return &m->val[i];
}

int64_t *bpe_map_put(BpeMap *m, const void *key, size_t len, int64_t def, int *added) {
    return bpe_map_put_h(m, key, len, bpe_map_hash(key, len), def, added);
}
