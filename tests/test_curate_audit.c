// test_curate_audit.c — the audit round trip changes exactly what the sheet says: a curation
// run, a stratified sample, random reviewer decisions, apply; then every document named in the
// sheet moved or changed as decided, every other line is byte-identical, the ledger has one entry
// per decision, and a stale sheet is refused without changing anything.
#include "test.h"
#include "base/check.h"
#include "base/io.h"
#include "base/rng.h"
#include "curate/audit.h"
#include "curate/bias.h"
#include "curate/curate.h"
#include <cjson/cJSON.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];
static uint64_t SEED;

static const char *WORDS[] = {"the", "river", "of", "and", "garden", "to", "morning", "with", "city", "that", "have",
                              "teacher", "bridge", "winter", "be", "letter", "forest", "history", "music", "island"};

typedef struct { char **v; size_t n; } Strs;

static void lines_of(const char *path, Strs *s) {
    s->v = NULL; s->n = 0;
    char *b; size_t n;
    if (io_read_all(path, &b, &n) < 0) return;
    for (char *p = b, *e; p < b + n; p = e + 1) {
        e = memchr(p, '\n', (size_t)(b + n - p));
        if (!e) e = b + n;
        s->v = xrealloc(s->v, (s->n + 1) * sizeof(char *));
        s->v[s->n] = xmalloc((size_t)(e - p) + 1);
        memcpy(s->v[s->n], p, (size_t)(e - p)); s->v[s->n][e - p] = 0;
        s->n++;
    }
    free(b);
}

static void free_strs(Strs *s) { for (size_t i = 0; i < s->n; i++) free(s->v[i]); free(s->v); }

static const char *id_of(const char *line, char *buf, size_t cap) {
    cJSON *o = cJSON_Parse(line);
    const cJSON *i = cJSON_GetObjectItem(o, "id");
    snprintf(buf, cap, "%s", cJSON_IsString(i) ? i->valuestring : "");
    cJSON_Delete(o);
    return buf;
}

