// session.h — open a model folder for generation: the tokenizer first (so a
// folder without one fails fast), then the weights, optionally re-encoded
// (--dtype), with start-up time and resident memory.
#pragma once
#include "data/tokenizer.h"
#include "infer/weights.h"

typedef struct {
    InferModel m;
    Tokenizer *tok;
    double t_load;          // seconds to open (tokenizer + weights + conversion)
    size_t rss, peak;       // resident / peak resident bytes after loading
} Session;

// dtype: NULL or "native" keeps the folder's formats; else f32, bf16, fp8, int8, int4.
int session_open(const char *dir, const char *dtype, Session *s);
void session_close(Session *s);
