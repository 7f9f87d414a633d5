// pipeline.c — curate_run: streaming batches through the stages, then near-dedup and output.
//
// Pass 1 reads documents in batches (serial), runs normalize / filters / PII / decontamination /
// MinHash on each batch in parallel (OpenMP), then decides in input order (exact dedup, counts,
// writes): results do not depend on the thread count. Survivors go to a staging file, and only
// their LSH band keys stay in memory (bands × 8 bytes per document). Pass 2 clusters the keys
// (union-find) and streams the staging file into the output, dropping all but the first
// document of each cluster.
#include "curate/curate.h"
#include "base/check.h"
#include "base/io.h"
#include "base/progress.h"
#include "curate/decontam.h"
#include "curate/exact.h"
#include "curate/ingest.h"
#include "curate/minhash.h"
#include "curate/normalize.h"
#include "curate/pii.h"
#include "curate/report.h"
#include "curate/writer.h"
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    Doc d;
    const char *rule;        // removal rule, NULL if kept
    int stage;               // stage that removed it (ST_COUNT if kept)
    size_t bytes[ST_COUNT];  // size entering each stage
    Hash128 h;
    NormStats norm;
    size_t pii[PII_KINDS];
    int eval;                // eval file that matched, -1 none
    uint64_t *keys;          // [bands] LSH keys (0 = no shingles)
    uint32_t *sig;           // [bands*rows] signature, kept for repository-level dedup of code
    char *json; size_t json_len, json_cap;
} Item;

typedef struct {
    const CurateOptions *o;
    CurateStats st;
    int strict_failed;
    char strict_msg[512];
} Run;

static void on_bad(void *ctx, const char *file, long line, const char *msg) {
    Run *r = ctx;
    stats_bad(&r->st, file, line, msg);
    if (r->o->strict && !r->strict_failed) {
        r->strict_failed = 1;
        if (line) snprintf(r->strict_msg, sizeof r->strict_msg, "%s:%ld: %s", file, line, msg);
        else snprintf(r->strict_msg, sizeof r->strict_msg, "%s: %s", file, msg);
    }
}

static void append(Item *it, const char *s, size_t n) {
    if (it->json_len + n + 1 > it->json_cap) { it->json_cap = (it->json_len + n + 1) * 2; it->json = xrealloc(it->json, it->json_cap); }
    memcpy(it->json + it->json_len, s, n);
    it->json_len += n;
}
static void append_s(Item *it, const char *s) { append(it, s, strlen(s)); }
static void append_str(Item *it, const char *s, size_t n) { json_escape_append(&it->json, &it->json_len, &it->json_cap, s, n); }

// One JSON line: id, text, source, domain, lang, the JSONL metadata, flags, and the removal rule.
static void serialize(Item *it, int flag_contam) {
    Doc *d = &it->d;
    it->json_len = 0;
    append_s(it, "{\"id\":"); append_str(it, d->id, strlen(d->id));
    append_s(it, ",\"text\":"); append_str(it, d->text, d->len);
    append_s(it, ",\"source\":"); append_str(it, d->source, strlen(d->source));
    append_s(it, ",\"domain\":"); append_str(it, d->domain, strlen(d->domain));
    if (d->lang) { append_s(it, ",\"lang\":"); append_str(it, d->lang, strlen(d->lang)); }
    if (d->meta) {
        static const char *skip[] = {"id", "source", "domain", "lang", "curate_rule", "contaminated"};
        for (cJSON *c = d->meta->child; c; c = c->next) {
            int sk = 0;
            for (size_t k = 0; k < sizeof skip / sizeof *skip; k++) sk |= !strcmp(c->string, skip[k]);
            if (sk) continue;
            char *v = cJSON_PrintUnformatted(c);
            if (!v) continue;
            append_s(it, ","); append_str(it, c->string, strlen(c->string)); append_s(it, ":"); append_s(it, v);
            free(v);
        }
    }
    if (flag_contam && it->eval >= 0) append_s(it, ",\"contaminated\":true");
    if (it->rule) { append_s(it, ",\"curate_rule\":"); append_str(it, it->rule, strlen(it->rule)); }
    append_s(it, "}\n");
}

typedef struct {
    FilterScratch *fs; MinhashScratch ms; PiiScratch *ps; DecontamScratch ds;
} Scratch;

