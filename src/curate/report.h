// report.h — counts gathered by a curation run and the report written from them
// (report.md for people, report.json for tools).
#pragma once
#include "curate/curate.h"
#include "curate/normalize.h"
#include "curate/pii.h"
#include <stddef.h>

enum { ST_INGEST, ST_NORMALIZE, ST_EXACT, ST_FILTERS, ST_PII, ST_DECONTAM, ST_NEAR, ST_COUNT };
extern const char *const STAGE_NAMES[ST_COUNT];

typedef struct { const char *rule; size_t docs, bytes; } RuleCount;
typedef struct { char *file; long line; char *msg; } BadInput;
typedef struct { size_t size; char *kept_id; char *example_id; } Cluster;

typedef struct {
    size_t docs_in[ST_COUNT], bytes_in[ST_COUNT], docs_out[ST_COUNT], bytes_out[ST_COUNT];
    RuleCount *rules; int nrules, caprules;
    BadInput *bad; size_t nbad, capbad, bad_total;     // first 100 kept, all counted
    NormStats norm;
    size_t pii[PII_KINDS], pii_docs;
    size_t decontam_docs, decontam_ngrams, *decontam_per_eval;
    size_t clusters, clustered_docs;                     // near-dup clusters of size >= 2
    Cluster top[10]; int ntop;
    size_t repo_count, repo_clusters, repo_docs_removed;
    size_t files;
    double seconds;
} CurateStats;

// Count a removal by rule (rule strings are static).
void stats_rule(CurateStats *s, const char *rule, size_t bytes);
void stats_bad(CurateStats *s, const char *file, long line, const char *msg);
void stats_free(CurateStats *s);
// Write report.md and report.json into dir (atomically).
int report_write(const CurateOptions *o, const CurateStats *s, const char *dir);
