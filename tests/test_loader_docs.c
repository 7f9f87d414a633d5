// test_loader_docs.c — the document reader behind `deepc tokenize`: text files,
// folders, JSONL, zstd (multi-frame, streamed), long lines, errors with file:line,
// fuzzed compressed input; GSM8K read as Python's json module reads it.
#include "test.h"
#include "base/check.h"
#include "base/io.h"
#include "base/rng.h"
#include "data/docs.h"
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

static char tmpdir[256];
static uint64_t seed;

static char *tp(const char *name) { return path_join(tmpdir, name); }

static void put(const char *name, const char *data, size_t n) {
    char *p = tp(name);
    char *slash = strrchr(p, '/');
    *slash = 0; io_mkdir_p(p); *slash = '/';
    FILE *f = fopen(p, "wb");   // plain write: no fsync, the test writes many small files
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) fatal("cannot write %s", p);
    free(p);
}

// zstd-compress in `frames` independent frames.
static void put_zst(const char *name, const char *data, size_t n, int frames) {
    size_t cap = ZSTD_compressBound(n) + 64 * (size_t)frames;
    char *out = xmalloc(cap);
    size_t at = 0, per = n / (size_t)frames + 1;
    for (size_t s = 0; s < n; s += per) {
        size_t k = s + per > n ? n - s : per;
        size_t r = ZSTD_compress(out + at, cap - at, data + s, k, 3);
        if (ZSTD_isError(r)) fatal("zstd: %s", ZSTD_getErrorName(r));
        at += r;
    }
    put(name, out, at);
    free(out);
}

typedef struct { char *text[64]; size_t len[64]; float score[64]; int has[64]; int n; } Got;

static int read_all_docs(char **paths, int np, const char *field, const char *score, Got *g) {
    DocReader *r;
    memset(g, 0, sizeof *g);
    TRY(docs_open(&r, paths, np, field, score));
    Doc d;
    int rc;
    while ((rc = docs_next(r, &d)) == 1) {
        if (g->n < 64) {
            g->text[g->n] = xmalloc(d.len + 1);
            memcpy(g->text[g->n], d.text, d.len + 1);
            g->len[g->n] = d.len; g->score[g->n] = d.score; g->has[g->n] = d.has_score;
        }
        g->n++;
    }
    docs_close(r);
    return rc;
}

static void free_got(Got *g) { for (int i = 0; i < g->n && i < 64; i++) free(g->text[i]); }

TEST(docs_folder_kinds_and_order) {
    put("in/a.txt", "plain text\nwith two lines", strlen("plain text\nwith two lines"));
    const char *jl = "{\"text\": \"first\", \"score\": 0.5}\n\n   \n{\"text\": \"caf\\u00e9 \\ud83d\\ude00\", \"score\": 2}\n"
                     "{\"text\": \"no score\", \"other\": 1}";   // blank lines, escapes, no final newline
    put("in/sub/b.jsonl", jl, strlen(jl));
    const char *zj = "{\"text\": \"zst one\"}\n{\"text\": \"zst two\", \"score\": -1.5}\n";
    // nested fields by dotted path
    put("nest/n.jsonl", "{\"doc\": {\"body\": \"nested\"}, \"meta\": {\"q\": 0.25}}\n",
        strlen("{\"doc\": {\"body\": \"nested\"}, \"meta\": {\"q\": 0.25}}\n"));
    char *np = tp("nest/n.jsonl");
    Got gn;
    CHECK(read_all_docs(&np, 1, "doc.body", "meta.q", &gn) == 0 && gn.n == 1 && !strcmp(gn.text[0], "nested") &&
          gn.score[0] == 0.25f, "dotted fields: %s", last_error());
    free_got(&gn); free(np);
    put_zst("in/c.jsonl.zst", zj, strlen(zj), 3);
    const char *zt = "compressed plain text";
    put_zst("in/d.txt.zst", zt, strlen(zt), 1);
    put("in/.hidden.txt", "hidden", 6);
    put("in/e.bin", "bin\0ary", 7);
    char *p = tp("in");
    Got g;
    CHECK(read_all_docs(&p, 1, NULL, "score", &g) == 0, "%s", last_error());
    // order: files of a folder sorted, then its sub-folders
    const char *want[] = {"plain text\nwith two lines", "zst one", "zst two", "compressed plain text", "first",
                          "caf\xc3\xa9 \xf0\x9f\x98\x80", "no score"};
    float ws[] = {0, 0, -1.5f, 0, 0.5f, 2, 0};
    int wh[] = {0, 0, 1, 0, 1, 1, 0};
    CHECK(g.n == 7, "%d documents, expected 7", g.n);
    for (int i = 0; i < 7 && i < g.n; i++) {
        CHECK(g.len[i] == strlen(want[i]) && !memcmp(g.text[i], want[i], g.len[i]), "doc %d: \"%s\"", i, g.text[i]);
        CHECK(g.score[i] == ws[i] && g.has[i] == wh[i], "doc %d: score %g (%d)", i, g.score[i], g.has[i]);
    }
    free_got(&g);
    free(p);
}