TEST(audit_round_trip_changes_exactly_the_sheet) {
    Rng r; rng_seed_stream(&r, SEED, 1);
    // corpus: 300 prose documents, a third too short (removed by Gopher), unique ids
    char *cp = path_join(tmpdir, "c.jsonl");
    FILE *f = fopen(cp, "w");
    for (int d = 0; d < 300; d++) {
        int nw = d % 3 == 0 ? 10 : 80 + (int)rng_below(&r, 40);
        fprintf(f, "{\"id\":\"doc%d\",\"text\":\"", d);
        for (int w = 0; w < nw; w++) fprintf(f, "%s%s%s", w ? " " : "", WORDS[rng_below(&r, 20)], w % 12 == 11 ? "." : "");
        fprintf(f, ".\"}\n");
    }
    fclose(f);
    char *out = path_join(tmpdir, "out");
    CurateOptions o;
    curate_default_options(&o);
    const char *in[1] = {cp};
    o.inputs = in; o.n_inputs = 1; o.out_dir = out; o.quiet = 1; o.do_near = 0;
    o.filters[0].c4 = o.filters[0].fineweb = o.filters[0].gopher_rep = 0;
    CHECK(curate_run(&o) == 0, "%s", last_error());
    char *dp = path_join(out, "data.jsonl"), *rp = path_join(out, "removed.jsonl");
    Strs d0, r0;
    lines_of(dp, &d0); lines_of(rp, &r0);
    CHECK(d0.n > 50 && r0.n > 50, "kept %zu removed %zu", d0.n, r0.n);
    char *sheet = path_join(tmpdir, "sheet.jsonl");
    size_t rows;
    CHECK(audit_sample(out, sheet, 15, SEED, &rows) == 0, "%s", last_error());
    CHECK(rows == 30, "two strata of 15 expected, got %zu rows", rows);
    // reviewer: random decisions
    Strs sh; lines_of(sheet, &sh);
    char *reviewed = path_join(tmpdir, "reviewed.jsonl");
    f = fopen(reviewed, "w");
    int ndec = 0;
    char **keep_ids = xcalloc(sh.n + 1, sizeof(char *)), **drop_ids = xcalloc(sh.n + 1, sizeof(char *)), **rel_ids = xcalloc(sh.n + 1, sizeof(char *));
    int nk = 0, nd = 0, nrl = 0, moves = 0, relabels = 0;
    for (size_t i = 0; i < sh.n; i++) {
        cJSON *row = cJSON_Parse(sh.v[i]);
        const char *file = cJSON_GetObjectItem(row, "file")->valuestring;
        const char *id = cJSON_GetObjectItem(row, "id")->valuestring;
        int k = (int)rng_below(&r, 4);
        const char *dec = k == 0 ? "keep" : k == 1 ? "drop" : k == 2 ? "relabel" : "";
        cJSON_ReplaceItemInObject(row, "decision", cJSON_CreateString(dec));
        if (k == 2) cJSON_ReplaceItemInObject(row, "label", cJSON_CreateString("reviewed"));
        cJSON_ReplaceItemInObject(row, "note", cJSON_CreateString("looks fine, \"quoted\", note"));
        if (k == 0) { keep_ids[nk++] = xstrdup(id); moves += !strcmp(file, "removed.jsonl"); }
        if (k == 1) { drop_ids[nd++] = xstrdup(id); moves += !strcmp(file, "data.jsonl"); }
        if (k == 2) { rel_ids[nrl++] = xstrdup(id); relabels++; }
        ndec += k < 3;
        char *s = cJSON_PrintUnformatted(row);
        fprintf(f, "%s\n", s);
        free(s); cJSON_Delete(row);
    }
    fclose(f);
    AuditCounts c;
    CHECK(audit_apply(out, reviewed, "tester", &c) == 0, "%s", last_error());
    CHECK((int)c.rows == ndec && (int)(c.kept_to_removed + c.removed_to_kept) == moves && (int)c.relabelled == relabels,
          "counts rows %zu moves %zu+%zu relabel %zu vs %d %d %d", c.rows, c.kept_to_removed, c.removed_to_kept, c.relabelled, ndec, moves, relabels);
    Strs d1, r1;
    lines_of(dp, &d1); lines_of(rp, &r1);
    CHECK(d1.n + r1.n == d0.n + r0.n, "documents lost or duplicated: %zu vs %zu", d1.n + r1.n, d0.n + r0.n);
    // every document: where it is now and whether its line changed
    char idb[64];
    int wrong = 0;
    for (int pass = 0; pass < 2; pass++) {
        Strs *now = pass ? &r1 : &d1, *b0 = pass ? &r0 : &d0, *other0 = pass ? &d0 : &r0;
        for (size_t i = 0; i < now->n; i++) {
            const char *id = id_of(now->v[i], idb, sizeof idb);
            int in_keep = 0, in_drop = 0, in_rel = 0;
            for (int k = 0; k < nk; k++) in_keep |= !strcmp(keep_ids[k], id);
            for (int k = 0; k < nd; k++) in_drop |= !strcmp(drop_ids[k], id);
            for (int k = 0; k < nrl; k++) in_rel |= !strcmp(rel_ids[k], id);
            if (in_keep && pass == 1) wrong++;                       // kept ones must be in data
            if (in_drop && pass == 0) wrong++;                       // dropped ones must be in removed
            int was_here = 0, identical = 0;
            char idc[64];
            for (size_t j = 0; j < b0->n; j++) if (!strcmp(id_of(b0->v[j], idc, sizeof idc), id)) { was_here = 1; identical = !strcmp(b0->v[j], now->v[i]); }
            (void)other0;
            if (!in_keep && !in_drop && !in_rel && (!was_here || !identical)) wrong++;   // untouched: same file, same bytes
            if (in_rel) {
                cJSON *oj = cJSON_Parse(now->v[i]);
                const cJSON *a = cJSON_GetObjectItem(oj, "audit");
                if (strcmp(cJSON_GetObjectItem(oj, "domain")->valuestring, "reviewed") || !a ||
                    strcmp(cJSON_GetObjectItem(a, "reviewer")->valuestring, "tester")) wrong++;
                cJSON_Delete(oj);
            }
        }
    }
    CHECK(wrong == 0, "%d documents are not where / as the sheet says", wrong);
    Strs led;
    char *lp = path_join(out, "ledger.jsonl");
    lines_of(lp, &led);
    CHECK((int)led.n == ndec, "ledger has %zu entries for %d decisions", led.n, ndec);
    int ok_led = 1;
    for (size_t i = 0; i < led.n; i++) ok_led &= strstr(led.v[i], "\"reviewer\":\"tester\"") && strstr(led.v[i], "\"time\":\"") && strstr(led.v[i], "quoted");
    CHECK(ok_led, "ledger entries lack reviewer, time or note");
    // the same sheet again is stale (lines moved): refused, nothing changes
    int stale_expected = moves > 0;
    char *b1; size_t n1; io_read_all(dp, &b1, &n1);
    int rc = audit_apply(out, reviewed, "tester", &c);
    char *b2; size_t n2; io_read_all(dp, &b2, &n2);
    if (stale_expected) CHECK(rc < 0 && strstr(last_error(), "stale"), "stale sheet accepted: %s", last_error());
    if (rc < 0) CHECK(n1 == n2 && !memcmp(b1, b2, n1), "a refused sheet changed data.jsonl");
    free(b1); free(b2);
    // CSV sheets work too: sample again, relabel the first row through the CSV
    CHECK(audit_sample(out, sheet, 2, SEED + 1, &rows) == 0, "%s", last_error());
    char *csvp = path_join(tmpdir, "sheet.csv");
    Strs cs; lines_of(csvp, &cs);
    CHECK(cs.n >= 2 && strstr(cs.v[0], "decision"), "CSV header");
    // rewrite row 1: decision column is the 6th cell; cells are quoted without commas inside for ids
    char *edited = path_join(tmpdir, "edited.csv");
    f = fopen(edited, "w");
    fprintf(f, "file,line,id,decision,label,note\n");
    Strs sj; lines_of(sheet, &sj);
    cJSON *row = cJSON_Parse(sj.v[0]);
    fprintf(f, "\"%s\",%.0f,\"%s\",relabel,\"csv,label\",\"a \"\"quoted\"\" note\"\n", cJSON_GetObjectItem(row, "file")->valuestring,
            cJSON_GetObjectItem(row, "line")->valuedouble, cJSON_GetObjectItem(row, "id")->valuestring);
    fclose(f);
    CHECK(audit_apply(out, edited, "csv-tester", &c) == 0 && c.relabelled == 1, "CSV apply: %s", last_error());
    Strs d2; lines_of(dp, &d2); Strs r2; lines_of(rp, &r2);
    int found = 0;
    for (size_t i = 0; i < d2.n; i++) found += strstr(d2.v[i], "\"domain\":\"csv,label\"") != NULL;
    for (size_t i = 0; i < r2.n; i++) found += strstr(r2.v[i], "\"domain\":\"csv,label\"") != NULL;
    CHECK(found == 1, "CSV relabel applied %d times", found);
    cJSON_Delete(row);
    // malformed sheets are refused with the record number
    char *badp = path_join(tmpdir, "bad.jsonl");
    { const char *bs = "{\"file\":\"data.jsonl\",\"line\":1,\"id\":\"x\",\"decision\":\"maybe\"}\n"; io_write_file(badp, bs, strlen(bs)); }
    CHECK(audit_apply(out, badp, "t", &c) < 0 && strstr(last_error(), "record 1"), "bad decision: %s", last_error());
    // mutated CSV sheets: refused or applied, never a crash (and the data stays parseable JSONL)
    Rng fr; rng_seed_stream(&fr, SEED, 9);
    const char *csv0 = "file,line,id,decision,label,note\n\"data.jsonl\",1,\"doc1\",relabel,\"x\",\"n\"\n";
    size_t cn = strlen(csv0);
    char *cb = xmalloc(cn + 1);
    for (int it = 0; it < 200; it++) {
        memcpy(cb, csv0, cn + 1);
        size_t len = cn;
        for (int m = 0; m < 3; m++) { size_t at = rng_below(&fr, len); if (rng_below(&fr, 2)) cb[at] = ",\"\n\r1a"[rng_below(&fr, 6)]; else len = at; }
        io_write_file(badp, cb, len);
        char *bp2 = path_join(tmpdir, "fuzz.csv");
        io_write_file(bp2, cb, len);
        audit_apply(out, bp2, "fuzzer", &c);
        free(bp2);
    }
    free(cb);
    Strs d3; lines_of(dp, &d3);
    int parse_ok = 1;
    for (size_t i = 0; i < d3.n; i++) { cJSON *j = cJSON_Parse(d3.v[i]); parse_ok &= j != NULL; cJSON_Delete(j); }
    CHECK(parse_ok && d3.n > 0, "data.jsonl damaged by fuzzed sheets");
    free_strs(&d3);
    free(badp);
    free_strs(&d2); free_strs(&r2); free_strs(&sj); free_strs(&cs); free(csvp); free(edited);
    for (int k = 0; k < nk; k++) free(keep_ids[k]);
    for (int k = 0; k < nd; k++) free(drop_ids[k]);
    for (int k = 0; k < nrl; k++) free(rel_ids[k]);
    free(keep_ids); free(drop_ids); free(rel_ids);
    free_strs(&led); free(lp);
    free_strs(&d0); free_strs(&r0); free_strs(&d1); free_strs(&r1); free_strs(&sh);
    free(cp); free(out); free(dp); free(rp); free(sheet); free(reviewed);
}

