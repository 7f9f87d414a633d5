// writer.h — JSONL output written atomically (temp name, fsync, rename), zstd-compressed when
// the path ends in ".zst". Abort (or a crash) leaves no file under the final name.
#pragma once
#include "base/io.h"
#include <stddef.h>

typedef struct {
    AtomicFile a;
    void *z;                 // ZSTD_CCtx* when compressing
    char *buf; size_t cap;   // compressed output buffer
    size_t bytes;            // uncompressed bytes written
    size_t lines;
} DocWriter;

int writer_open(DocWriter *w, const char *path);
int writer_write(DocWriter *w, const void *data, size_t n);
int writer_commit(DocWriter *w);      // finish the stream, fsync, rename
void writer_abort(DocWriter *w);
// Append s[0..n) to *out as a JSON string literal (quotes and escapes), growing *out.
void json_escape_append(char **out, size_t *len, size_t *cap, const char *s, size_t n);
