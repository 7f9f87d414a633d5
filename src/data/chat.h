// chat.h — chat messages → token ids and a loss mask, in deepc's chat format
// (the Jinja chat_template that `deepc tokenizer train` writes renders the same):
//   BOS, then per message: <｜System｜>content | <｜User｜>content | <｜Assistant｜>content EOS,
//   then <｜Assistant｜> if add_generation_prompt.
// The mask is 1 exactly on assistant-content tokens and the EOS that closes them.
// Message contents are plain text: special-token strings inside them stay text.
#pragma once
#include "data/tokenizer.h"
#include <stddef.h>
#include <stdint.h>

typedef struct { const char *role; const char *content; } ChatMsg;   // role: "system" | "user" | "assistant"

// *ids and *mask are heap arrays of *n entries. Fails on an unknown role or a
// tokenizer that lacks the role tokens / BOS / EOS.
int chat_encode(const Tokenizer *t, const ChatMsg *msgs, size_t n_msgs, int add_generation_prompt,
                int32_t **ids, uint8_t **mask, size_t *n);