TEST(docs_long_lines_and_fields) {
    // one record longer than the 1 MiB line buffer, across zstd chunk boundaries
    size_t n = 3 << 20;
    char *big = xmalloc(n + 64);
    strcpy(big, "{\"q\": \"");
    size_t at = strlen(big);
    Rng r; rng_seed_stream(&r, seed, 1);
    for (size_t i = 0; i < n; i++) big[at + i] = (char)('a' + rng_below(&r, 26));
    at += n;
    strcpy(big + at, "\", \"a\": \"end\"}\n{\"q\": \"x\", \"a\": \"y\"}\n");
    put_zst("long/big.jsonl.zst", big, strlen(big), 2);
    put("long/big2.jsonl", big, strlen(big));
    char *p = tp("long");
    Got g;
    CHECK(read_all_docs(&p, 1, "q,a", NULL, &g) == 0, "%s", last_error());
    CHECK(g.n == 4, "%d documents", g.n);
    for (int i = 0; i < g.n && i < 4; i += 2) {
        CHECK(g.len[i] == n + 4 && !memcmp(g.text[i], big + 7, n) && !strcmp(g.text[i] + n, "\nend"), "long record %d wrong", i);
        CHECK(!strcmp(g.text[i + 1], "x\ny"), "short record: %s", g.text[i + 1]);
    }
    free_got(&g);
    free(big);
    free(p);
}

TEST(docs_errors_name_file_and_line) {
    put("err/bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": broken}\n", strlen("{\"text\": \"ok\"}\n{\"text\": broken}\n"));
    char *p = tp("err/bad.jsonl");
    Got g;
    CHECK(read_all_docs(&p, 1, NULL, NULL, &g) < 0 && strstr(last_error(), "bad.jsonl:2") && strstr(last_error(), "JSON"),
          "bad JSON: %s", last_error());
    free_got(&g); free(p);
    put("err/nofield.jsonl", "{\"body\": \"ok\"}\n", strlen("{\"body\": \"ok\"}\n"));
    p = tp("err/nofield.jsonl");
    CHECK(read_all_docs(&p, 1, NULL, NULL, &g) < 0 && strstr(last_error(), "nofield.jsonl:1") && strstr(last_error(), "\"text\""),
          "missing field: %s", last_error());
    free_got(&g); free(p);
    put("err/score.jsonl", "{\"text\": \"ok\", \"s\": \"high\"}\n", strlen("{\"text\": \"ok\", \"s\": \"high\"}\n"));
    p = tp("err/score.jsonl");
    CHECK(read_all_docs(&p, 1, NULL, "s", &g) < 0 && strstr(last_error(), "score.jsonl:1"), "bad score: %s", last_error());
    free_got(&g); free(p);
    put("err/old.jsonl.gz", "\x1f\x8b", 2);
    p = tp("err/old.jsonl.gz");
    CHECK(read_all_docs(&p, 1, NULL, NULL, &g) < 0 && strstr(last_error(), "gz compression is not supported"),
          "gzip: %s", last_error());
    free_got(&g); free(p);
    p = tp("err/missing.jsonl");
    CHECK(read_all_docs(&p, 1, NULL, NULL, &g) < 0 && strstr(last_error(), "missing.jsonl"), "missing file: %s", last_error());
    free_got(&g); free(p);
    // truncated zstd
    const char *zj = "{\"text\": \"a fairly long line of text to compress, repeated, repeated, repeated\"}\n";
    size_t cap = ZSTD_compressBound(strlen(zj));
    char *z = xmalloc(cap);
    size_t zn = ZSTD_compress(z, cap, zj, strlen(zj), 3);
    put("err/trunc.jsonl.zst", z, zn - 5);
    p = tp("err/trunc.jsonl.zst");
    CHECK(read_all_docs(&p, 1, NULL, NULL, &g) < 0 && strstr(last_error(), "trunc.jsonl.zst"), "truncated zstd: %s", last_error());
    free_got(&g); free(p);
    // fuzz: mutated compressed input gives documents or an error, never a crash
    Rng r; rng_seed_stream(&r, seed, 2);
    int errors = 0;
    for (int it = 0; it < 120; it++) {
        char *m = xmalloc(zn);
        memcpy(m, z, zn);
        size_t len = rng_below(&r, 3) ? zn : rng_below(&r, zn + 1);
        for (int k = 0; k < 1 + (int)rng_below(&r, 4); k++) m[rng_below(&r, zn)] = (char)rng_u32(&r);
        put("err/fuzz.jsonl.zst", m, len);
        p = tp("err/fuzz.jsonl.zst");
        errors += read_all_docs(&p, 1, NULL, NULL, &g) < 0;
        free_got(&g); free(p); free(m);
    }
    CHECK(errors > 60, "only %d of 120 corrupt zstd inputs reported", errors);
    free(z);
}

