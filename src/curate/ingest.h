// ingest.h — streaming document reader for curation: files and folders (walked recursively in
// sorted order), text and code files (language from the extension), JSONL and JSONL.zst (one
// object per line, configurable text field, the other fields kept as metadata).
// Bad input (unreadable paths, empty files, malformed lines, missing text fields, corrupt .zst)
// is reported through a callback with file and line, and skipped.
#pragma once
#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct {
    char *text; size_t len;   // owned, NUL-terminated (raw bytes: not yet validated)
    cJSON *meta;              // JSONL object without the text field (owned), or NULL
    char *id;                 // "id" from JSONL, else "<file>:<line>" or the file path (owned)
    const char *source;       // input file (owned by the Ingest, valid until ingest_close)
    long line;                // JSONL line (1-based); 0 for whole files
    const char *lang;         // language from the extension ("c", "python", ...) or NULL
    const char *domain;       // "code" for code files; JSONL "domain" field; else "text"
    int repo;                 // repository index (see ingest_repo_name), -1 if none
} Doc;

typedef void (*BadInputFn)(void *ctx, const char *file, long line, const char *msg);
typedef struct Ingest Ingest;

// Walks the inputs (bad paths are reported, not fatal). text_field: JSONL key with the text.
Ingest *ingest_open(const char *const *paths, int n, const char *text_field, size_t max_doc_bytes,
                    BadInputFn bad, void *ctx);
// Next document: 1 = *d filled, 0 = no more, -1 = a read error that stops ingestion (fail()).
int ingest_next(Ingest *g, Doc *d);
void doc_free(Doc *d);
size_t ingest_total_bytes(const Ingest *g);   // sum of input file sizes on disk
size_t ingest_bytes_read(const Ingest *g);    // bytes read from disk so far
size_t ingest_file_count(const Ingest *g);
const char *ingest_repo_name(const Ingest *g, int repo);
int ingest_repo_count(const Ingest *g);
void ingest_close(Ingest *g);
// Language of a file name from its extension ("c", "python", "markdown", ...) or NULL;
// *is_code is set to 1 for programming and markup languages.
const char *lang_from_path(const char *path, int *is_code);
