// report.c — curation report: per-stage counts, removals per rule, bad input, clusters.
#include "curate/report.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const STAGE_NAMES[ST_COUNT] = {"ingest", "normalize", "exact_dedup", "filters", "pii", "decontam", "near_dedup"};

void stats_rule(CurateStats *s, const char *rule, size_t bytes) {
    for (int i = 0; i < s->nrules; i++)
        if (!strcmp(s->rules[i].rule, rule)) { s->rules[i].docs++; s->rules[i].bytes += bytes; return; }
    if (s->nrules == s->caprules) { s->caprules = s->caprules ? 2 * s->caprules : 32; s->rules = xrealloc(s->rules, s->caprules * sizeof(RuleCount)); }
    s->rules[s->nrules++] = (RuleCount){rule, 1, bytes};
}

void stats_bad(CurateStats *s, const char *file, long line, const char *msg) {
    s->bad_total++;
    if (s->nbad >= 100) return;
    if (s->nbad == s->capbad) { s->capbad = s->capbad ? 2 * s->capbad : 16; s->bad = xrealloc(s->bad, s->capbad * sizeof(BadInput)); }
    s->bad[s->nbad++] = (BadInput){xstrdup(file), line, xstrdup(msg)};
}

void stats_free(CurateStats *s) {
    for (size_t i = 0; i < s->nbad; i++) { free(s->bad[i].file); free(s->bad[i].msg); }
    for (int i = 0; i < s->ntop; i++) { free(s->top[i].kept_id); free(s->top[i].example_id); }
    free(s->bad); free(s->rules); free(s->decontam_per_eval);
    memset(s, 0, sizeof *s);
}

typedef struct { char *p; size_t n, cap; } Buf;

