// test_shard.c — shard writer/reader: round trip, atomicity, every bad-input message, fuzzing.
#include "test.h"
#include "base/check.h"
#include "base/io.h"
#include "base/rng.h"
#include "data/shard.h"
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

static char tmpdir[256];
static uint64_t seed;

static char *tmp_path(const char *name) { return path_join(tmpdir, name); }

// Random corpus: ndocs documents of random lengths (some empty), ids < vocab.
typedef struct { int32_t *ids; size_t *len; float *score; size_t ndocs, ntok; } Corpus;

static Corpus make_corpus(Rng *r, size_t ndocs, uint32_t vocab) {
    Corpus c = {0};
    c.ndocs = ndocs;
    c.len = xmalloc(ndocs * sizeof *c.len);
    c.score = xmalloc(ndocs * sizeof *c.score);
    for (size_t d = 0; d < ndocs; d++) {
        c.len[d] = rng_below(r, 10) == 0 ? 0 : 1 + rng_below(r, 300);
        c.score[d] = (float)(rng_uniform(r) * 10 - 5);
        c.ntok += c.len[d];
    }
    c.ids = xmalloc((c.ntok + 1) * sizeof *c.ids);
    for (size_t i = 0; i < c.ntok; i++) c.ids[i] = (int32_t)rng_below(r, vocab);
    return c;
}

static void free_corpus(Corpus *c) { free(c->ids); free(c->len); free(c->score); }

static int write_corpus(const char *path, const Corpus *c, uint32_t vocab, uint64_t fp, int scores) {
    ShardWriter *w;
    TRY(shard_writer_open(&w, path, vocab, fp, scores));
    size_t at = 0;
    for (size_t d = 0; d < c->ndocs; d++) {
        if (shard_writer_add(w, c->ids + at, c->len[d], c->score[d]) < 0) { shard_writer_abort(w); return -1; }
        at += c->len[d];
    }
    return shard_writer_commit(w);
}

static void roundtrip(uint32_t vocab, int scores) {
    Rng r; rng_seed_stream(&r, seed, vocab + scores);
    Corpus c = make_corpus(&r, 500, vocab);
    char *p = tmp_path("rt.bin");
    CHECK(write_corpus(p, &c, vocab, 0x1234, scores) == 0, "%s", last_error());
    Shard s;
    CHECK(shard_open(&s, p, vocab, 0x1234) == 0, "%s", last_error());
    CHECK(s.width == (vocab <= 65536 ? 2 : 4), "width %d for vocab %u", s.width, vocab);
    CHECK(s.n_docs == c.ndocs && s.n_tokens == c.ntok, "counts %llu %llu", (unsigned long long)s.n_docs,
          (unsigned long long)s.n_tokens);
    CHECK(s.has_scores == scores, "has_scores %d", s.has_scores);
    size_t at = 0, bad = 0;
    int32_t *buf = xmalloc(400 * sizeof *buf);
    for (size_t d = 0; d < c.ndocs && s.n_docs == c.ndocs; d++) {
        uint64_t st, n;
        shard_doc(&s, d, &st, &n);
        if (st != at || n != c.len[d]) { bad++; at += c.len[d]; continue; }
        shard_copy_tokens(&s, st, n, buf);
        for (size_t i = 0; i < n; i++) bad += buf[i] != c.ids[at + i] || shard_token(&s, st + i) != (uint32_t)c.ids[at + i];
        bad += shard_doc_score(&s, d) != (scores ? c.score[d] : 0.0f);
        at += n;
    }
    CHECK(bad == 0, "%zu mismatches after round trip (vocab %u)", bad, vocab);
    free(buf);
    shard_close(&s);
    free_corpus(&c);
    free(p);
}

TEST(shard_roundtrip_u16) { roundtrip(50000, 1); roundtrip(65536, 0); }
TEST(shard_roundtrip_u32) { roundtrip(129280, 1); roundtrip(65537, 0); }

