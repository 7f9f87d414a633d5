// mix.h — domain-balanced mixing: target weights per domain (by bytes of text), documents up- or
// down-sampled to meet them (repeats capped at max_epochs per document), written as
// DIR/mixture.jsonl[.zst] with a per-document "score" for the curriculum (the given score field, or
// lexical diversity when absent) and DIR/manifest.json with the achieved mixture.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define MIX_MAX_DOMAINS 32

typedef struct {
    const char *const *inputs; int n_inputs;   // JSONL(.zst) files (e.g. curate's data.jsonl)
    const char *out_dir;
    const char *text_field;                    // "text"
    char domains[MIX_MAX_DOMAINS][32];         // target domains and weights (normalized to sum 1)
    double weights[MIX_MAX_DOMAINS];
    int n_domains;
    double total_bytes;                        // target mixture size; 0 = as large as the epoch caps allow
    double max_epochs;                         // most copies of one document (4)
    const char *score_field;                   // JSONL numeric field for the score, or NULL
    int compress;
    uint64_t seed;
} MixOptions;

void mix_default_options(MixOptions *o);
// Parse "code=0.6,text=0.3,math=0.1" into o (weights normalized). -1 + fail() on bad syntax.
int mix_parse_weights(MixOptions *o, const char *spec);
int mix_run(const MixOptions *o);
// Share of distinct words among the first 1000 words (0..1): the default curriculum score.
double lexical_diversity(const char *text, size_t n);
