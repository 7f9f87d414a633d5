// bpe.h — the byte-level BPE model: vocabulary, merge ranks, encoding of one
// pre-token (a "word") to ids, and the GPT-2 byte ↔ character map.
#pragma once
#include "data/bpe_map.h"
#include <stddef.h>
#include <stdint.h>

typedef struct { int32_t *v; size_t n, cap; } IdVec;
void idvec_push(IdVec *a, int32_t x);
void idvec_append(IdVec *a, const int32_t *x, size_t n);

typedef struct {
    int32_t V;                 // id slots: largest id + 1
    char *pool; size_t pool_len, pool_cap;
    uint32_t *off, *len;       // [V] the bytes each id stands for
    uint8_t *present;          // [V] 1 if the id exists
    uint8_t *byte_form;        // [V] 1 if its string was made only of byte-level characters
    BpeMap bytes_to_id;        // byte-form token bytes → id
    int32_t byte_id[256];      // id of each single byte, -1 if absent
    uint64_t *mkey; uint64_t *mval; size_t mcap, n_merges;   // (a<<32|b) → (rank<<32 | new_id)
    int32_t unk_id;            // -1 if none
    int fuse_unk, ignore_merges;
} BpeModel;

// GPT-2 byte-level map: byte → code point, and code point → byte (-1 if not a byte char).
uint32_t bpe_byte_char(uint8_t b);
int bpe_char_byte(uint32_t cp);
// UTF-8 of the byte-level string for bytes (returns heap string, *outn bytes).
char *bpe_bytes_to_chars(const uint8_t *b, size_t n, size_t *outn);

void bpe_model_init(BpeModel *m, int32_t V);
void bpe_model_free(BpeModel *m);
// Define id's string (UTF-8 as written in tokenizer.json). 0, or -1 if id is taken or out of range.
int bpe_model_set_token(BpeModel *m, int32_t id, const char *s, size_t n);
// Add merge (a, b) → new_id with the given rank; a duplicate pair keeps its first rank.
void bpe_model_add_merge(BpeModel *m, int32_t a, int32_t b, int32_t new_id, int32_t rank);
// Look up a merge: 1 and *rank/*new_id if (a, b) merges, else 0.
int bpe_model_merge(const BpeModel *m, int32_t a, int32_t b, int32_t *rank, int32_t *new_id);

// Encode the bytes of one pre-token, appending ids to out. Thread-safe (read-only model).
void bpe_encode_word(const BpeModel *m, const uint8_t *w, size_t n, IdVec *out);
