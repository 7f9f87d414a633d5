// tokenizer.h — byte-level BPE that reads and writes Hugging Face tokenizer.json.
// (contract shared by data/, post/, infer/ and cli/; implemented in data/bpe*.c,
// data/tokenizer_json.c)
#pragma once
#include <stddef.h>
#include <stdint.h>

// The special tokens deepc's own tokenizers carry (DeepSeek-V3's spellings:
// U+FF5C "｜" and U+2581 "▁").
#define TOK_BOS        "<｜begin▁of▁sentence｜>"
#define TOK_EOS        "<｜end▁of▁sentence｜>"
#define TOK_PAD        "<｜▁pad▁｜>"
#define TOK_USER       "<｜User｜>"
#define TOK_ASSISTANT  "<｜Assistant｜>"
#define TOK_SYSTEM     "<｜System｜>"
#define TOK_THINK      "<think>"
#define TOK_THINK_END  "</think>"
#define TOK_FIM_BEGIN  "<｜fim▁begin｜>"
#define TOK_FIM_HOLE   "<｜fim▁hole｜>"
#define TOK_FIM_END    "<｜fim▁end｜>"

typedef struct Tokenizer Tokenizer;

// Load from a tokenizer.json file or a folder holding one (and, if present,
// tokenizer_config.json for bos/eos and the chat template). Unsupported
// features are refused with a message listing what is supported.
int tok_load(const char *path, Tokenizer **out);
void tok_free(Tokenizer *t);
int tok_vocab_size(const Tokenizer *t);           // largest id + 1, added tokens included

// Encode bytes (UTF-8 expected; invalid bytes: see docs/tokenizer.md). When
// allow_special is 1, added/special tokens written in the text become their ids.
// *ids is a heap array of *n ids. Thread-safe; never adds BOS/EOS.
int tok_encode(const Tokenizer *t, const char *text, size_t len, int allow_special, int32_t **ids, size_t *n);
// Decode ids to bytes (*text heap, NUL-terminated, *len bytes). Fails on an id
// outside the vocabulary, naming the id and its position.
int tok_decode(const Tokenizer *t, const int32_t *ids, size_t n, char **text, size_t *len);
// The bytes one token stands for (for streaming output; may be a partial UTF-8
// sequence). Returns 0, or -1 for an unknown id.
int tok_token_bytes(const Tokenizer *t, int32_t id, const char **bytes, size_t *len);
// Id of a token string (e.g. TOK_EOS), or -1 if the vocabulary lacks it.
int32_t tok_token_id(const Tokenizer *t, const char *token);
int32_t tok_bos(const Tokenizer *t);   // -1 if none
int32_t tok_eos(const Tokenizer *t);   // -1 if none
int32_t tok_pad(const Tokenizer *t);   // -1 if none
