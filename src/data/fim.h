// fim.h — fill-in-the-middle (PSM) for code documents, applied per document
// before packing, at a configurable rate (DeepSeek-Coder 0.5, DeepSeek-V3 0.1).
//
//   <｜fim▁begin｜> prefix <｜fim▁hole｜> suffix <｜fim▁end｜> middle
//
// Split points are two positions drawn uniformly over the UTF-8 character
// boundaries of the text, so each piece is valid UTF-8 if the text was.
// Decisions are deterministic in (seed, document key).
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    double rate;        // probability a document is transformed (0 = never)
    uint64_t seed;
} FimConfig;

typedef struct { int32_t begin, hole, end; } FimTokens;   // ids of TOK_FIM_BEGIN/HOLE/END

// Decide whether document `key` (e.g. a hash of its text) is transformed; if so
// return 1 and byte offsets 0 <= *a <= *b <= len on character boundaries
// (prefix = [0,a), middle = [a,b), suffix = [b,len)); else return 0.
int fim_split(const FimConfig *c, uint64_t key, const char *text, size_t len, size_t *a, size_t *b);
// Assemble PSM order into out (capacity >= n_pre + n_suf + n_mid + 3); returns the count.
size_t fim_assemble(const FimTokens *ft, const int32_t *pre, size_t n_pre, const int32_t *suf, size_t n_suf,
                    const int32_t *mid, size_t n_mid, int32_t *out);
// Undo fim_assemble on a token sequence (for checks): writes prefix+middle+suffix
// into out (capacity n) and returns its length, or -1 if ids is not PSM-shaped.
long fim_restore(const FimTokens *ft, const int32_t *ids, size_t n, int32_t *out);