static void bprintf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(Buf *b, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (b->p && (size_t)k < b->cap - b->n) { b->n += (size_t)k; return; }
        b->cap = (b->cap + (size_t)k + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
}

static int cmp_rule(const void *a, const void *b) {
    const RuleCount *x = a, *y = b;
    if (x->docs != y->docs) return x->docs < y->docs ? 1 : -1;
    return strcmp(x->rule, y->rule);
}

int report_write(const CurateOptions *o, const CurateStats *s0, const char *dir) {
    CurateStats s = *s0;
    RuleCount *rules = xmalloc((s.nrules + 1) * sizeof(RuleCount));
    memcpy(rules, s.rules, s.nrules * sizeof(RuleCount));
    qsort(rules, s.nrules, sizeof(RuleCount), cmp_rule);
    double mb = s.bytes_in[ST_INGEST] / 1e6;

    // ---- JSON ----
    cJSON *r = cJSON_CreateObject();
    cJSON *in = cJSON_AddArrayToObject(r, "inputs");
    for (int i = 0; i < o->n_inputs; i++) cJSON_AddItemToArray(in, cJSON_CreateString(o->inputs[i]));
    cJSON_AddNumberToObject(r, "files", (double)s.files);
    cJSON_AddNumberToObject(r, "seconds", s.seconds);
    cJSON_AddNumberToObject(r, "mb_per_second", s.seconds > 0 ? mb / s.seconds : 0);
    cJSON_AddNumberToObject(r, "seed", (double)o->seed);
    cJSON *st = cJSON_AddArrayToObject(r, "stages");
    for (int i = 0; i < ST_COUNT; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "stage", STAGE_NAMES[i]);
        cJSON_AddNumberToObject(e, "docs_in", (double)s.docs_in[i]);
        cJSON_AddNumberToObject(e, "bytes_in", (double)s.bytes_in[i]);
        cJSON_AddNumberToObject(e, "docs_out", (double)s.docs_out[i]);
        cJSON_AddNumberToObject(e, "bytes_out", (double)s.bytes_out[i]);
        cJSON_AddItemToArray(st, e);
    }
    cJSON *rm = cJSON_AddObjectToObject(r, "removed");
    for (int i = 0; i < s.nrules; i++) {
        cJSON *e = cJSON_AddObjectToObject(rm, rules[i].rule);
        cJSON_AddNumberToObject(e, "docs", (double)rules[i].docs);
        cJSON_AddNumberToObject(e, "bytes", (double)rules[i].bytes);
    }
    cJSON *bad = cJSON_AddObjectToObject(r, "bad_input");
    cJSON_AddNumberToObject(bad, "count", (double)s.bad_total);
    cJSON *ex = cJSON_AddArrayToObject(bad, "examples");
    for (size_t i = 0; i < s.nbad; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "file", s.bad[i].file);
        cJSON_AddNumberToObject(e, "line", (double)s.bad[i].line);
        cJSON_AddStringToObject(e, "message", s.bad[i].msg);
        cJSON_AddItemToArray(ex, e);
    }
    cJSON *nm = cJSON_AddObjectToObject(r, "normalize");
    cJSON_AddNumberToObject(nm, "invalid_utf8_sequences", (double)s.norm.invalid_utf8);
    cJSON_AddNumberToObject(nm, "control_chars_removed", (double)s.norm.controls);
    cJSON_AddNumberToObject(nm, "line_endings_rewritten", (double)s.norm.line_endings);
    cJSON_AddNumberToObject(nm, "docs_changed_by_nfc", (double)s.norm.nfc_changed);
    cJSON *pj = cJSON_AddObjectToObject(r, "pii");
    for (int k = 0; k < PII_KINDS; k++) cJSON_AddNumberToObject(pj, PII_NAMES[k], (double)s.pii[k]);
    cJSON_AddNumberToObject(pj, "docs_with_pii", (double)s.pii_docs);
    cJSON *dj = cJSON_AddObjectToObject(r, "decontam");
    cJSON_AddNumberToObject(dj, "ngram", o->decontam_ngram);
    cJSON_AddStringToObject(dj, "mode", o->decontam_flag_only ? "flag" : "remove");
    cJSON_AddNumberToObject(dj, "ngrams_indexed", (double)s.decontam_ngrams);
    cJSON_AddNumberToObject(dj, "docs", (double)s.decontam_docs);
    cJSON *ev = cJSON_AddArrayToObject(dj, "evals");
    for (int i = 0; i < o->n_evals; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "file", o->evals[i]);
        cJSON_AddNumberToObject(e, "docs", s.decontam_per_eval ? (double)s.decontam_per_eval[i] : 0);
        cJSON_AddItemToArray(ev, e);
    }
    cJSON *nd = cJSON_AddObjectToObject(r, "near_dedup");
    cJSON_AddNumberToObject(nd, "bands", o->bands);
    cJSON_AddNumberToObject(nd, "rows", o->rows);
    cJSON_AddNumberToObject(nd, "ngram", o->ngram);
    cJSON_AddNumberToObject(nd, "clusters", (double)s.clusters);
    cJSON_AddNumberToObject(nd, "docs_in_clusters", (double)s.clustered_docs);
    cJSON_AddNumberToObject(nd, "repositories", (double)s.repo_count);
    cJSON_AddNumberToObject(nd, "repo_clusters", (double)s.repo_clusters);
    cJSON_AddNumberToObject(nd, "repo_docs_removed", (double)s.repo_docs_removed);
    cJSON *lg = cJSON_AddArrayToObject(nd, "largest_clusters");
    for (int i = 0; i < s.ntop; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "size", (double)s.top[i].size);
        cJSON_AddStringToObject(e, "kept_id", s.top[i].kept_id ? s.top[i].kept_id : "");
        cJSON_AddStringToObject(e, "example_removed_id", s.top[i].example_id ? s.top[i].example_id : "");
        cJSON_AddItemToArray(lg, e);
    }
    char *jp = path_join(dir, "report.json");
    int rc = json_save_file(jp, r);
    free(jp);
    cJSON_Delete(r);
    if (rc < 0) { free(rules); return -1; }

    // ---- Markdown ----
    Buf b = {0};
    bprintf(&b, "# Curation report\n\n%zu files, %.2f MB in, %.2f s (%.1f MB/s), seed %llu.\n\n",
            s.files, mb, s.seconds, s.seconds > 0 ? mb / s.seconds : 0, (unsigned long long)o->seed);
    bprintf(&b, "## Stages\n\n| stage | docs in | MB in | docs out | MB out | removed |\n|---|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < ST_COUNT; i++)
        bprintf(&b, "| %s | %zu | %.3f | %zu | %.3f | %zu |\n", STAGE_NAMES[i], s.docs_in[i], s.bytes_in[i] / 1e6,
                s.docs_out[i], s.bytes_out[i] / 1e6, s.docs_in[i] - s.docs_out[i]);
    bprintf(&b, "\n## Removals by rule\n\n| rule | docs | MB |\n|---|---:|---:|\n");
    for (int i = 0; i < s.nrules; i++) bprintf(&b, "| %s | %zu | %.3f |\n", rules[i].rule, rules[i].docs, rules[i].bytes / 1e6);
    bprintf(&b, "\n## Normalization\n\n%zu invalid UTF-8 sequences repaired, %zu control characters removed, "
                "%zu line endings rewritten, %zu documents changed by NFC.\n",
            s.norm.invalid_utf8, s.norm.controls, s.norm.line_endings, s.norm.nfc_changed);
    bprintf(&b, "\n## PII\n\n%zu documents had PII:", s.pii_docs);
    for (int k = 0; k < PII_KINDS; k++) bprintf(&b, " %s %zu%s", PII_NAMES[k], s.pii[k], k + 1 < PII_KINDS ? "," : ".\n");
    bprintf(&b, "\n## Decontamination\n\n%d-gram overlap against %d eval files (%zu n-grams): %zu documents %s.\n",
            o->decontam_ngram, o->n_evals, s.decontam_ngrams, s.decontam_docs, o->decontam_flag_only ? "flagged" : "removed");
    for (int i = 0; i < o->n_evals; i++)
        bprintf(&b, "- %s: %zu\n", o->evals[i], s.decontam_per_eval ? s.decontam_per_eval[i] : 0);
    bprintf(&b, "\n## Near-duplicates\n\nMinHash over word %d-grams, %d bands x %d rows: %zu clusters holding %zu documents; "
                "repository level: %zu repositories, %zu clusters, %zu files removed.\n",
            o->ngram, o->bands, o->rows, s.clusters, s.clustered_docs, s.repo_count, s.repo_clusters, s.repo_docs_removed);
    if (s.ntop) {
        bprintf(&b, "\n| size | kept | one removed |\n|---:|---|---|\n");
        for (int i = 0; i < s.ntop; i++)
            bprintf(&b, "| %zu | %s | %s |\n", s.top[i].size, s.top[i].kept_id ? s.top[i].kept_id : "",
                    s.top[i].example_id ? s.top[i].example_id : "");
    }
    bprintf(&b, "\n## Bad input\n\n%zu problems (skipped).\n", s.bad_total);
    for (size_t i = 0; i < s.nbad; i++)
        bprintf(&b, "- %s%s%.0ld: %s\n", s.bad[i].file, s.bad[i].line ? ":" : "", s.bad[i].line, s.bad[i].msg);
    if (s.bad_total > s.nbad) bprintf(&b, "- ... %zu more\n", s.bad_total - s.nbad);
    char *mp = path_join(dir, "report.md");
    rc = io_write_file(mp, b.p, b.n);
    free(mp); free(b.p); free(rules);
    return rc;
}
