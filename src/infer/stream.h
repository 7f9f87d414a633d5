// stream.h — turns generated token bytes into text for a terminal: holds back
// incomplete UTF-8 sequences and any tail that could still become a stop
// string; reports when a stop string appeared (the text before it is emitted,
// the stop string itself is not).
#pragma once
#include <stddef.h>

typedef void (*StreamOut)(const char *bytes, size_t n, void *ctx);

typedef struct {
    char *buf; size_t len, cap;  // pending bytes not yet emitted
    const char **stops; int nstops;
    StreamOut out; void *ctx;
    int stopped;                 // 1 once a stop string was seen
} TextStream;

void stream_init(TextStream *s, const char **stops, int nstops, StreamOut out, void *ctx);
// Add a token's bytes; emits what is safe. Returns 1 if a stop string completed.
int stream_push(TextStream *s, const char *bytes, size_t n);
// End of generation: emit everything still pending (unless stopped).
void stream_finish(TextStream *s);
void stream_free(TextStream *s);
// b[0..n) as valid UTF-8 (malloc'd, NUL-terminated; *len its length, NUL bytes of b kept): each maximal
// ill-formed subpart replaced by U+FFFD, as Python's decode(errors="replace") and Rust's from_utf8_lossy
// (Hugging Face tokenizers' decode) do.
char *utf8_lossy(const char *b, size_t n, size_t *len);