TEST(shard_writer_atomic) {
    char *p = tmp_path("atomic.bin");
    unlink(p);
    ShardWriter *w;
    CHECK(shard_writer_open(&w, p, 100, 0, 0) == 0, "%s", last_error());
    int32_t ids[3] = {1, 2, 3};
    CHECK(shard_writer_add(w, ids, 3, 0) == 0, "%s", last_error());
    CHECK(!io_exists(p), "shard visible before commit");
    int32_t badid[2] = {5, 100};
    CHECK(shard_writer_add(w, badid, 2, 0) < 0, "id 100 accepted with vocab 100");
    CHECK(strstr(last_error(), "outside the vocabulary") != NULL, "message: %s", last_error());
    shard_writer_abort(w);
    CHECK(!io_exists(p), "shard exists after abort");
    // nothing left behind in the folder (temp file removed)
    size_t n = 0;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c atomic.bin", tmpdir);
    FILE *f = popen(cmd, "r");
    if (f) { if (fscanf(f, "%zu", &n) != 1) n = 0; pclose(f); }
    CHECK(n == 0, "%zu leftover files", n);
    // an empty shard is valid
    CHECK(shard_writer_open(&w, p, 100, 0, 0) == 0 && shard_writer_commit(w) == 0, "%s", last_error());
    Shard s;
    CHECK(shard_open(&s, p, 0, 0) == 0 && s.n_docs == 0 && s.n_tokens == 0, "%s", last_error());
    shard_close(&s);
    free(p);
}

// A good shard in memory to corrupt.
static uint8_t *good_bytes(size_t *size, uint32_t vocab, int scores) {
    Rng r; rng_seed_stream(&r, seed, 77);
    Corpus c = make_corpus(&r, 40, vocab);
    char *p = tmp_path("good.bin");
    if (write_corpus(p, &c, vocab, 0xabc, scores) < 0) fatal_last();
    char *buf;
    if (io_read_all(p, &buf, size) < 0) fatal_last();
    uint8_t *al = xmalloc_aligned(*size + 8);
    memcpy(al, buf, *size);
    free(buf); free(p); free_corpus(&c);
    return al;
}

static void fix_checksum(uint8_t *b, size_t size) {
    uint64_t h = XXH64(b + 64, size - 64, 0);
    memcpy(b + 48, &h, 8);
}

// Write bytes to a file, open it, expect failure whose message holds each needle.
static void expect_bad(const char *name, const uint8_t *b, size_t size, uint32_t ev, uint64_t efp, const char *n1,
                       const char *n2) {
    char *p = tmp_path(name);
    if (io_write_file(p, b, size) < 0) fatal_last();
    Shard s;
    int r = shard_open(&s, p, ev, efp);
    CHECK(r < 0, "%s: corrupt shard accepted", name);
    if (r == 0) shard_close(&s);
    else {
        CHECK(strstr(last_error(), p) != NULL, "%s: message does not name the file: %s", name, last_error());
        CHECK(strstr(last_error(), n1) != NULL, "%s: message lacks \"%s\": %s", name, n1, last_error());
        CHECK(!n2 || strstr(last_error(), n2) != NULL, "%s: message lacks \"%s\": %s", name, n2, last_error());
    }
    free(p);
}

TEST(shard_bad_magic) {
    size_t n; uint8_t *b = good_bytes(&n, 1000, 1);
    b[3] ^= 0x20;
    expect_bad("magic.bin", b, n, 0, 0, "wrong magic", "byte offset 0");
    free(b);
}

TEST(shard_truncated) {
    size_t n; uint8_t *b = good_bytes(&n, 1000, 1);
    expect_bad("trunc1.bin", b, n - 3, 0, 0, "truncated", "byte offset");
    expect_bad("trunc2.bin", b, 40, 0, 0, "truncated", "byte offset 40");
    expect_bad("trunc3.bin", b, 0, 0, 0, "truncated", "byte offset 0");
    free(b);
}

TEST(shard_bad_offsets) {
    size_t n; uint8_t *b = good_bytes(&n, 1000, 0);
    uint64_t ntok; memcpy(&ntok, b + 16, 8);
    uint64_t off_offsets = 64 + ((ntok * 2 + 7) & ~7ull);
    uint64_t big = ntok + 5;
    memcpy(b + off_offsets + 8 * 7, &big, 8);   // entry 7 beyond the token count
    fix_checksum(b, n);
    char want[64];
    snprintf(want, sizeof want, "byte offset %llu", (unsigned long long)(off_offsets + 8 * 7));
    expect_bad("offsets.bin", b, n, 0, 0, "out of range", want);
    free(b);
}

TEST(shard_token_beyond_vocab) {
    size_t n; uint8_t *b = good_bytes(&n, 1000, 0);
    uint16_t v = 1000;
    memcpy(b + 64 + 2 * 11, &v, 2);   // token 11
    fix_checksum(b, n);
    expect_bad("vocab.bin", b, n, 0, 0, "token 11 has id 1000", "byte offset 86");
    free(b);
}