static void process_a(const CurateOptions *o, Item *it) {
    Doc *d = &it->d;
    it->bytes[ST_INGEST] = d->len;
    it->stage = ST_COUNT;
    it->eval = -1;
    it->bytes[ST_NORMALIZE] = d->len;
    if (o->do_normalize) {
        char *t; size_t n;
        if (normalize_text(d->text, d->len, &t, &n, &it->norm) < 0) fatal_last();
        free(d->text);
        d->text = t; d->len = n;
    }
    it->bytes[ST_EXACT] = d->len;
    if (d->len == 0) { it->rule = "empty"; it->stage = ST_NORMALIZE; return; }
    if (o->do_exact) it->h = content_hash(d->text, d->len);
}

static void process_b(const CurateOptions *o, Item *it, Scratch *s, const Pii *pii, const Decontam *dc,
                      const MinHasher *mh, int need_sig) {
    Doc *d = &it->d;
    it->bytes[ST_FILTERS] = d->len;
    if (o->do_filters) {
        const char *r = filter_apply(curate_domain_filters(o, d->domain), s->fs, &d->text, &d->len, d->lang);
        if (r) { it->rule = r; it->stage = ST_FILTERS; return; }
    }
    it->bytes[ST_PII] = d->len;
    if (o->do_pii && pii) {
        size_t n = pii_redact(pii, s->ps, &d->text, &d->len, it->pii);
        if (o->pii_max >= 0 && n > (size_t)o->pii_max) { it->rule = "pii:too_many"; it->stage = ST_PII; return; }
    }
    it->bytes[ST_DECONTAM] = d->len;
    if (dc) {
        it->eval = decontam_check(dc, &s->ds, d->text, d->len);
        if (it->eval >= 0 && !o->decontam_flag_only) { it->rule = "decontam"; it->stage = ST_DECONTAM; return; }
    }
    it->bytes[ST_NEAR] = d->len;
    if (o->do_near) {
        size_t ns = minhash_signature(mh, &s->ms, d->text, d->len, it->sig);
        if (ns) minhash_band_keys(mh, it->sig, it->keys);
        else memset(it->keys, 0, (size_t)mh->bands * sizeof(uint64_t));
        (void)need_sig;
    }
}

