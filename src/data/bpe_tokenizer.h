// bpe_tokenizer.h — (internal to data/) the Tokenizer object behind tokenizer.h:
// BPE model + normalizer + pre-tokenizer + added tokens. Built by tokenizer_json.c,
// used by bpe_tokenizer.c (encode/decode) and chat.c.
#pragma once
#include "data/bpe.h"
#include "data/pretok.h"
#include "data/tokenizer.h"

typedef struct { char *s; size_t n; int32_t id; int special, normalized; } AddedTok;

struct Tokenizer {
    BpeModel bpe;
    Normalizer norm;
    Pretok pre;
    AddedTok *added; int n_added;       // sorted by first byte, then longest first
    int32_t added_first[257];           // added[added_first[b] .. added_first[b+1]) start with byte b
    BpeMap raw_to_id;                   // token string as written in tokenizer.json → id
    int32_t bos, eos, pad;
    char *chat_template;                // from tokenizer_config.json, or NULL
    int chunk_safe;                     // long texts may be cut after "\n" before [A-Za-z] (DeepSeek-V3 rules)
    uint64_t uid;                       // distinguishes tokenizers in per-thread caches
};

// Finish a Tokenizer whose parts are filled: index the added tokens.
void tok_index_added(Tokenizer *t);
// Encode one well-formed UTF-8 text (no invalid bytes), appending to out.
void tok_encode_valid(const Tokenizer *t, const char *s, size_t n, int allow_special, IdVec *out);
// Length of the well-formed UTF-8 sequence starting at s (1..4), or 0 if the byte there is ill-formed.
size_t utf8_valid_char(const unsigned char *s, size_t n);
