// shard.h — token shard files: write atomically, mmap and validate up front.
//
// A shard holds whole documents as token ids (uint16 when the vocabulary has
// at most 65536 ids, else uint32), their offsets, and one float score per
// document (from curation; 0 when absent). The header carries the tokenizer's
// vocab size and fingerprint so a trainer can refuse a shard made with another
// tokenizer. Exact byte layout: docs/formats.md, "Token shards".
// All multi-byte fields are little-endian.
#pragma once
#include "base/io.h"
#include <stddef.h>
#include <stdint.h>

#define SHARD_MAGIC "DEEPCTOK"     // 8 bytes, no NUL
#define SHARD_VERSION 1
#define SHARD_HEADER_BYTES 64
#define SHARD_FLAG_SCORES 1u       // header flags bit 0: per-document scores present

// Fingerprint of a tokenizer: xxh64 (seed 0) of the bytes of tokenizer.json
// (path may be the file or a folder holding it).
int shard_tokenizer_fingerprint(const char *path, uint64_t *fp);

// ---- writing ------------------------------------------------------------
typedef struct ShardWriter ShardWriter;
// Start a shard at path (written to a temp name; nothing appears at path until commit).
int shard_writer_open(ShardWriter **w, const char *path, uint32_t vocab_size, uint64_t tok_fingerprint, int with_scores);
// Append one document of n token ids (each must be < vocab_size) with its score.
int shard_writer_add(ShardWriter *w, const int32_t *ids, size_t n, float score);
uint64_t shard_writer_tokens(const ShardWriter *w);   // tokens added so far
uint64_t shard_writer_docs(const ShardWriter *w);     // documents added so far
// Finish: write offsets, scores and the header, fsync, rename onto path; frees w.
int shard_writer_commit(ShardWriter *w);
// Give up: remove the temp file, free w (path is untouched).
void shard_writer_abort(ShardWriter *w);

// ---- reading ------------------------------------------------------------
typedef struct {
    char *path;
    MappedFile map;
    int width;                 // bytes per token: 2 or 4
    uint64_t n_tokens, n_docs;
    uint32_t vocab_size;
    uint64_t fingerprint;      // tokenizer fingerprint (0 = unknown)
    int has_scores;
    const void *tokens;        // [n_tokens] uint16 or uint32
    const uint64_t *offsets;   // [n_docs + 1], offsets[0] = 0, offsets[n_docs] = n_tokens
    const float *scores;       // [n_docs] or NULL
} Shard;

// Map and validate a shard (magic, version, sizes, offsets, every token id <
// vocab, checksum). expect_vocab / expect_fp: 0 = accept any, else refuse a
// mismatch. Messages name the file and the byte offset.
int shard_open(Shard *s, const char *path, uint32_t expect_vocab, uint64_t expect_fp);
// Validate a shard held in memory (what = name used in messages); fills s
// without taking ownership of data (s->map stays empty). Used by shard_open and fuzz tests.
int shard_parse(Shard *s, const void *data, size_t size, const char *what, uint32_t expect_vocab, uint64_t expect_fp);
void shard_close(Shard *s);
// Token i of the shard (i < n_tokens).
static inline uint32_t shard_token(const Shard *s, uint64_t i) {
    return s->width == 2 ? ((const uint16_t *)s->tokens)[i] : ((const uint32_t *)s->tokens)[i];
}
// Document d: first token index and length.
static inline void shard_doc(const Shard *s, uint64_t d, uint64_t *start, uint64_t *len) {
    *start = s->offsets[d]; *len = s->offsets[d + 1] - s->offsets[d];
}
static inline float shard_doc_score(const Shard *s, uint64_t d) { return s->scores ? s->scores[d] : 0.0f; }
// Copy n tokens starting at token index start into out as int32.
void shard_copy_tokens(const Shard *s, uint64_t start, size_t n, int32_t *out);
