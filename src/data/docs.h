// docs.h — read documents for tokenization: plain text files (one document
// each), folders (recursively, sorted by path, hidden entries skipped), JSONL
// (one object per line with a text field and optionally a numeric score
// field) and any of these compressed with zstd (".zst", streamed). Several
// text fields may be joined: --text-field "question,answer" gives the two
// values separated by a newline. A field name may be a dotted path into
// nested objects ("meta.quality") when no key has the whole name.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct DocReader DocReader;

typedef struct {
    const char *text;      // valid until the next docs_next call
    size_t len;
    float score;           // score field of a JSONL record, 0 when absent
    int has_score;
    const char *source;    // file the document came from
    uint64_t line;         // 1-based line in a JSONL file, 0 for a text file
} Doc;

// Open a list of paths (files or folders). A file is JSONL when its name ends in
// .jsonl or .jsonl.zst (or .json/.ndjson, same), else plain text (.zst is decompressed).
// text_field defaults to "text"; score_field may be NULL.
int docs_open(DocReader **r, char *const *paths, int npaths, const char *text_field, const char *score_field);
// Next document: 1 = *d filled, 0 = end of input, -1 = error (message names file and line).
int docs_next(DocReader *r, Doc *d);
uint64_t docs_total_bytes(const DocReader *r);   // sum of (compressed) file sizes, for progress
uint64_t docs_bytes_done(const DocReader *r);    // (compressed) bytes consumed so far
uint64_t docs_skipped_files(const DocReader *r); // plain files skipped as binary (a NUL byte in the first 8 KiB)
void docs_close(DocReader *r);
