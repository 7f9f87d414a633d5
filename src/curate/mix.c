// mix.c — two streaming passes: count bytes per domain, then write copies per the mixture plan.
#include "curate/mix.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include "base/rng.h"
#include "curate/ingest.h"
#include "curate/writer.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

void mix_default_options(MixOptions *o) {
    memset(o, 0, sizeof *o);
    o->text_field = "text";
    o->max_epochs = 4;
    o->seed = 1;
}

int mix_parse_weights(MixOptions *o, const char *spec) {
    o->n_domains = 0;
    double sum = 0;
    const char *p = spec;
    while (*p) {
        const char *eq = strchr(p, '='), *comma = strchr(p, ',');
        if (!comma) comma = p + strlen(p);
        if (!eq || eq > comma || eq == p) return fail("weights \"%s\": expected domain=weight[,domain=weight...]", spec);
        if (o->n_domains == MIX_MAX_DOMAINS) return fail("weights: at most %d domains", MIX_MAX_DOMAINS);
        size_t nl = (size_t)(eq - p);
        if (nl >= sizeof o->domains[0]) return fail("weights: domain name too long");
        char *end;
        double w = strtod(eq + 1, &end);
        if (end != comma || !(w >= 0) || !isfinite(w)) return fail("weights \"%s\": bad weight for %.*s", spec, (int)nl, p);
        memcpy(o->domains[o->n_domains], p, nl); o->domains[o->n_domains][nl] = 0;
        o->weights[o->n_domains++] = w;
        sum += w;
        p = *comma ? comma + 1 : comma;
    }
    if (!o->n_domains || sum <= 0) return fail("weights \"%s\": need at least one positive weight", spec);
    for (int i = 0; i < o->n_domains; i++) o->weights[i] /= sum;
    return 0;
}

double lexical_diversity(const char *t, size_t n) {
    uint64_t seen[2048] = {0};   // open-addressing set of word hashes (1000 words max)
    size_t words = 0, distinct = 0, i = 0;
    while (i < n && words < 1000) {
        while (i < n && isspace((unsigned char)t[i])) i++;
        size_t b = i;
        while (i < n && !isspace((unsigned char)t[i])) i++;
        if (i == b) break;
        uint64_t h = XXH3_64bits(t + b, i - b) | 1;
        size_t k = (size_t)(h >> 7) & 2047;
        while (seen[k] && seen[k] != h) k = (k + 1) & 2047;
        if (!seen[k]) { seen[k] = h; distinct++; }
        words++;
    }
    return words ? (double)distinct / words : 0;
}

static void bad(void *ctx, const char *file, long line, const char *msg) {
    (void)ctx;
    if (line) fprintf(stderr, "deepc: warning: %s:%ld: %s (skipped)\n", file, line, msg);
    else fprintf(stderr, "deepc: warning: %s: %s (skipped)\n", file, msg);
}

static int domain_index(const MixOptions *o, const char *d) {
    for (int i = 0; i < o->n_domains; i++) if (!strcmp(o->domains[i], d)) return i;
    return -1;
}

