// bpe_train.h — byte-level BPE training with Hugging Face BpeTrainer's rules
// (same merges on the same word counts): word counting over pre-tokenized text
// (multi-threaded), then merges chosen by (count desc, pair ids asc) with
// incremental pair counts and a lazy max-heap.
#pragma once
#include "data/bpe_map.h"
#include "data/pretok.h"
#include <stddef.h>
#include <stdint.h>

// Count the pre-tokens of n documents into counts (bytes → count). Invalid UTF-8 runs
// count as pre-tokens of their own. Uses OpenMP threads; shows progress unless quiet.
void bpe_count_words(const Pretok *pre, const char *const *docs, const size_t *lens, size_t n, BpeMap *counts, int quiet);

typedef struct {
    int32_t V;                     // tokens: specials, the 256 byte characters, then merges
    char **tok;                    // [V] token strings as tokenizer.json writes them (byte-level characters)
    int32_t (*merges)[2];          // [n_merges] (left id, right id), in rank order
    size_t n_merges;
    int32_t n_special;
} BpeVocab;

// Train to vocab_size tokens (specials included) from word counts.
int bpe_train(const BpeMap *counts, int vocab_size, const char *const *specials, int n_special,
              int min_frequency, int quiet, BpeVocab *out);
void bpe_vocab_free(BpeVocab *v);

// Write DIR/tokenizer.json and DIR/tokenizer_config.json (bos/eos/pad from tokenizer.h,
// a Jinja chat template for system/user/assistant) for a trained vocabulary with
// the given Split regexes (Isolated) followed by ByteLevel.
int bpe_write_tokenizer(const char *dir, const BpeVocab *v, const char *const *split_patterns, int n_patterns);
