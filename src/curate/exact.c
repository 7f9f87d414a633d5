// exact.c — open-addressing set of 128-bit hashes (linear probing, load <= 1/2).
#include "curate/exact.h"
#include "base/check.h"
#include <stdlib.h>
#include <xxhash.h>

Hash128 content_hash(const char *text, size_t n) {
    XXH128_hash_t h = XXH3_128bits(text, n);
    Hash128 r = {h.low64, h.high64};
    if (!r.lo && !r.hi) r.lo = 1;   // (0,0) marks an empty slot
    return r;
}

void hashset_init(HashSet128 *s) {
    s->cap = 1024; s->n = 0;
    s->slots = xcalloc(s->cap, sizeof(Hash128));
}

static int put(Hash128 *slots, size_t cap, Hash128 h) {
    size_t i = (size_t)h.lo & (cap - 1);
    for (;;) {
        Hash128 *e = &slots[i];
        if (!e->lo && !e->hi) { *e = h; return 1; }
        if (e->lo == h.lo && e->hi == h.hi) return 0;
        i = (i + 1) & (cap - 1);
    }
}

int hashset_insert(HashSet128 *s, Hash128 h) {
    if (2 * (s->n + 1) > s->cap) {
        size_t nc = s->cap * 2;
        Hash128 *ns = xcalloc(nc, sizeof(Hash128));
        for (size_t i = 0; i < s->cap; i++)
            if (s->slots[i].lo || s->slots[i].hi) put(ns, nc, s->slots[i]);
        free(s->slots);
        s->slots = ns; s->cap = nc;
    }
    int r = put(s->slots, s->cap, h);
    s->n += r;
    return r;
}

void hashset_free(HashSet128 *s) { free(s->slots); s->slots = NULL; s->cap = s->n = 0; }