int mix_run(const MixOptions *o) {
    if (!o->n_domains) return fail("mix: no target weights (--weights code=0.6,text=0.4)");
    if (!(o->max_epochs > 0)) return fail("mix: max_epochs must be > 0");
    TRY(io_mkdir_p(o->out_dir));
    int D = o->n_domains;
    double avail[MIX_MAX_DOMAINS] = {0}; size_t ndocs[MIX_MAX_DOMAINS] = {0}, other = 0;
    // pass 1: bytes per domain
    Ingest *g = ingest_open(o->inputs, o->n_inputs, o->text_field, (size_t)64 << 20, bad, NULL);
    Doc d;
    int r;
    while ((r = ingest_next(g, &d)) == 1) {
        int k = domain_index(o, d.domain);
        if (k >= 0) { avail[k] += (double)d.len; ndocs[k]++; } else other++;
        doc_free(&d);
    }
    ingest_close(g);
    if (r < 0) return -1;
    // plan: total T, per-domain epochs e_d = w_d T / avail_d (<= max_epochs)
    double T = o->total_bytes;
    if (T <= 0) {
        T = INFINITY;
        for (int k = 0; k < D; k++) if (o->weights[k] > 0) {
            if (avail[k] <= 0) return fail("mix: domain \"%s\" has weight %.3f but no documents in the input", o->domains[k], o->weights[k]);
            double t = avail[k] * o->max_epochs / o->weights[k];
            if (t < T) T = t;
        }
    }
    double epochs[MIX_MAX_DOMAINS];
    for (int k = 0; k < D; k++) {
        if (o->weights[k] > 0 && avail[k] <= 0) return fail("mix: domain \"%s\" has weight %.3f but no documents in the input", o->domains[k], o->weights[k]);
        epochs[k] = avail[k] > 0 ? o->weights[k] * T / avail[k] : 0;
        if (epochs[k] > o->max_epochs) epochs[k] = o->max_epochs;   // capped: that domain falls short of its weight
    }
    // pass 2: write
    char name[64];
    snprintf(name, sizeof name, "mixture.jsonl%s", o->compress ? ".zst" : "");
    char *mp = path_join(o->out_dir, name);
    DocWriter w;
    if (writer_open(&w, mp) < 0) { free(mp); return -1; }
    double wbytes[MIX_MAX_DOMAINS] = {0}; size_t wdocs[MIX_MAX_DOMAINS] = {0};
    Rng rng; rng_seed_stream(&rng, o->seed, 0x6d6978ull);
    g = ingest_open(o->inputs, o->n_inputs, o->text_field, (size_t)64 << 20, bad, NULL);
    int rc = 0;
    while (rc == 0 && (r = ingest_next(g, &d)) == 1) {
        int k = domain_index(o, d.domain);
        double u = rng_uniform(&rng);   // drawn for every document: the plan depends only on the seed and input
        if (k < 0) { doc_free(&d); continue; }
        int copies = (int)floor(epochs[k]) + (u < epochs[k] - floor(epochs[k]));
        if (copies) {
            double score = lexical_diversity(d.text, d.len);
            if (o->score_field && d.meta) {
                cJSON *s = cJSON_GetObjectItemCaseSensitive(d.meta, o->score_field);
                if (cJSON_IsNumber(s)) score = s->valuedouble;
            }
            cJSON *obj = d.meta ? d.meta : cJSON_CreateObject();
            d.meta = NULL;
            cJSON_DeleteItemFromObjectCaseSensitive(obj, "score");
            cJSON_DeleteItemFromObjectCaseSensitive(obj, "domain");
            cJSON_DeleteItemFromObjectCaseSensitive(obj, "mix_copy");
            cJSON_AddStringToObject(obj, "domain", o->domains[k]);
            cJSON_AddItemToObject(obj, o->text_field, cJSON_CreateString(d.text));
            cJSON_AddNumberToObject(obj, "score", score);
            cJSON *cp = cJSON_AddNumberToObject(obj, "mix_copy", 0);
            for (int c = 0; c < copies && rc == 0; c++) {
                cJSON_SetNumberValue(cp, c);
                char *s = cJSON_PrintUnformatted(obj);
                rc = writer_write(&w, s, strlen(s));
                if (rc == 0) rc = writer_write(&w, "\n", 1);
                free(s);
                wbytes[k] += (double)d.len; wdocs[k]++;
            }
            cJSON_Delete(obj);
        }
        doc_free(&d);
    }
    ingest_close(g);
    if (r < 0) rc = -1;
    if (rc == 0) rc = writer_commit(&w); else writer_abort(&w);
    free(mp);
    if (rc < 0) return -1;
    double total = 0;
    for (int k = 0; k < D; k++) total += wbytes[k];
    cJSON *man = cJSON_CreateObject();
    cJSON_AddStringToObject(man, "mixture", name);
    cJSON_AddStringToObject(man, "score_field", "score");
    cJSON_AddStringToObject(man, "score_source", o->score_field ? o->score_field : "lexical_diversity");
    cJSON_AddNumberToObject(man, "max_epochs", o->max_epochs);
    cJSON_AddNumberToObject(man, "target_bytes", T);
    cJSON_AddNumberToObject(man, "bytes", total);
    cJSON_AddNumberToObject(man, "seed", (double)o->seed);
    cJSON_AddNumberToObject(man, "docs_in_other_domains", (double)other);
    cJSON *dm = cJSON_AddObjectToObject(man, "domains");
    for (int k = 0; k < D; k++) {
        cJSON *e = cJSON_AddObjectToObject(dm, o->domains[k]);
        cJSON_AddNumberToObject(e, "weight", o->weights[k]);
        cJSON_AddNumberToObject(e, "docs_available", (double)ndocs[k]);
        cJSON_AddNumberToObject(e, "bytes_available", avail[k]);
        cJSON_AddNumberToObject(e, "epochs", epochs[k]);
        cJSON_AddNumberToObject(e, "docs_written", (double)wdocs[k]);
        cJSON_AddNumberToObject(e, "bytes_written", wbytes[k]);
        cJSON_AddNumberToObject(e, "share", total > 0 ? wbytes[k] / total : 0);
    }
    char *jp = path_join(o->out_dir, "manifest.json");
    rc = json_save_file(jp, man);
    free(jp);
    cJSON_Delete(man);
    return rc;
}
