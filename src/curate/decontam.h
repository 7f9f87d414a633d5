// decontam.h — decontamination: word n-gram overlap (default 10-grams) between documents and
// evaluation sets. Eval files are JSONL; every string value of every record (nested too) is a
// text whose n-grams are indexed. Words: lowercase runs of letters/digits (non-ASCII kept).
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct Decontam Decontam;
typedef struct { uint64_t *wh; size_t cap; } DecontamScratch;

// NULL + fail() naming the file and line if an eval file cannot be read or parsed.
Decontam *decontam_load(const char *const *paths, int n, int ngram);
void decontam_free(Decontam *d);
size_t decontam_ngrams(const Decontam *d);        // distinct n-grams indexed
// Index of the eval file sharing an n-gram with the text, or -1 if none.
int decontam_check(const Decontam *d, DecontamScratch *s, const char *text, size_t n);
const char *decontam_file(const Decontam *d, int i);
void decontam_scratch_free(DecontamScratch *s);
