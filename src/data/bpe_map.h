// bpe_map.h — an open-addressing hash map from byte strings to int64 values
// (vocabulary look-ups, pre-token caches, word counts while training).
// Keys are copied into the map's own arena. Not thread-safe for writers.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct { uint64_t hash; uint32_t koff, klen; int64_t val; } BpeSlot;   // hash 0 = empty

typedef struct {
    BpeSlot *slot;       // [cap] one cache line holds 2-3 slots: one miss per probe
    size_t cap, count;
    char *arena; size_t arena_len, arena_cap;
} BpeMap;

void bpe_map_init(BpeMap *m, size_t expect);
void bpe_map_free(BpeMap *m);
void bpe_map_clear(BpeMap *m);                                        // drop all keys, keep memory
uint64_t bpe_map_hash(const void *key, size_t len);                   // never 0
int64_t *bpe_map_find(const BpeMap *m, const void *key, size_t len);  // NULL if absent
int64_t *bpe_map_find_h(const BpeMap *m, const void *key, size_t len, uint64_t h);
// Insert if absent (value set to def); returns the value slot. *added = 1 if new.
int64_t *bpe_map_put(BpeMap *m, const void *key, size_t len, int64_t def, int *added);
int64_t *bpe_map_put_h(BpeMap *m, const void *key, size_t len, uint64_t h, int64_t def, int *added);
// Iterate: slots i in [0, cap) with slot[i].hash != 0.
static inline const char *bpe_map_key(const BpeMap *m, size_t i) { return m->arena + m->slot[i].koff; }
