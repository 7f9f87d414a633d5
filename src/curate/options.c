// options.c — curation defaults and the JSON config file (curate.json).
#include "curate/curate.h"
#include "base/check.h"
#include "base/json.h"
#include <stdlib.h>
#include <string.h>

void curate_default_options(CurateOptions *o) {
    memset(o, 0, sizeof *o);
    o->text_field = "text";
    o->seed = 1234;
    o->write_removed = 1;
    o->batch_docs = 4096;
    o->max_doc_bytes = (size_t)64 << 20;
    o->do_normalize = o->do_exact = o->do_filters = o->do_pii = o->do_near = 1;
    o->do_decontam = 1;   // runs only when eval files are given
    o->bands = 14; o->rows = 8; o->ngram = 5;
    o->repo_level = 1;
    o->pii_max = -1;
    o->decontam_ngram = 10;
    o->n_domains = 3;
    strcpy(o->domain_names[0], "text"); filter_defaults_text(&o->filters[0]);
    strcpy(o->domain_names[1], "code"); filter_defaults_code(&o->filters[1]);
    // math: prose rules, but formulas are short lines, symbols and few stop words
    strcpy(o->domain_names[2], "math"); filter_defaults_text(&o->filters[2]);
    o->filters[2].fineweb = 0; o->filters[2].c4 = 0;
    o->filters[2].gq_min_words = 20; o->filters[2].gq_min_stop_words = 1; o->filters[2].gq_min_alpha_words = 0.5;
}

const FilterParams *curate_domain_filters(const CurateOptions *o, const char *domain) {
    for (int i = 0; i < o->n_domains; i++) if (domain && !strcmp(o->domain_names[i], domain)) return &o->filters[i];
    return &o->filters[0];
}

static void own(CurateOptions *o, void *p) {
    o->owned_ = xrealloc(o->owned_, (o->n_owned_ + 1) * sizeof(char *));
    o->owned_[o->n_owned_++] = p;
}

void curate_options_free(CurateOptions *o) {
    for (int i = 0; i < o->n_owned_; i++) free(o->owned_[i]);
    free(o->owned_);
    o->owned_ = NULL; o->n_owned_ = 0;
}

static int get_int(const cJSON *o, const char *k, const char *what, int *v) {
    long long x;
    TRY(json_int_opt(o, k, what, *v, &x));
    *v = (int)x;
    return 0;
}

static int str_list(CurateOptions *o, const cJSON *a, const char *what, const char *const **out, int *n) {
    if (!a) return 0;
    if (!cJSON_IsArray(a)) return fail("%s: expected an array of paths", what);
    int m = cJSON_GetArraySize(a);
    const char **v = xcalloc(m + 1, sizeof(char *));
    for (int i = 0; i < m; i++) {
        cJSON *s = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsString(s)) { own(o, (void *)v); return fail("%s[%d]: expected a string", what, i); }
        v[i] = xstrdup(s->valuestring);
        own(o, (void *)v[i]);
    }
    own(o, (void *)v);
    *out = v; *n = m;
    return 0;
}

static const char *KNOWN[] = {"text_field", "seed", "compress", "write_removed", "threads", "batch_docs",
                              "max_doc_bytes", "stages", "near_dedup", "pii", "decontam", "filters", NULL};