// Mutated JSONL (quotes, braces, newlines, NUL, high bytes): documents or an error, never a crash.
TEST(docs_jsonl_fuzz) {
    const char *base = "{\"text\": \"alpha \\u00e9 beta\", \"score\": 1.5}\n{\"text\": \"gamma\\ndelta\"}\n"
                       "{\"text\": \"\\ud83d\\ude00 eps\", \"score\": -2}\n";
    size_t n = strlen(base);
    const char alphabet[] = "{}[]\":,\\\n 0123456789aeu\x00\xc3\xff";
    Rng r; rng_seed_stream(&r, seed, 3);
    char *m = xmalloc(n + 64);
    int ok = 0, err = 0, bad = 0;
    for (int it = 0; it < 150; it++) {
        size_t len = n;
        memcpy(m, base, n);
        int k = 1 + (int)rng_below(&r, 5);
        for (int j = 0; j < k; j++) m[rng_below(&r, n)] = alphabet[rng_below(&r, sizeof alphabet - 1)];
        if (rng_below(&r, 4) == 0) len = rng_below(&r, n + 1);
        put("fuzz/f.jsonl", m, len);
        char *p = tp("fuzz/f.jsonl");
        DocReader *rd;
        if (docs_open(&rd, &p, 1, NULL, "score") < 0) { free(p); bad++; continue; }
        Doc d;
        int rc, docs = 0;
        while ((rc = docs_next(rd, &d)) == 1) { docs++; bad += strlen(d.text) > d.len; }
        if (rc == 0) ok++; else err++;
        bad += docs > 3;
        docs_close(rd);
        free(p);
    }
    printf("# jsonl fuzz: %d read, %d rejected\n", ok, err);
    CHECK(bad == 0, "%d impossible results", bad);
    CHECK(err > 30, "only %d of 150 mutated files rejected", err);
    free(m);
}

// GSM8K as Python's json module reads it: same count and same total UTF-8 bytes.
TEST(docs_gsm8k_matches_python) {
    const char *f = "../shared/data/gsm8k/test.jsonl";
    if (!io_exists(f)) { printf("# %s not found; skipped\n", f); return; }
    FILE *py = popen("python3 -c \"import json,sys\n"
                     "n=b=0\n"
                     "for l in open('../shared/data/gsm8k/test.jsonl', encoding='utf-8'):\n"
                     "  if l.strip():\n"
                     "    o=json.loads(l); n+=1; b+=len((o['question']+'\\n'+o['answer']).encode('utf-8'))\n"
                     "print(n, b)\"", "r");
    unsigned long long pn = 0, pb = 0;
    int ok = py && fscanf(py, "%llu %llu", &pn, &pb) == 2;
    if (py) pclose(py);
    if (!ok) { printf("# python3 unavailable; skipped\n"); return; }
    DocReader *r;
    char *p = xstrdup(f);
    CHECK(docs_open(&r, &p, 1, "question,answer", NULL) == 0, "%s", last_error());
    Doc d;
    unsigned long long n = 0, b = 0;
    int rc;
    while ((rc = docs_next(r, &d)) == 1) { n++; b += d.len; }
    CHECK(rc == 0, "%s", last_error());
    CHECK(docs_bytes_done(r) == docs_total_bytes(r), "progress %llu of %llu bytes", (unsigned long long)docs_bytes_done(r),
          (unsigned long long)docs_total_bytes(r));
    docs_close(r);
    free(p);
    CHECK(n == pn && b == pb, "deepc read %llu documents / %llu bytes, Python %llu / %llu", n, b, pn, pb);
}

int main(void) {
    seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    printf("# seed %llu\n", (unsigned long long)seed);
    const char *td = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/deepc_test_docs_%d", td && *td ? td : "/tmp", (int)getpid());
    if (io_mkdir_p(tmpdir) < 0) fatal_last();
    RUN(docs_folder_kinds_and_order);
    RUN(docs_long_lines_and_fields);
    RUN(docs_errors_name_file_and_line);
    RUN(docs_jsonl_fuzz);
    RUN(docs_gsm8k_matches_python);
    io_rm_rf(tmpdir);
    return test_summary();
}
