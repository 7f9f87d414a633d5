// exact.h — exact deduplication: a growable set of 128-bit content hashes (xxHash3-128).
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct { uint64_t lo, hi; } Hash128;
typedef struct { Hash128 *slots; size_t cap, n; } HashSet128;

Hash128 content_hash(const char *text, size_t n);      // XXH3 128-bit
void hashset_init(HashSet128 *s);
// Insert h; returns 1 if it was new, 0 if it was already present.
int hashset_insert(HashSet128 *s, Hash128 h);
void hashset_free(HashSet128 *s);