int curate_load_config(CurateOptions *o, const char *path) {
    cJSON *r;
    TRY(json_load_file(path, &r));
    int rc = -1;
    if (!cJSON_IsObject(r)) { fail("%s: expected a JSON object at the top level", path); goto out; }
    for (cJSON *c = r->child; c; c = c->next) {
        int ok = 0;
        for (int k = 0; KNOWN[k]; k++) ok |= !strcmp(c->string, KNOWN[k]);
        if (!ok) { fail("%s: unknown key \"%s\" (see docs/curate.md)", path, c->string); goto out; }
    }
    const char *s;
    if (json_str_opt(r, "text_field", path, o->text_field, &s) < 0) goto out;
    if (s != o->text_field) { char *t = xstrdup(s); own(o, t); o->text_field = t; }
    long long x;
    if (json_int_opt(r, "seed", path, (long long)o->seed, &x) < 0) goto out;
    o->seed = (uint64_t)x;
    if (json_bool_opt(r, "compress", path, o->compress, &o->compress) < 0) goto out;
    if (json_bool_opt(r, "write_removed", path, o->write_removed, &o->write_removed) < 0) goto out;
    if (get_int(r, "threads", path, &o->threads) < 0) goto out;
    if (json_int_opt(r, "batch_docs", path, (long long)o->batch_docs, &x) < 0) goto out;
    o->batch_docs = x > 0 ? (size_t)x : 1;
    if (json_int_opt(r, "max_doc_bytes", path, (long long)o->max_doc_bytes, &x) < 0) goto out;
    o->max_doc_bytes = (size_t)x;
    cJSON *st = cJSON_GetObjectItemCaseSensitive(r, "stages");
    if (st) {
        const char *names[] = {"normalize", "exact_dedup", "filters", "pii", "decontam", "near_dedup"};
        int *vals[] = {&o->do_normalize, &o->do_exact, &o->do_filters, &o->do_pii, &o->do_decontam, &o->do_near};
        for (int i = 0; i < 6; i++) if (json_bool_opt(st, names[i], "stages", *vals[i], vals[i]) < 0) goto out;
    }
    cJSON *nd = cJSON_GetObjectItemCaseSensitive(r, "near_dedup");
    if (nd) {
        if (get_int(nd, "bands", "near_dedup", &o->bands) < 0 || get_int(nd, "rows", "near_dedup", &o->rows) < 0 ||
            get_int(nd, "ngram", "near_dedup", &o->ngram) < 0 || get_int(nd, "repo_level", "near_dedup", &o->repo_level) < 0)
            goto out;
        if (o->bands < 1 || o->rows < 1 || o->ngram < 1 || o->bands * o->rows > 4096) {
            fail("%s: near_dedup needs bands, rows, ngram >= 1 and bands*rows <= 4096", path); goto out;
        }
    }
    cJSON *pi = cJSON_GetObjectItemCaseSensitive(r, "pii");
    if (pi && get_int(pi, "max_per_doc", "pii", &o->pii_max) < 0) goto out;
    cJSON *dc = cJSON_GetObjectItemCaseSensitive(r, "decontam");
    if (dc) {
        if (get_int(dc, "ngram", "decontam", &o->decontam_ngram) < 0) goto out;
        const char *mode;
        if (json_str_opt(dc, "mode", "decontam", "remove", &mode) < 0) goto out;
        if (strcmp(mode, "remove") && strcmp(mode, "flag")) { fail("%s: decontam.mode must be \"remove\" or \"flag\"", path); goto out; }
        o->decontam_flag_only = !strcmp(mode, "flag");
        if (str_list(o, cJSON_GetObjectItemCaseSensitive(dc, "evals"), "decontam.evals", &o->evals, &o->n_evals) < 0) goto out;
    }
    cJSON *fl = cJSON_GetObjectItemCaseSensitive(r, "filters");
    if (fl) {
        for (cJSON *d = fl->child; d; d = d->next) {
            int k = 0;
            while (k < o->n_domains && strcmp(o->domain_names[k], d->string)) k++;
            if (k == o->n_domains) {
                if (k == CURATE_MAX_DOMAINS) { fail("%s: at most %d domains in \"filters\"", path, CURATE_MAX_DOMAINS); goto out; }
                if (strlen(d->string) >= sizeof o->domain_names[0]) { fail("%s: domain name \"%s\" is too long", path, d->string); goto out; }
                strcpy(o->domain_names[k], d->string);
                o->filters[k] = o->filters[0];
                o->n_domains++;
            }
            for (cJSON *p = d->child; p; p = p->next) {
                if (!cJSON_IsNumber(p) && !cJSON_IsBool(p)) { fail("%s: filters.%s.%s must be a number", path, d->string, p->string); goto out; }
                double v = cJSON_IsBool(p) ? cJSON_IsTrue(p) : p->valuedouble;
                if (filter_set(&o->filters[k], p->string, v) < 0) { fail_ctx("%s: filters.%s: ", path, d->string); goto out; }
            }
        }
    }
    rc = 0;
out:
    cJSON_Delete(r);
    return rc;
}
