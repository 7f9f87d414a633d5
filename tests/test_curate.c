// test_curate.c — normalization, PII, decontamination, ingest of bad input, and the whole
// pipeline end to end (counts, determinism across thread counts, atomic output, --strict).
#include "test.h"
#include "base/check.h"
#include "base/io.h"
#include "base/rng.h"
#include "curate/curate.h"
#include "curate/decontam.h"
#include "curate/ingest.h"
#include "curate/normalize.h"
#include "curate/pii.h"
#include <cjson/cJSON.h>
#include <dirent.h>
#include <omp.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>
#include <zstd.h>

static char tmpdir[256];
static uint64_t SEED;

static char *norm(const char *s) {
    char *o; size_t n;
    if (normalize_text(s, strlen(s), &o, &n, NULL) < 0) return xstrdup("<error>");
    return o;
}

#define NORM_EQ(in, want) do { char *o_ = norm(in); CHECK(!strcmp(o_, want), "normalize(%s) = \"%s\"", #in, o_); free(o_); } while (0)

TEST(normalize_rules) {
    NORM_EQ("a\r\nb\rc\n", "a\nb\nc");                         // line endings, trailing newline
    NORM_EQ("x  \t\ny \n\nz   ", "x\ny\n\nz");                  // trailing whitespace per line
    NORM_EQ("a\x01" "b\x7f" "c\td", "abc\td");                   // controls removed, tab kept
    NORM_EQ("caf\x65\xCC\x81", "caf\xC3\xA9");                   // e + U+0301 -> U+00E9 (NFC)
    NORM_EQ("\xEF\xBB\xBFhi", "hi");                             // BOM
    NORM_EQ("a\xFF" "b", "a\xEF\xBF\xBD" "b");                   // invalid byte -> U+FFFD
    NORM_EQ("\xC2\x85x", "x");                                   // C1 control U+0085
    NORM_EQ("\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate: 3 invalid bytes
    NORM_EQ("\xC3\xA9t\xC3\xA9", "\xC3\xA9t\xC3\xA9");          // already NFC stays
    NormStats st = {0};
    char *o; size_t n;
    normalize_text("a\xFF\xFE\r\n\x02", 6, &o, &n, &st);
    CHECK(st.invalid_utf8 == 2 && st.line_endings == 1 && st.controls == 1, "stats %zu %zu %zu", st.invalid_utf8, st.line_endings, st.controls);
    free(o);
}

TEST(normalize_random_bytes_gives_valid_nfc) {
    // fuzz: random bytes (biased toward UTF-8 lead/continuation bytes and combining marks);
    // the output must be valid UTF-8 by utf8proc's decoder, NFC by utf8proc, and have no CR.
    Rng r; rng_seed_stream(&r, SEED, 10);
    int bad = 0;
    for (int it = 0; it < 3000; it++) {
        size_t n = rng_below(&r, 200);
        char *s = xmalloc(n + 1);
        for (size_t i = 0; i < n; i++) {
            uint32_t k = rng_u32(&r) % 11;
            if (k == 10 && i + 3 < n) {   // a code point near the fast path's limits, UTF-8 encoded
                uint32_t cp = rng_below(&r, 2) ? 0x80 + (uint32_t)rng_below(&r, 0x300) : 0x1FF0 + (uint32_t)rng_below(&r, 0x90);
                if (cp < 0x800) { s[i++] = (char)(0xC0 | cp >> 6); s[i] = (char)(0x80 | (cp & 63)); }
                else { s[i++] = (char)(0xE0 | cp >> 12); s[i++] = (char)(0x80 | ((cp >> 6) & 63)); s[i] = (char)(0x80 | (cp & 63)); }
                continue;
            }
            s[i] = k < 4 ? (char)('a' + rng_below(&r, 26)) : k < 5 ? "\r\n \t"[rng_below(&r, 4)] : k < 7 ? (char)(0x80 + rng_below(&r, 64))
                 : k < 8 ? "\xCC\xCD"[rng_below(&r, 2)] : (char)rng_below(&r, 256);
        }
        char *o; size_t m;
        if (normalize_text(s, n, &o, &m, NULL) < 0) { bad++; free(s); continue; }
        utf8proc_int32_t cp;
        for (size_t i = 0; i < m;) {
            utf8proc_ssize_t l = utf8proc_iterate((const utf8proc_uint8_t *)o + i, (utf8proc_ssize_t)(m - i), &cp);
            if (l <= 0) { bad++; break; }
            if (cp == '\r' || (cp < 0x20 && cp != '\n' && cp != '\t')) { bad++; break; }
            i += (size_t)l;
        }
        if (m && (o[m - 1] == ' ' || o[m - 1] == '\n')) bad++;
        utf8proc_uint8_t *nfc = utf8proc_NFC((const utf8proc_uint8_t *)o);
        if (!nfc || strcmp((char *)nfc, o)) bad++;
        free(nfc); free(o); free(s);
    }
    CHECK(bad == 0, "%d outputs were invalid UTF-8, not NFC, or kept CR/controls", bad);
}

static char *redact(Pii *p, PiiScratch *s, const char *in, size_t *counts) {
    size_t n = strlen(in);
    char *t = xstrdup(in);
    pii_redact(p, s, &t, &n, counts);
    return t;
}

TEST(pii_patterns) {
    Pii *p = pii_new();
    CHECK(p != NULL, "%s", last_error());
    if (!p) return;
    PiiScratch *s = pii_scratch_new(p);
    struct { const char *in, *want; } cases[] = {
        {"mail jane.doe+x@example.co.uk now", "mail <EMAIL> now"},
        {"server 8.8.8.8 and 93.184.216.34.", "server <IP> and <IP>."},
        {"local 192.168.1.1 10.0.0.7 127.0.0.1", "local 192.168.1.1 10.0.0.7 127.0.0.1"},   // private: kept
        {"version 1.2.3 and 300.1.1.1", "version 1.2.3 and 300.1.1.1"},                      // not IPv4
        {"call (555) 123-4567 or +1 415-555-0100", "call <PHONE> or <PHONE>"},
        {"date 2024-01-05 and 12345", "date 2024-01-05 and 12345"},
        {"key AKIAIOSFODNN7EXAMPLE here", "key <SECRET> here"},
        {"token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "token <SECRET>"},
        {"password = \"hunter2hunter2x9\"", "password = \"<SECRET>\""},
        {"password = get_password_from_env()", "password = get_password_from_env()"},          // no digit: code
        {"-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "<SECRET>"},
        {"nothing to see", "nothing to see"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t c[PII_KINDS] = {0};
        char *o = redact(p, s, cases[i].in, c);
        CHECK(!strcmp(o, cases[i].want), "case %zu: \"%s\" -> \"%s\" (want \"%s\")", i, cases[i].in, o, cases[i].want);
        free(o);
    }
    size_t c[PII_KINDS] = {0};
    char *o = redact(p, s, "a@b.com c@d.org 8.8.4.4 (555) 123-4567", c);
    CHECK(c[PII_EMAIL] == 2 && c[PII_IP] == 1 && c[PII_PHONE] == 1 && c[PII_SECRET] == 0, "counts %zu %zu %zu %zu", c[0], c[1], c[2], c[3]);
    free(o);
    pii_scratch_free(s);
    pii_free(p);
}

static char *write_tmp(const char *name, const char *data, size_t n) {
    char *p = path_join(tmpdir, name);
    if (io_write_file(p, data, n) < 0) fatal_last();
    return p;
}

TEST(decontam_ngram_overlap) {
    const char *eval = "{\"question\": \"Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.\", \"answer\": \"72\"}\n"
                       "{\"nested\": {\"list\": [\"def has_close_elements(numbers, threshold): check if any two numbers are closer than threshold\"]}}\n";
    char *ep = write_tmp("eval.jsonl", eval, strlen(eval));
    const char *paths[1] = {ep};
    Decontam *d = decontam_load(paths, 1, 10);
    CHECK(d != NULL, "%s", last_error());
    if (!d) { free(ep); return; }
    DecontamScratch s = {0};
    const char *hit = "Some blog: NATALIA sold clips to 48 of her friends in April -- and then she sold more.";
    const char *hit2 = "code: def has_close_elements(numbers, threshold):\n  # check if any two numbers are closer";
    const char *miss = "Natalia sold clips to 48 of her friends in March, and then she sold half.";   // 9-gram at most
    CHECK(decontam_check(d, &s, hit, strlen(hit)) == 0, "10-gram with other case/punctuation must match");
    CHECK(decontam_check(d, &s, hit2, strlen(hit2)) == 0, "nested string fields must be indexed");
    CHECK(decontam_check(d, &s, miss, strlen(miss)) == -1, "9 shared words must not match");
    decontam_scratch_free(&s);
    decontam_free(d);
    // bad eval file: message names file and line
    char *bp = write_tmp("bad_eval.jsonl", "{\"a\": \"b\"}\n{oops\n", 17);
    const char *bpaths[1] = {bp};
    CHECK(decontam_load(bpaths, 1, 10) == NULL && strstr(last_error(), "bad_eval.jsonl:2"), "message: %s", last_error());
    // the real eval sets load, and a GSM8K test question is found in a document quoting it
    const char *g = "../shared/data/gsm8k/test.jsonl";
    if (io_exists(g)) {
        const char *gp[1] = {g};
        Decontam *gd = decontam_load(gp, 1, 10);
        CHECK(gd && decontam_ngrams(gd) > 50000, "GSM8K n-grams: %zu", gd ? decontam_ngrams(gd) : 0);
        char *buf; size_t n;
        if (gd && io_read_all(g, &buf, &n) == 0) {
            char *nl = strchr(buf, '\n'); *nl = 0;
            cJSON *o = cJSON_Parse(buf);
            const char *q = cJSON_GetObjectItem(o, "question")->valuestring;
            char doc[2048]; snprintf(doc, sizeof doc, "Homework help!\n%s\nThanks.", q);
            CHECK(decontam_check(gd, &s, doc, strlen(doc)) == 0, "quoted GSM8K question not found");
            cJSON_Delete(o); free(buf);
        }
        decontam_scratch_free(&s);
        decontam_free(gd);
    }
    free(ep); free(bp);
}

// ---- ingest -------------------------------------------------------------------------------

typedef struct { int n; char msgs[32][300]; } BadLog;
static void log_bad(void *ctx, const char *file, long line, const char *msg) {
    BadLog *b = ctx;
    if (b->n < 32) snprintf(b->msgs[b->n], 300, "%s:%ld: %s", file, line, msg);
    b->n++;
}

static int has_msg(const BadLog *b, const char *a, const char *c) {
    for (int i = 0; i < b->n && i < 32; i++) if (strstr(b->msgs[i], a) && strstr(b->msgs[i], c)) return 1;
    return 0;
}

static void write_zst(const char *path, const char *data, size_t n, size_t cut) {
    size_t cap = ZSTD_compressBound(n);
    char *z = xmalloc(cap);
    size_t zn = ZSTD_compress(z, cap, data, n, 3);
    if (ZSTD_isError(zn)) fatal("zstd");
    if (cut && cut < zn) zn = cut;
    if (io_write_file(path, z, zn) < 0) fatal_last();
    free(z);
}

TEST(ingest_folders_jsonl_zst_and_bad_input) {
    char *root = path_join(tmpdir, "in");
    char *repoA = path_join(root, "repoA"), *repoB = path_join(root, "repoB");
    io_mkdir_p(repoA); io_mkdir_p(repoB);
    char *p;
    p = path_join(repoA, "main.c"); io_write_file(p, "int main(void) { return 0; }\n", 29); free(p);
    p = path_join(repoA, "notes.md"); io_write_file(p, "# Notes\nSome text.\n", 19); free(p);
    p = path_join(repoA, "image.png"); io_write_file(p, "\x89PNG", 4); free(p);          // unknown: skipped
    p = path_join(repoB, "empty.py"); io_write_file(p, "", 0); free(p);                    // bad: empty
    p = path_join(root, "top.txt"); io_write_file(p, "top level\n", 10); free(p);
    const char *jl = "{\"text\": \"first\", \"id\": \"a1\", \"url\": \"http://x\"}\n"
                     "{\"text\": \"second\", \"domain\": \"math\"}\n"
                     "not json at all\n"
                     "{\"body\": \"no text field\"}\n"
                     "\n"
                     "[1, 2]\n"
                     "{\"text\": \"last, no newline\"}";
    char *jp = path_join(root, "docs.jsonl"); io_write_file(jp, jl, strlen(jl));
    char *zp = path_join(tmpdir, "docs.jsonl.zst"); write_zst(zp, jl, strlen(jl), 0);
    char *tp = path_join(tmpdir, "cut.jsonl.zst"); write_zst(tp, jl, strlen(jl), 40);
    const char *inputs[] = {root, zp, tp, "/nonexistent/deepc-input"};
    BadLog bl = {0};
    Ingest *g = ingest_open(inputs, 4, "text", 1 << 20, log_bad, &bl);
    Doc d;
    int ndocs = 0, code = 0, math = 0, firsts = 0, repo_c = -1;
    char ids[16][64];
    while (ingest_next(g, &d) == 1) {
        if (ndocs < 16) snprintf(ids[ndocs], 64, "%s", d.id);
        ndocs++;
        if (!strcmp(d.domain, "code")) { code++; repo_c = d.repo; CHECK(!strcmp(d.lang, "c"), "lang %s", d.lang); }
        if (!strcmp(d.domain, "math")) math++;
        if (!strcmp(d.text, "first")) {
            firsts++;
            CHECK(!strcmp(d.id, "a1"), "id %s", d.id);
            CHECK(cJSON_GetObjectItem(d.meta, "url") != NULL, "metadata kept");
            CHECK(cJSON_GetObjectItem(d.meta, "text") == NULL, "text removed from metadata");
        }
        doc_free(&d);
    }
    // folder: main.c, notes.md, top.txt (3); docs.jsonl: 3 good; .zst: 3 good; cut .zst: 0 or 1
    CHECK(ndocs >= 9 && ndocs <= 10, "documents: %d", ndocs);
    CHECK(code == 1 && math == 2 && firsts >= 2, "code %d math %d firsts %d", code, math, firsts);
    CHECK(repo_c >= 0 && strstr(ingest_repo_name(g, repo_c), "repoA"), "repository of main.c: %s", ingest_repo_name(g, repo_c));
    CHECK(has_msg(&bl, "empty.py", "empty"), "empty file not reported");
    CHECK(has_msg(&bl, "docs.jsonl:3", "malformed JSON"), "malformed line not reported with file:line");
    CHECK(has_msg(&bl, "docs.jsonl:4", "no string field \"text\""), "missing field not reported");
    CHECK(has_msg(&bl, "docs.jsonl:6", "not a JSON object"), "array line not reported");
    CHECK(has_msg(&bl, "cut.jsonl.zst", "zstd"), "truncated zstd not reported");
    CHECK(has_msg(&bl, "/nonexistent/deepc-input", "No such file"), "missing path not reported");
    CHECK(!has_msg(&bl, "image.png", ""), "unknown extensions inside folders are not documents");
    CHECK(bl.n == 2 * 3 + 1 + 1 + 1, "bad input count %d", bl.n);   // 3 per JSONL copy (not cut), empty, cut, missing
    for (int i = 0; i < bl.n && i < 32; i++) printf("  bad: %s\n", bl.msgs[i]);
    ingest_close(g);
    free(root); free(repoA); free(repoB); free(jp); free(zp); free(tp);
}

TEST(ingest_fuzz_never_crashes) {
    // random, truncated and mutated JSONL and zstd streams: errors are reported, nothing crashes
    Rng r; rng_seed_stream(&r, SEED, 11);
    const char *base = "{\"text\": \"hello \\u00e9 world\", \"id\": 3, \"meta\": {\"a\": [1, 2, {\"b\": null}]}}\n";
    size_t bn = strlen(base);
    char *p = path_join(tmpdir, "fuzz.jsonl");
    char *pz = path_join(tmpdir, "fuzz.jsonl.zst");
    int docs = 0, bads = 0;
    for (int it = 0; it < 300; it++) {
        size_t n = 0, cap = 8 * bn + 64;
        char *buf = xmalloc(cap);
        int lines = 1 + (int)rng_below(&r, 6);
        for (int l = 0; l < lines; l++) { memcpy(buf + n, base, bn); n += bn; }
        int muts = (int)rng_below(&r, 8);
        for (int m = 0; m < muts && n; m++) {
            size_t at = rng_below(&r, n);
            switch (rng_below(&r, 3)) {
            case 0: buf[at] = (char)rng_below(&r, 256); break;
            case 1: n = at; break;                                      // truncate
            default: memmove(buf + at + 1, buf + at, n - at); buf[at] = "{}[]\",:\\\n"[rng_below(&r, 9)]; n++; break;
            }
            if (n + 2 >= cap) break;
        }
        io_write_file(p, buf, n);
        write_zst(pz, buf, n, rng_below(&r, 2) ? 0 : 1 + rng_below(&r, n + 8));
        const char *in[2] = {p, pz};
        BadLog bl = {0};
        Ingest *g = ingest_open(in, 2, "text", 1 << 20, log_bad, &bl);
        Doc d;
        while (ingest_next(g, &d) == 1) { docs++; doc_free(&d); }
        bads += bl.n;
        ingest_close(g);
        free(buf);
    }
    CHECK(docs > 0 && bads > 0, "docs %d bad %d", docs, bads);
    free(p); free(pz);
}

// ---- the whole pipeline --------------------------------------------------------------------

static char *slurp(const char *dir, const char *name, size_t *n) {
    char *p = path_join(dir, name), *b = NULL;
    size_t m = 0;
    if (io_read_all(p, &b, &m) < 0) b = NULL;
    free(p);
    if (n) *n = m;
    return b;
}

static int count_lines(const char *s) { int c = 0; for (; s && *s; s++) c += *s == '\n'; return c; }

// A corpus: paragraphs of real English (tinyshakespeare) as JSONL, with planted exact duplicates,
// near-duplicates, low-quality documents, PII and a GSM8K test question.
static char *make_corpus(int *n_docs) {
    char *shake; size_t sn;
    if (io_read_all("../shared/data/tinyshakespeare/input.txt", &shake, &sn) < 0) return NULL;
    char *gsm; size_t gn;
    if (io_read_all("../shared/data/gsm8k/test.jsonl", &gsm, &gn) < 0) { free(shake); return NULL; }
    *strchr(gsm, '\n') = 0;
    cJSON *g = cJSON_Parse(gsm);
    char *question = xstrdup(cJSON_GetObjectItem(g, "question")->valuestring);
    cJSON_Delete(g); free(gsm);
    char *path = path_join(tmpdir, "corpus.jsonl");
    FILE *f = fopen(path, "wb");
    size_t pos = 0;
    int n = 0;
    for (int k = 0; k < 120; k++) {
        size_t start = pos;
        for (int l = 0; l < 30 && pos < sn; l++) { char *nl = memchr(shake + pos, '\n', sn - pos); pos = nl ? (size_t)(nl - shake) + 1 : sn; }
        char save = shake[pos]; shake[pos] = 0;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "text", shake + start);
        char id[32]; snprintf(id, sizeof id, "s%d", k);
        cJSON_AddStringToObject(o, "id", id);
        char *line = cJSON_PrintUnformatted(o);
        fprintf(f, "%s\n", line); n++;
        if (k % 10 == 0) { fprintf(f, "%s\n", line); n++; }                       // exact duplicate (12)
        if (k % 10 == 5) {                                                             // near-duplicate (12)
            char *t = xstrdup(shake + start);
            char *sp = strchr(t + strlen(t) / 2, ' ');
            if (sp) sp[1] = 'Z';
            cJSON *o2 = cJSON_CreateObject();
            cJSON_AddStringToObject(o2, "text", t);
            snprintf(id, sizeof id, "s%d-near", k);
            cJSON_AddStringToObject(o2, "id", id);
            char *l2 = cJSON_PrintUnformatted(o2);
            fprintf(f, "%s\n", l2); n++;
            free(l2); cJSON_Delete(o2); free(t);
        }
        free(line); cJSON_Delete(o);
        shake[pos] = save;
    }
    fprintf(f, "{\"text\": \"buy now buy now buy now\", \"id\": \"spam\"}\n"); n++;           // too few words
    fprintf(f, "{\"id\": \"broken\"\n");                                                         // bad line (not a doc)
    fprintf(f, "{\"text\": \"Homework help please. My friend wrote this to me and I do not know the answer. %s Please explain it to me with all the steps, and tell me why the answer is what it is. I have tried for a long time and I think that the answer has to be something with the numbers in the question. Thanks to all of you who read this and help me with my homework today.\", \"id\": \"leak\"}\n", question); n++;
    fclose(f);
    free(shake); free(question);
    *n_docs = n;
    return path;
}

static cJSON *report(const char *dir) {
    char *b = slurp(dir, "report.json", NULL);
    cJSON *r = b ? cJSON_Parse(b) : NULL;
    free(b);
    return r;
}

static double removed(cJSON *r, const char *rule) {
    cJSON *e = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "removed"), rule);
    return e ? cJSON_GetObjectItem(e, "docs")->valuedouble : 0;
}

TEST(pipeline_end_to_end) {
    if (!io_exists("../shared/data/tinyshakespeare/input.txt")) { printf("  (skipped: no ../shared/data)\n"); return; }
    int n_docs = 0;
    char *corpus = make_corpus(&n_docs);
    const char *in[1] = {corpus};
    const char *evals[1] = {"../shared/data/gsm8k/test.jsonl"};
    char *out1 = path_join(tmpdir, "out1"), *out2 = path_join(tmpdir, "out2");
    CurateOptions o;
    curate_default_options(&o);
    o.inputs = in; o.n_inputs = 1; o.evals = evals; o.n_evals = 1;
    o.quiet = 1; o.threads = 1; o.batch_docs = 37; o.seed = SEED;
    // verse has short lines: keep FineWeb's and C4's line rules out of this test
    o.filters[0].fineweb = 0; o.filters[0].c4 = 0;
    o.out_dir = out1;
    CHECK(curate_run(&o) == 0, "%s", last_error());
    o.out_dir = out2; o.threads = 2; o.batch_docs = 4096;
    CHECK(curate_run(&o) == 0, "%s", last_error());
    size_t n1, n2;
    char *d1 = slurp(out1, "data.jsonl", &n1), *d2 = slurp(out2, "data.jsonl", &n2);
    CHECK(d1 && d2 && n1 == n2 && !memcmp(d1, d2, n1), "output differs between 1 thread/batch 37 and 2 threads/batch 4096");
    char *rm = slurp(out1, "removed.jsonl", NULL);
    cJSON *r = report(out1);
    CHECK(r != NULL, "report.json missing");
    if (!r || !d1 || !rm) return;
    int kept = count_lines(d1), gone = count_lines(rm);
    CHECK(kept + gone == n_docs, "kept %d + removed %d != %d documents", kept, gone, n_docs);
    CHECK(removed(r, "exact_dup") == 12, "exact duplicates removed: %g", removed(r, "exact_dup"));
    CHECK(removed(r, "near_dup") == 12, "near duplicates removed: %g", removed(r, "near_dup"));
    CHECK(removed(r, "decontam") == 1 && strstr(rm, "\"id\":\"leak\""), "contaminated doc: %g", removed(r, "decontam"));
    CHECK(strstr(rm, "\"id\":\"spam\",") && strstr(rm, "\"curate_rule\":\"gopher_"), "spam doc not removed by a Gopher rule");
    CHECK(!strstr(d1, "-near\""), "a near-duplicate survived");
    CHECK(strstr(d1, "\"id\":\"s5\"") != NULL, "the first of a near-duplicate cluster must be kept");
    cJSON *bad = cJSON_GetObjectItem(r, "bad_input");
    CHECK(cJSON_GetObjectItem(bad, "count")->valuedouble == 1, "bad input count");
    // per-stage counts chain: docs_out of a stage is docs_in of the next
    cJSON *st = cJSON_GetObjectItem(r, "stages");
    for (int s = 0; s + 1 < cJSON_GetArraySize(st); s++) {
        double out = cJSON_GetObjectItem(cJSON_GetArrayItem(st, s), "docs_out")->valuedouble;
        double nin = cJSON_GetObjectItem(cJSON_GetArrayItem(st, s + 1), "docs_in")->valuedouble;
        CHECK(out == nin, "stage %d out %g != stage %d in %g", s, out, s + 1, nin);
    }
    double last_out = cJSON_GetObjectItem(cJSON_GetArrayItem(st, cJSON_GetArraySize(st) - 1), "docs_out")->valuedouble;
    CHECK(last_out == kept, "report says %g kept, file has %d", last_out, kept);
    char *md = slurp(out1, "report.md", NULL);
    CHECK(md && strstr(md, "exact_dup") && strstr(md, "corpus.jsonl:"), "report.md lacks rules or bad-input lines");
    // no temp or staging files left behind
    DIR *dir = opendir(out1);
    int leftovers = 0, files = 0;
    for (struct dirent *e; dir && (e = readdir(dir));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        files++;
        leftovers += e->d_name[0] == '.' || strstr(e->d_name, ".tmp") != NULL;
    }
    if (dir) closedir(dir);
    CHECK(files == 4 && leftovers == 0, "%d files, %d temp/staging leftovers in the output folder", files, leftovers);
    free(md); cJSON_Delete(r); free(d1); free(d2); free(rm);
    // --strict fails on the bad line, naming file and line, and writes no data file
    char *out3 = path_join(tmpdir, "out3");
    o.out_dir = out3; o.strict = 1;
    CHECK(curate_run(&o) < 0 && strstr(last_error(), "corpus.jsonl:"), "strict: %s", last_error());
    char *p3 = path_join(out3, "data.jsonl");
    CHECK(!io_exists(p3), "strict failure left a data file");
    free(p3); free(out3);
    free(out1); free(out2); free(corpus);
}

// A C-like line of random identifiers (passes the code rules).
static void code_line(FILE *f, Rng *r) {
    static const char *kw[] = {"int", "return", "if", "for", "static", "const", "char", "size_t", "while", "void"};
    fprintf(f, "    %s ", kw[rng_below(r, 10)]);
    for (int w = 0; w < 6; w++) {
        for (int k = 0; k < 6; k++) fputc('a' + (int)rng_below(r, 26), f);
        fputs(w < 5 ? (rng_below(r, 2) ? " = " : " + ") : ";\n", f);
    }
}

TEST(repository_level_near_dedup) {
    // repoA: 10 files; repoB: the same code regrouped into 5 files (each file differs from every
    // file of A, but the repository as a whole is the same); repoC: unrelated. B must go as a whole.
    Rng r; rng_seed_stream(&r, SEED, 20);
    char *root = path_join(tmpdir, "repos");
    char *ra = path_join(root, "repoA"), *rb = path_join(root, "repoB"), *rc = path_join(root, "repoC");
    io_mkdir_p(ra); io_mkdir_p(rb); io_mkdir_p(rc);
    char *chunks[10];
    for (int i = 0; i < 10; i++) {
        char *tp = path_join(tmpdir, "chunk.tmp");
        FILE *f = fopen(tp, "w");
        for (int l = 0; l < 60; l++) code_line(f, &r);
        fclose(f);
        size_t n; io_read_all(tp, &chunks[i], &n);
        free(tp);
        char name[32]; snprintf(name, sizeof name, "a%d.c", i);
        char *p = path_join(ra, name); io_write_file(p, chunks[i], n); free(p);
    }
    for (int i = 0; i < 5; i++) {
        char name[32]; snprintf(name, sizeof name, "b%d.c", i);
        char *p = path_join(rb, name);
        FILE *f = fopen(p, "w"); fputs(chunks[2 * i], f); fputs(chunks[2 * i + 1], f); fclose(f); free(p);
    }
    for (int i = 0; i < 4; i++) {
        char name[32]; snprintf(name, sizeof name, "c%d.c", i);
        char *p = path_join(rc, name);
        FILE *f = fopen(p, "w"); for (int l = 0; l < 60; l++) code_line(f, &r); fclose(f); free(p);
    }
    char *out = path_join(tmpdir, "repos_out");
    CurateOptions o; curate_default_options(&o);
    const char *in[1] = {root};
    o.inputs = in; o.n_inputs = 1; o.out_dir = out; o.quiet = 1; o.seed = SEED;
    CHECK(curate_run(&o) == 0, "%s", last_error());
    char *data = slurp(out, "data.jsonl", NULL), *rm = slurp(out, "removed.jsonl", NULL);
    CHECK(data && rm, "outputs missing");
    if (!data || !rm) return;
    int b_repo = 0, a_kept = 0, c_kept = 0;
    for (char *p = rm; (p = strstr(p, "near_dup_repo")); p++) b_repo++;
    for (char *p = data, *e; *p; p = e + 1) {   // count lines (each names its path twice: id and source)
        e = strchr(p, '\n'); if (!e) break;
        *e = 0;
        a_kept += strstr(p, "/repoA/a") != NULL;
        c_kept += strstr(p, "/repoC/c") != NULL;
        *e = '\n';
    }
    CHECK(b_repo == 5 && !strstr(data, "/repoB/"), "repoB files removed as a repository: %d of 5", b_repo);
    CHECK(a_kept == 10 && c_kept == 4, "kept: repoA %d of 10, repoC %d of 4", a_kept, c_kept);
    for (int i = 0; i < 10; i++) free(chunks[i]);
    free(data); free(rm); free(out); free(root); free(ra); free(rb); free(rc);
}

TEST(config_parser_fuzz) {
    const char *good = "{\"seed\": 7, \"stages\": {\"pii\": false}, \"near_dedup\": {\"bands\": 20, \"rows\": 5},"
                       " \"decontam\": {\"evals\": [\"a.jsonl\"], \"mode\": \"flag\"},"
                       " \"filters\": {\"code\": {\"code_max_line\": 2000}, \"web\": {\"c4_terminal_punct\": true}}}";
    char *p = path_join(tmpdir, "cfg.json");
    io_write_file(p, good, strlen(good));
    CurateOptions o; curate_default_options(&o);
    CHECK(curate_load_config(&o, p) == 0, "%s", last_error());
    CHECK(o.seed == 7 && !o.do_pii && o.bands == 20 && o.rows == 5 && o.decontam_flag_only && o.n_evals == 1, "values not applied");
    curate_options_free(&o);
    CHECK(curate_domain_filters(&o, "code")->code_max_line == 2000 && curate_domain_filters(&o, "web")->c4_terminal_punct == 1 &&
          curate_domain_filters(&o, "nope") == curate_domain_filters(&o, "text"), "per-domain filters");
    const char *bad[] = {"{\"sede\": 1}", "[1]", "{\"near_dedup\": {\"bands\": 0}}", "{\"filters\": {\"text\": {\"gq_min_wordz\": 1}}}",
                         "{\"decontam\": {\"mode\": \"maybe\"}}", "{\"seed\": \"x\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        io_write_file(p, bad[i], strlen(bad[i]));
        curate_default_options(&o);
        CHECK(curate_load_config(&o, p) < 0 && strstr(last_error(), "cfg.json"), "bad config %zu accepted or message lacks the file: %s", i, last_error());
        curate_options_free(&o);
    }
    // mutated configs: an error or success, never a crash
    Rng r; rng_seed_stream(&r, SEED, 30);
    size_t n = strlen(good);
    char *b = xmalloc(n + 1);
    for (int it = 0; it < 300; it++) {
        memcpy(b, good, n + 1);
        size_t len = n;
        for (int m = 0; m < 3; m++) { size_t at = rng_below(&r, len); if (rng_below(&r, 2)) b[at] = "{}[],:\"0a-"[rng_below(&r, 11)]; else len = at; }
        io_write_file(p, b, len);
        curate_default_options(&o);
        curate_load_config(&o, p);
        curate_options_free(&o);
    }
    free(b); free(p);
}

int main(void) {
    SEED = test_seed();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/deepc_test_curate_%d", (int)getpid());
    io_mkdir_p(tmpdir);
    RUN(normalize_rules);
    RUN(normalize_random_bytes_gives_valid_nfc);
    RUN(pii_patterns);
    RUN(decontam_ngram_overlap);
    RUN(ingest_folders_jsonl_zst_and_bad_input);
    RUN(ingest_fuzz_never_crashes);
    RUN(pipeline_end_to_end);
    RUN(repository_level_near_dedup);
    RUN(config_parser_fuzz);
    io_rm_rf(tmpdir);
    return test_summary();
}