TEST(shard_header_checks) {
    size_t n; uint8_t *b = good_bytes(&n, 1000, 1);
    uint8_t *c = xmalloc(n);
    memcpy(c, b, n); c[8] = 9;                    // version
    expect_bad("version.bin", c, n, 0, 0, "version 9", "byte offset 8");
    memcpy(c, b, n); c[12] = 3;                   // width
    expect_bad("width.bin", c, n, 0, 0, "width 3", "byte offset 12");
    expect_bad("expvocab.bin", b, n, 2000, 0, "vocabulary of 1000", "byte offset 32");
    expect_bad("expfp.bin", b, n, 0, 0xdef, "another tokenizer", "byte offset 40");
    memcpy(c, b, n); c[n - 1] ^= 1;               // payload bit flip caught by the checksum
    expect_bad("checksum.bin", c, n, 0, 0, "checksum", "byte offset 48");
    memcpy(c, b, n); c[36] = 6;                   // unknown flag
    expect_bad("flags.bin", c, n, 0, 0, "flag", "byte offset 36");
    uint8_t *d = xmalloc_aligned(n + 8);
    memcpy(d, b, n); memset(d + n, 0, 8);
    expect_bad("extra.bin", d, n + 8, 0, 0, "unexpected bytes", "byte offset");
    free(c); free(b); free(d);
}

// Random, truncated and mutated inputs: an error or a shard whose every field is in range; never a crash.
TEST(shard_fuzz) {
    Rng r; rng_seed_stream(&r, seed, 999);
    int accepted = 0, rejected = 0, bad_accept = 0;
    for (int pass = 0; pass < 2; pass++) {
    size_t n; uint8_t *good = good_bytes(&n, pass ? 1000 : 70000, pass);   // width 4, then width 2
    uint8_t *b = xmalloc_aligned(n + 64);
    for (int it = 0; it < 2000; it++) {
        size_t m = n;
        memcpy(b, good, n);
        int kind = (int)rng_below(&r, 4);
        if (kind == 0) m = rng_below(&r, n + 1);                               // truncate
        else if (kind == 1) {                                                  // flip bytes anywhere
            int k = 1 + (int)rng_below(&r, 8);
            for (int j = 0; j < k; j++) b[rng_below(&r, n)] = (uint8_t)rng_u32(&r);
        } else if (kind == 2) {                                                // header fields, checksum fixed
            int k = 1 + (int)rng_below(&r, 3);
            for (int j = 0; j < k; j++) b[rng_below(&r, 64)] = (uint8_t)rng_u32(&r);
            if (rng_below(&r, 2)) fix_checksum(b, n);
        } else {                                                               // payload, checksum fixed
            int k = 1 + (int)rng_below(&r, 4);
            for (int j = 0; j < k; j++) b[64 + rng_below(&r, n - 64)] = (uint8_t)rng_u32(&r);
            fix_checksum(b, n);
        }
        Shard s;
        if (shard_parse(&s, b, m, "fuzz", 0, 0) < 0) { rejected++; continue; }
        accepted++;
        // everything reachable through the API must be in range
        for (uint64_t d = 0; d < s.n_docs; d++) {
            uint64_t st, len;
            shard_doc(&s, d, &st, &len);
            if (st + len > s.n_tokens) bad_accept++;
        }
        for (uint64_t i = 0; i < s.n_tokens; i++) bad_accept += shard_token(&s, i) >= s.vocab_size;
    }
    for (int it = 0; it < 500; it++) {                                         // pure noise
        size_t m = rng_below(&r, n);
        for (size_t i = 0; i < m; i++) b[i] = (uint8_t)rng_u32(&r);
        if (m >= 8 && rng_below(&r, 2)) memcpy(b, SHARD_MAGIC, 8);
        Shard s;
        if (shard_parse(&s, b, m, "noise", 0, 0) == 0) accepted++; else rejected++;
    }
    free(b); free(good);
    }
    CHECK(bad_accept == 0, "%d out-of-range values in accepted shards", bad_accept);
    CHECK(rejected > 3500, "only %d of 5000 corrupt inputs rejected", rejected);
}

int main(void) {
    seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    printf("# seed %llu\n", (unsigned long long)seed);
    const char *td = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/deepc_test_shard_%d", td && *td ? td : "/tmp", (int)getpid());
    if (io_mkdir_p(tmpdir) < 0) fatal_last();
    RUN(shard_roundtrip_u16);
    RUN(shard_roundtrip_u32);
    RUN(shard_writer_atomic);
    RUN(shard_bad_magic);
    RUN(shard_truncated);
    RUN(shard_bad_offsets);
    RUN(shard_token_beyond_vocab);
    RUN(shard_header_checks);
    RUN(shard_fuzz);
    io_rm_rf(tmpdir);
    return test_summary();
}
