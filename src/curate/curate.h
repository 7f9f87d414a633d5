// curate.h — the curation pipeline as a library call (what `deepc curate` runs).
//
//   CurateOptions o; curate_default_options(&o);
//   const char *in[] = {"raw/"}; o.inputs = in; o.n_inputs = 1; o.out_dir = "curated";
//   if (curate_run(&o) < 0) fatal_last();
//
// Stages, in order: ingest → normalize → exact dedup → quality filters → PII → decontamination
// → near-dedup (MinHash-LSH, file- and repository-level) → output.
// Writes into out_dir: data.jsonl[.zst] (kept documents), removed.jsonl[.zst] (removed
// documents with "curate_rule"), report.md, report.json. Every file is written atomically.
#pragma once
#include "curate/filters.h"
#include <stddef.h>
#include <stdint.h>

#define CURATE_MAX_DOMAINS 8

typedef struct {
    const char *const *inputs; int n_inputs;  // files and folders (folders are walked recursively)
    const char *out_dir;                       // created if missing
    const char *text_field;                    // JSONL field with the text ("text")
    int strict;                                // 1: any bad input fails the run
    int threads;                               // 0 = OpenMP default
    uint64_t seed;                             // MinHash permutations (and anything random)
    int compress;                              // 1: write .jsonl.zst
    int write_removed;                         // 1: write removed.jsonl[.zst]
    int quiet;                                 // 1: no progress bar
    size_t batch_docs;                         // documents per parallel batch (4096)
    size_t max_doc_bytes;                      // larger documents / JSONL lines are bad input (64 MiB)
    // stages
    int do_normalize, do_exact, do_filters, do_pii, do_decontam, do_near;
    // near-dedup
    int bands, rows, ngram;                    // 14 × 8 over word 5-grams
    int repo_level;                            // repository-level near-dedup of code (1)
    // PII
    int pii_max;                               // documents with more PII hits than this are removed (-1: never)
    // decontamination
    const char *const *evals; int n_evals;     // eval JSONL files (all string fields are used)
    int decontam_ngram;                        // 10
    int decontam_flag_only;                    // 1: keep and add "contaminated": true; 0: remove
    // quality filters per domain ("text", "code", "math", ...); unknown domains use "text"
    FilterParams filters[CURATE_MAX_DOMAINS];
    char domain_names[CURATE_MAX_DOMAINS][16];
    int n_domains;
    char **owned_; int n_owned_;               // strings allocated by curate_load_config
} CurateOptions;

// Defaults (datatrove / FineWeb / DeepSeek-Coder values; see docs/curate.md).
void curate_default_options(CurateOptions *o);
// Apply a JSON config file on top of o (unknown keys are errors). -1 + fail() on error.
int curate_load_config(CurateOptions *o, const char *path);
// Free what curate_load_config allocated (the options stay usable only for fields it did not set).
void curate_options_free(CurateOptions *o);
// The filter parameters for a domain name (falls back to "text").
const FilterParams *curate_domain_filters(const CurateOptions *o, const char *domain);
// Run the pipeline. 0 on success, -1 with fail() message (bad input under --strict, I/O errors).
int curate_run(const CurateOptions *o);
