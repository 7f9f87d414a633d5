// test_shard_cli.c — bad shards through the command line (`deepc tokenize --check`):
// wrong magic, truncated, token id beyond the vocabulary, bad offsets: a message
// naming the file and byte offset, exit code 1, no crash; a good folder passes.
#include "test.h"
#include "test_cmd.h"
#include "base/check.h"
#include "base/io.h"
#include "base/rng.h"
#include "data/shard.h"
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

static char tmpdir[256];
static uint64_t seed;


static uint8_t *good;
static size_t good_n;

static void make_good(void) {
    Rng r; rng_seed_stream(&r, seed, 1);
    char *p = path_join(tmpdir, "good/train_0000.bin");
    char *dir = path_join(tmpdir, "good");
    io_mkdir_p(dir);
    ShardWriter *w;
    if (shard_writer_open(&w, p, 5000, 99, 1) < 0) fatal_last();
    int32_t ids[100];
    for (int d = 0; d < 30; d++) {
        int n = 1 + (int)rng_below(&r, 100);
        for (int i = 0; i < n; i++) ids[i] = (int32_t)rng_below(&r, 5000);
        if (shard_writer_add(w, ids, n, (float)d) < 0) fatal_last();
    }
    if (shard_writer_commit(w) < 0) fatal_last();
    char *buf;
    if (io_read_all(p, &buf, &good_n) < 0) fatal_last();
    good = (uint8_t *)buf;
    free(p); free(dir);
}

static void check_bad(const char *name, const uint8_t *b, size_t n, const char *needle) {
    char *p = path_join(tmpdir, name);
    if (io_write_file(p, b, n) < 0) fatal_last();
    char cmd[600], *out;
    snprintf(cmd, sizeof cmd, "./deepc tokenize --check %s", p);
    int rc = run(cmd, &out);
    CHECK(rc == 1, "%s: exit code %d (1 expected; -1 = killed by a signal)", name, rc);
    CHECK(strstr(out, p) && strstr(out, "byte offset") && strstr(out, needle), "%s: output lacks file/offset/\"%s\": %s",
          name, needle, out);
    free(out); free(p);
}

static void fix_checksum(uint8_t *b, size_t n) { uint64_t h = XXH64(b + 64, n - 64, 0); memcpy(b + 48, &h, 8); }

TEST(shard_cli_bad_shards) {
    if (!io_exists("deepc")) { printf("# ./deepc not built; skipped\n"); return; }
    make_good();
    char cmd[600], *out;
    snprintf(cmd, sizeof cmd, "./deepc tokenize --check %s/good", tmpdir);
    int rc = run(cmd, &out);
    CHECK(rc == 0 && strstr(out, "1 shard(s) valid"), "good folder: rc %d: %s", rc, out);
    free(out);
    uint8_t *b = xmalloc(good_n);
    memcpy(b, good, good_n); b[0] = 'X';
    check_bad("magic.bin", b, good_n, "wrong magic");
    check_bad("trunc.bin", good, good_n - 9, "truncated");
    check_bad("short.bin", good, 20, "truncated");
    memcpy(b, good, good_n);
    uint16_t v = 5000;
    memcpy(b + 64 + 2 * 3, &v, 2);
    fix_checksum(b, good_n);
    check_bad("vocab.bin", b, good_n, "outside the vocabulary");
    memcpy(b, good, good_n);
    uint64_t ntok; memcpy(&ntok, good + 16, 8);
    uint64_t off = 64 + ((ntok * 2 + 7) & ~7ull) + 8 * 5, big = ntok * 3;
    memcpy(b + off, &big, 8);
    fix_checksum(b, good_n);
    check_bad("offsets.bin", b, good_n, "out of range");
    free(b); free(good);
}

int main(void) {
    seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    printf("# seed %llu\n", (unsigned long long)seed);
    const char *td = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/deepc_test_shard_cli_%d", td && *td ? td : "/tmp", (int)getpid());
    if (io_mkdir_p(tmpdir) < 0) fatal_last();
    RUN(shard_cli_bad_shards);
    io_rm_rf(tmpdir);
    return test_summary();
}