TEST(bias_report_counts_and_lift) {
    char *dp = path_join(tmpdir, "bias_data.jsonl");
    const char *data =
        "{\"text\":\"He is a Doctor.\",\"domain\":\"text\"}\n"
        "{\"text\":\"She is a nurse, and her mother too.\",\"domain\":\"text\"}\n"
        "{\"text\":\"The river is wide.\",\"domain\":\"text\"}\n"
        "{\"text\":\"int he_llo = 0; // hello\",\"domain\":\"code\"}\n";
    io_write_file(dp, data, strlen(data));
    char *op = path_join(tmpdir, "bias");
    CHECK(bias_report(dp, NULL, op) == 0, "%s", last_error());
    char *jp = path_join(tmpdir, "bias.json"), *b; size_t n;
    cJSON *r = io_read_all(jp, &b, &n) == 0 ? cJSON_Parse(b) : NULL;
    CHECK(r != NULL, "bias.json missing");
    if (!r) return;
    free(b);
    cJSON *t = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "domains"), "text");
    cJSON *lists = cJSON_GetObjectItem(t, "lists");
    double male = cJSON_GetObjectItem(cJSON_GetObjectItem(lists, "male"), "docs_with_term")->valuedouble;
    double fem = cJSON_GetObjectItem(cJSON_GetObjectItem(lists, "female"), "docs_with_term")->valuedouble;
    double occ = cJSON_GetObjectItem(cJSON_GetObjectItem(lists, "occupation"), "docs_with_term")->valuedouble;
    double rate = cJSON_GetObjectItem(cJSON_GetObjectItem(lists, "female"), "terms_per_1000_words")->valuedouble;
    CHECK(male == 1 && fem == 1 && occ == 2, "docs with male %g female %g occupation %g", male, fem, occ);
    CHECK(fabs(rate - 1000.0 * 3 / 16) < 1e-9, "female rate %g (she, her, mother in 16 words)", rate);
    // male+occupation: P(A,B) = 1/3, P(A) = 1/3, P(B) = 2/3 -> lift 1.5; male+female never together -> 0
    double lift_mo = -1, lift_mf = -1;
    for (cJSON *x = cJSON_GetObjectItem(t, "cooccurrence")->child; x; x = x->next) {
        const char *a = cJSON_GetObjectItem(x, "a")->valuestring, *bb = cJSON_GetObjectItem(x, "b")->valuestring;
        double l = cJSON_GetObjectItem(x, "lift")->valuedouble;
        if (!strcmp(a, "male") && !strcmp(bb, "occupation")) lift_mo = l;
        if (!strcmp(a, "male") && !strcmp(bb, "female")) lift_mf = l;
    }
    CHECK(fabs(lift_mo - 1.5) < 1e-9 && lift_mf == 0, "lift male+occupation %g, male+female %g", lift_mo, lift_mf);
    cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "domains"), "code");
    CHECK(c && cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "lists"), "male"), "docs_with_term")->valuedouble == 0,
          "the identifier he_llo must not count as \"he\"");
    cJSON_Delete(r);
    // custom lists; a bad file is an error naming the list
    char *tp = path_join(tmpdir, "terms.json");
    { const char *ts = "{\"water\": [\"river\", \"sea\"]}"; io_write_file(tp, ts, strlen(ts)); }
    CHECK(bias_report(dp, tp, op) == 0, "%s", last_error());
    { const char *ts = "{\"water\": \"river\"}"; io_write_file(tp, ts, strlen(ts)); }
    CHECK(bias_report(dp, tp, op) < 0 && strstr(last_error(), "water"), "bad terms: %s", last_error());
    free(tp); free(dp); free(op); free(jp);
}

int main(void) {
    SEED = (uint64_t)time(NULL);
    printf("# seed %llu\n", (unsigned long long)SEED);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/deepc_test_audit_%d", (int)getpid());
    io_mkdir_p(tmpdir);
    RUN(audit_round_trip_changes_exactly_the_sheet);
    RUN(bias_report_counts_and_lift);
    io_rm_rf(tmpdir);
    return test_summary();
}
