// corpus.h — a default training corpus from files Debian puts on every machine:
// Python standard-library sources, C headers (/usr/include), package
// documentation (/usr/share/doc) and English man pages (gzip-decompressed by the
// system's gzip when present). Nothing is downloaded. Files are visited in
// sorted order, so the same machine gives the same corpus.
#pragma once
#include <stdint.h>

enum { CORPUS_PYTHON = 0, CORPUS_HEADERS, CORPUS_DOCS, CORPUS_MAN, CORPUS_NSRC };

typedef struct {
    uint64_t files[CORPUS_NSRC], bytes[CORPUS_NSRC];
    const char *names[CORPUS_NSRC];   // "python stdlib", ...
    const char *roots[CORPUS_NSRC];   // the folders found (NULL when absent)
} CorpusStats;

// Write up to max_bytes of text as JSONL ({"id","text","source","domain"}) to
// out_jsonl (atomically), a share of the budget per source (python 35%,
// headers 35%, docs 15%, man 15%; unused shares pass on). Files over 256 KiB,
// binary files (NUL bytes) and empty files are skipped. Fails when nothing is found.
int corpus_gather(const char *out_jsonl, uint64_t max_bytes, CorpusStats *st);
