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
    m->slot = xcalloc(cap, sizeof *m->slot);
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
    free(m->slot); free(m->arena);
    memset(m, 0, sizeof *m);
}

void bpe_map_clear(BpeMap *m) {
    memset(m->slot, 0, m->cap * sizeof *m->slot);
    m->count = 0;
    m->arena_len = 0;
}

int64_t *bpe_map_find_h(const BpeMap *m, const void *key, size_t len, uint64_t h) {
    size_t mask = m->cap - 1, i = h & mask;
    for (;;) {
        BpeSlot *s = &m->slot[i];
        if (!s->hash) return NULL;
        if (s->hash == h && s->klen == len && !memcmp(m->arena + s->koff, key, len)) return &s->val;
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
        if (!old.slot[j].hash) continue;
        size_t i = old.slot[j].hash & mask;
        while (m->slot[i].hash) i = (i + 1) & mask;
        m->slot[i] = old.slot[j];
    }
    free(old.slot);
}

int64_t *bpe_map_put_h(BpeMap *m, const void *key, size_t len, uint64_t h, int64_t def, int *added) {
    if ((m->count + 1) * 4 > m->cap * 3) grow(m);
    size_t mask = m->cap - 1, i = h & mask;
    for (;;) {
        BpeSlot *s = &m->slot[i];
        if (!s->hash) break;
        if (s->hash == h && s->klen == len && !memcmp(m->arena + s->koff, key, len)) {
            if (added) *added = 0;
            return &s->val;
        }
        i = (i + 1) & mask;
    }
    if (m->arena_len + len > m->arena_cap) {
        while (m->arena_len + len > m->arena_cap) m->arena_cap *= 2;
        if (m->arena_cap > UINT32_MAX) fatal("bpe_map: key arena over 4 GiB");
        m->arena = xrealloc(m->arena, m->arena_cap);
    }
    memcpy(m->arena + m->arena_len, key, len);
    m->slot[i] = (BpeSlot){h, (uint32_t)m->arena_len, (uint32_t)len, def};
    m->arena_len += len;
    m->count++;
    if (added) *added = 1;
    return &m->slot[i].val;
}

int64_t *bpe_map_put(BpeMap *m, const void *key, size_t len, int64_t def, int *added) {
    return bpe_map_put_h(m, key, len, bpe_map_hash(key, len), def, added);
}