int curate_run(const CurateOptions *o) {
    if (!o->out_dir) return fail("curate: no output folder (--out DIR)");
    if (o->n_inputs < 1) return fail("curate: no input (--input PATH...)");
    if (o->bands < 1 || o->rows < 1 || o->ngram < 1) return fail("curate: near-dedup needs bands, rows and ngram >= 1");
    if (o->threads > 0) omp_set_num_threads(o->threads);
    TRY(io_mkdir_p(o->out_dir));
    double t0 = now_seconds();
    Run run = {.o = o};
    CurateStats *st = &run.st;

    Pii *pii = NULL;
    if (o->do_pii && !(pii = pii_new())) return -1;
    Decontam *dc = NULL;
    if (o->do_decontam && o->n_evals > 0) {
        if (!(dc = decontam_load(o->evals, o->n_evals, o->decontam_ngram))) { pii_free(pii); return -1; }
        st->decontam_ngrams = decontam_ngrams(dc);
    }
    st->decontam_per_eval = xcalloc(o->n_evals + 1, sizeof(size_t));
    MinHasher mh;
    minhash_init(&mh, o->bands, o->rows, o->ngram, o->seed);
    const int K = o->bands * o->rows, B = o->bands;

    const char *ext = o->compress ? ".jsonl.zst" : ".jsonl";
    char name[64];
    snprintf(name, sizeof name, "data%s", ext);
    char *out_path = path_join(o->out_dir, name);
    snprintf(name, sizeof name, "removed%s", ext);
    char *rm_path = path_join(o->out_dir, name);
    snprintf(name, sizeof name, ".staging.%d.jsonl", (int)getpid());
    char *stage_path = path_join(o->out_dir, name);
    FILE *stage = fopen(stage_path, "w+b");
    int rc = -1;
    DocWriter rmw = {0}, outw = {0};
    int rm_open = 0, out_open = 0;
    HashSet128 seen; hashset_init(&seen);
    uint64_t *keys = NULL; size_t nkept = 0, capkept = 0;
    int32_t *kept_repo = NULL;
    size_t *kept_len = NULL;
    uint32_t *repo_sig = NULL; int cap_repo = 0;     // [repos][K] running minimum of code signatures
    Ingest *g = NULL;
    Item *items = NULL;
    Scratch *scr = NULL;
    int nthreads = omp_get_max_threads();
    if (!stage) { fail("cannot create the staging file %s: check that %s is writable", stage_path, o->out_dir); goto out; }
    if (o->write_removed) { if (writer_open(&rmw, rm_path) < 0) goto out; rm_open = 1; }

    g = ingest_open(o->inputs, o->n_inputs, o->text_field, o->max_doc_bytes, on_bad, &run);
    if (run.strict_failed) { fail("bad input (--strict): %s", run.strict_msg); goto out; }
    st->files = ingest_file_count(g);
    size_t bd = o->batch_docs ? o->batch_docs : 4096;
    items = xcalloc(bd, sizeof(Item));
    for (size_t i = 0; i < bd; i++) {
        items[i].keys = xmalloc((size_t)B * sizeof(uint64_t));
        items[i].sig = xmalloc((size_t)K * sizeof(uint32_t));
    }
    scr = xcalloc(nthreads, sizeof(Scratch));
    for (int t = 0; t < nthreads; t++) { scr[t].fs = filter_scratch_new(); if (pii) scr[t].ps = pii_scratch_new(pii); }

    Progress pr;
    progress_start(&pr, "curate", ingest_total_bytes(g) / 1e6, "MB");
    if (o->quiet) pr.quiet = 1;
    int eof = 0;
    while (!eof) {
        size_t n = 0, batch_bytes = 0;
        while (n < bd && batch_bytes < ((size_t)256 << 20)) {
            Item *it = &items[n];
            int r = ingest_next(g, &it->d);
            if (run.strict_failed) { fail("bad input (--strict): %s", run.strict_msg); goto out; }
            if (r < 0) goto out;
            if (r == 0) { eof = 1; break; }
            it->rule = NULL; it->json_len = 0;
            memset(&it->norm, 0, sizeof it->norm);
            memset(it->pii, 0, sizeof it->pii);
            batch_bytes += it->d.len;
            n++;
        }
        if (!n) break;
        #pragma omp parallel for schedule(dynamic, 16)
        for (size_t i = 0; i < n; i++) process_a(o, &items[i]);
        // exact dedup and UTF-8 reports, in input order
        for (size_t i = 0; i < n; i++) {
            Item *it = &items[i];
            if (it->norm.invalid_utf8) {
                char msg[160];
                // the raw text is gone; report the count (and the document)
                snprintf(msg, sizeof msg, "invalid UTF-8 (%zu bad byte sequences) in document %s; repaired with U+FFFD",
                         it->norm.invalid_utf8, it->d.id);
                on_bad(&run, it->d.source, it->d.line, msg);
                if (run.strict_failed) { fail("bad input (--strict): %s", run.strict_msg); goto out; }
            }
            if (!it->rule && o->do_exact && !hashset_insert(&seen, it->h)) { it->rule = "exact_dup"; it->stage = ST_EXACT; }
        }
        #pragma omp parallel for schedule(dynamic, 4)
        for (size_t i = 0; i < n; i++) {
            Item *it = &items[i];
            if (!it->rule) process_b(o, it, &scr[omp_get_thread_num()], pii, dc, &mh, 1);
            serialize(it, o->decontam_flag_only);
        }
        for (size_t i = 0; i < n; i++) {
            Item *it = &items[i];
            int last = it->rule ? it->stage : ST_NEAR;
            for (int s = 0; s < last; s++) {
                st->docs_in[s]++; st->bytes_in[s] += it->bytes[s];
                st->docs_out[s]++; st->bytes_out[s] += s + 1 < ST_COUNT ? it->bytes[s + 1] : it->d.len;
            }
            if (it->rule) {
                st->docs_in[last]++; st->bytes_in[last] += it->bytes[last];
                stats_rule(st, it->rule, it->bytes[last]);
            }
            st->norm.invalid_utf8 += it->norm.invalid_utf8; st->norm.controls += it->norm.controls;
            st->norm.line_endings += it->norm.line_endings; st->norm.nfc_changed += it->norm.nfc_changed;
            size_t p = 0;
            for (int k = 0; k < PII_KINDS; k++) { st->pii[k] += it->pii[k]; p += it->pii[k]; }
            st->pii_docs += p > 0;
            if (it->eval >= 0) { st->decontam_docs++; st->decontam_per_eval[it->eval]++; }
            if (it->rule) {
                if (rm_open && writer_write(&rmw, it->json, it->json_len) < 0) goto out;
            } else {
                if (fwrite(it->json, 1, it->json_len, stage) != it->json_len) {
                    fail("cannot write the staging file %s (disk full?)", stage_path); goto out;
                }
                if (nkept == capkept) {
                    capkept = capkept ? 2 * capkept : 65536;
                    keys = xrealloc(keys, capkept * B * sizeof(uint64_t));
                    kept_repo = xrealloc(kept_repo, capkept * sizeof(int32_t));
                    kept_len = xrealloc(kept_len, capkept * sizeof(size_t));
                }
                if (o->do_near) memcpy(keys + nkept * B, it->keys, B * sizeof(uint64_t));
                else memset(keys + nkept * B, 0, B * sizeof(uint64_t));
                int repo = (o->do_near && o->repo_level && it->d.repo >= 0 && !strcmp(it->d.domain, "code")) ? it->d.repo : -1;
                kept_repo[nkept] = repo;
                kept_len[nkept] = it->d.len;
                if (repo >= 0 && it->keys[0]) {
                    if (repo >= cap_repo) {
                        int nc = cap_repo ? cap_repo : 64;
                        while (nc <= repo) nc *= 2;
                        repo_sig = xrealloc(repo_sig, (size_t)nc * K * sizeof(uint32_t));
                        memset(repo_sig + (size_t)cap_repo * K, 0xFF, (size_t)(nc - cap_repo) * K * sizeof(uint32_t));
                        cap_repo = nc;
                    }
                    uint32_t *rs = repo_sig + (size_t)repo * K;
                    for (int k = 0; k < K; k++) if (it->sig[k] < rs[k]) rs[k] = it->sig[k];
                }
                nkept++;
            }
            doc_free(&it->d);
        }
        progress_update(&pr, ingest_bytes_read(g) / 1e6);
    }
    progress_end(&pr);

    // ---- near-dedup over the survivors ----
    // repository level first: clusters of repositories by the MinHash of all their code files
    uint8_t *repo_drop = NULL;                       // [ndrop]
    int nrepo = ingest_repo_count(g), ndrop = 0;
    if (o->do_near && o->repo_level && cap_repo > 0) {
        int nr = nrepo < cap_repo ? nrepo : cap_repo;
        uint64_t *rk = xcalloc((size_t)nr * B + 1, sizeof(uint64_t));
        size_t used = 0;
        for (int r = 0; r < nr; r++) {
            uint32_t *rs = repo_sig + (size_t)r * K;
            if (rs[0] == UINT32_MAX && rs[1] == UINT32_MAX) continue;   // no code kept from it
            minhash_band_keys(&mh, rs, rk + (size_t)r * B);
            used++;
        }
        uint32_t *rroot = xmalloc((nr + 1) * sizeof(uint32_t));
        lsh_cluster(rk, nr, B, rroot);
        repo_drop = xcalloc(nr + 1, 1);
        ndrop = nr;
        for (int r = 0; r < nr; r++) repo_drop[r] = rroot[r] != (uint32_t)r;
        size_t *rsize = xcalloc(nr + 1, sizeof(size_t));
        for (int r = 0; r < nr; r++) rsize[rroot[r]]++;
        for (int r = 0; r < nr; r++) st->repo_clusters += rsize[r] >= 2;
        st->repo_count = used;
        free(rsize); free(rroot); free(rk);
    }
    // file level: files of a dropped repository go with it and take no part in the file clusters, so that a
    // repository that regroups another's code cannot chain that repository's files together (a file made of
    // a4 + a5 is close to both, and LSH would join a4 and a5 through it)
    uint32_t *root = xmalloc((nkept + 1) * sizeof(uint32_t));
    if (o->do_near) {
        if (repo_drop)
            for (size_t i = 0; i < nkept; i++)
                if (kept_repo[i] >= 0 && kept_repo[i] < ndrop && repo_drop[kept_repo[i]])
                    memset(keys + i * B, 0, (size_t)B * sizeof(uint64_t));
        lsh_cluster(keys, nkept, B, root);
    } else for (size_t i = 0; i < nkept; i++) root[i] = (uint32_t)i;
    // cluster sizes and the largest clusters
    uint32_t *csize = xcalloc(nkept + 1, sizeof(uint32_t));
    for (size_t i = 0; i < nkept; i++) csize[root[i]]++;
    for (size_t i = 0; i < nkept; i++) if (csize[i] >= 2) { st->clusters++; st->clustered_docs += csize[i]; }
    size_t topidx[10]; int ntop = 0;
    for (size_t i = 0; i < nkept; i++) {
        if (csize[i] < 2) continue;
        int pos = ntop;
        while (pos > 0 && csize[topidx[pos - 1]] < csize[i]) pos--;
        if (pos >= 10) continue;
        if (ntop < 10) ntop++;
        memmove(topidx + pos + 1, topidx + pos, (size_t)(ntop - 1 - pos) * sizeof(size_t));
        topidx[pos] = i;
    }
    st->ntop = ntop;
    for (int k = 0; k < ntop; k++) st->top[k].size = csize[topidx[k]];

    // ---- pass 2: staging → output ----
    if (fflush(stage) != 0 || fseek(stage, 0, SEEK_SET) != 0) { fail("cannot read back the staging file %s", stage_path); free(root); free(csize); free(repo_drop); goto out; }
    if (writer_open(&outw, out_path) < 0) { free(root); free(csize); free(repo_drop); goto out; }
    out_open = 1;
    {
        char *line = NULL; size_t lcap = 0; ssize_t ln;
        size_t i = 0;
        int fail2 = 0;
        while ((ln = getline(&line, &lcap, stage)) > 0 && i < nkept) {
            const char *rule = NULL;
            int rr = kept_repo[i];
            if (repo_drop && rr >= 0 && rr < ndrop && repo_drop[rr]) rule = "near_dup_repo";
            else if (root[i] != i) rule = "near_dup";
            for (int k = 0; k < ntop; k++) {   // ids for the largest clusters
                if (root[i] != topidx[k]) continue;
                int is_kept = i == topidx[k];
                if (!is_kept && st->top[k].example_id) continue;
                cJSON *oj = cJSON_ParseWithLength(line, (size_t)ln);
                cJSON *id = oj ? cJSON_GetObjectItemCaseSensitive(oj, "id") : NULL;
                if (cJSON_IsString(id)) *(is_kept ? &st->top[k].kept_id : &st->top[k].example_id) = xstrdup(id->valuestring);
                cJSON_Delete(oj);
            }
            st->docs_in[ST_NEAR]++;
            size_t tb = kept_len[i];
            if (rule) {
                stats_rule(st, rule, tb);
                if (!strcmp(rule, "near_dup_repo")) st->repo_docs_removed++;
                if (rm_open) {
                    // insert the rule before the closing brace
                    size_t e = (size_t)ln;
                    while (e && (line[e - 1] == '\n' || line[e - 1] == '}')) { if (line[e - 1] == '}') { e--; break; } e--; }
                    char tail[64];
                    int tl = snprintf(tail, sizeof tail, ",\"curate_rule\":\"%s\"}\n", rule);
                    if (writer_write(&rmw, line, e) < 0 || writer_write(&rmw, tail, (size_t)tl) < 0) { fail2 = 1; break; }
                }
            } else {
                st->docs_out[ST_NEAR]++; st->bytes_out[ST_NEAR] += tb;
                if (writer_write(&outw, line, (size_t)ln) < 0) { fail2 = 1; break; }
            }
            i++;
        }
        free(line);
        if (!fail2 && i != nkept) { fail("staging file %s was cut short (%zu of %zu documents): was it modified during the run?", stage_path, i, nkept); fail2 = 1; }
        if (fail2) { free(root); free(csize); free(repo_drop); goto out; }
    }
    free(root); free(csize); free(repo_drop);
    st->bytes_in[ST_NEAR] = st->bytes_out[ST_DECONTAM];
    if (writer_commit(&outw) < 0) { out_open = 0; goto out; }
    out_open = 0;
    if (rm_open) { rm_open = 0; if (writer_commit(&rmw) < 0) goto out; }
    st->seconds = now_seconds() - t0;
    if (report_write(o, st, o->out_dir) < 0) goto out;
    rc = 0;
out:
    if (rc < 0) {
        char *msg = xstrdup(last_error());
        if (rm_open) writer_abort(&rmw);
        if (out_open) writer_abort(&outw);
        fail("%s", msg);
        free(msg);
    }
    if (stage) { fclose(stage); unlink(stage_path); }
    if (items) {
        for (size_t i = 0; i < bd; i++) { doc_free(&items[i].d); free(items[i].keys); free(items[i].sig); free(items[i].json); }
        free(items);
    }
    if (scr) {
        for (int t = 0; t < nthreads; t++) {
            filter_scratch_free(scr[t].fs); pii_scratch_free(scr[t].ps);
            minhash_scratch_free(&scr[t].ms); decontam_scratch_free(&scr[t].ds);
        }
        free(scr);
    }
    ingest_close(g);
    hashset_free(&seen);
    free(keys); free(kept_repo); free(kept_len); free(repo_sig);
    minhash_free(&mh);
    pii_free(pii); decontam_free(dc);
    stats_free(st);
    free(out_path); free(rm_path); free(stage_path);
    return rc;
}
