// test_base.c — base/: errors, files, JSON, RNG, options.
#include "test.h"
#include "base/check.h"
#include "base/hugemem.h"
#include "base/io.h"
#include "base/json.h"
#include "base/rng.h"
#include <unistd.h>

static char tmpdir[256];

TEST(atomic_write_replaces_whole_file) {
    char *p = path_join(tmpdir, "a.txt");
    CHECK(io_write_file(p, "old", 3) == 0, "%s", last_error());
    AtomicFile a;
    CHECK(io_atomic_open(&a, p) == 0, "%s", last_error());
    io_atomic_write(&a, "new-but-aborted", 15);
    io_atomic_abort(&a);
    char *buf; size_t n;
    CHECK(io_read_all(p, &buf, &n) == 0 && n == 3 && !memcmp(buf, "old", 3), "abort must keep the old file");
    free(buf);
    CHECK(io_write_file(p, "new", 3) == 0, "%s", last_error());
    CHECK(io_read_all(p, &buf, &n) == 0 && n == 3 && !memcmp(buf, "new", 3), "commit must replace");
    free(buf);
    free(p);
}

TEST(missing_file_message_names_path) {
    char *buf; size_t n;
    CHECK(io_read_all("/nonexistent/deepc/x", &buf, &n) < 0, "must fail");
    CHECK(strstr(last_error(), "/nonexistent/deepc/x") != NULL, "message: %s", last_error());
}

TEST(json_error_has_offset) {
    cJSON *j;
    const char *bad = "{\"a\": 1,\n \"b\": }";
    CHECK(json_parse(bad, strlen(bad), "cfg.json", &j) < 0, "must fail");
    CHECK(strstr(last_error(), "cfg.json") && strstr(last_error(), "line 2"), "message: %s", last_error());
    const char *good = "{\"a\": 3, \"s\": \"x\", \"f\": 2.5}";
    CHECK(json_parse(good, strlen(good), "g", &j) == 0, "%s", last_error());
    long long a; double f; const char *s;
    CHECK(json_int_req(j, "a", "g", &a) == 0 && a == 3, "a");
    CHECK(json_num_req(j, "f", "g", &f) == 0 && f == 2.5, "f");
    CHECK(json_str_req(j, "s", "g", &s) == 0 && !strcmp(s, "x"), "s");
    CHECK(json_int_req(j, "f", "g", &a) < 0 && strstr(last_error(), "\"f\""), "2.5 is not an integer: %s", last_error());
    CHECK(json_int_req(j, "zz", "g", &a) < 0 && strstr(last_error(), "missing"), "missing key: %s", last_error());
    cJSON_Delete(j);
}

TEST(rng_is_deterministic_and_uniformish) {
    Rng a, b;
    rng_seed(&a, 42); rng_seed(&b, 42);
    int same = 1;
    for (int i = 0; i < 1000; i++) same &= rng_u64(&a) == rng_u64(&b);
    CHECK(same, "same seed must give the same stream");
    double m = 0, v = 0; int n = 200000;
    for (int i = 0; i < n; i++) { double x = rng_normal(&a); m += x; v += x * x; }
    m /= n; v = v / n - m * m;
    CHECK(fabs(m) < 0.01 && fabs(v - 1) < 0.02, "normal mean %g var %g", m, v);
    int hist[10] = {0};
    for (int i = 0; i < 100000; i++) hist[rng_below(&a, 10)]++;
    for (int i = 0; i < 10; i++) CHECK(abs(hist[i] - 10000) < 500, "bucket %d has %d", i, hist[i]);
}

// Pieces are aligned, zeroed, disjoint and keep their contents; regions go back to the system when their
// last piece is freed; pieces larger than a quarter region get their own; malloc'd pointers pass through.
TEST(huge_alloc_pieces_and_regions) {
    size_t base_map = huge_mapped_bytes(), base_live = huge_live_pieces();
    enum { P = 300 };
    unsigned char *p[P];
    size_t sz[P];
    Rng r;
    rng_seed(&r, 7);
    for (int i = 0; i < P; i++) {
        sz[i] = 1 + rng_below(&r, i % 50 == 0 ? 40u << 20 : 600u << 10);   // a few large ones (up to 40 MiB)
        p[i] = huge_alloc(sz[i]);
        CHECK(((uintptr_t)p[i] & 63) == 0, "piece %d not 64-byte aligned", i);
        int zero = 1;
        for (size_t k = 0; k < sz[i]; k += 4093) zero &= p[i][k] == 0;
        CHECK(zero && p[i][sz[i] - 1] == 0, "piece %d not zeroed", i);
        memset(p[i], (int)(i & 255), sz[i]);
    }
    CHECK(huge_live_pieces() == base_live + P, "live pieces %zu, expected %zu", huge_live_pieces(), base_live + (size_t)P);
    CHECK(huge_mapped_bytes() > base_map, "nothing mapped");
    int intact = 1;                                   // no piece overwrote another
    for (int i = 0; i < P; i++)
        for (size_t k = 0; k < sz[i]; k += 997) intact &= p[i][k] == (unsigned char)(i & 255);
    CHECK(intact, "a piece was overwritten by another");
    for (int i = 0; i < P; i += 2) huge_free(p[i]);   // half, then the rest, in another order
    for (int i = P - 1; i >= 1; i -= 2) {
        int ok = p[i][0] == (unsigned char)(i & 255) && p[i][sz[i] - 1] == (unsigned char)(i & 255);
        CHECK(ok, "piece %d changed after other pieces were freed", i);
        huge_free(p[i]);
    }
    CHECK(huge_live_pieces() == base_live && huge_mapped_bytes() == base_map,
          "after freeing everything: %zu pieces, %zu bytes mapped (expected %zu, %zu)", huge_live_pieces(),
          huge_mapped_bytes(), base_live, base_map);
    void *m = xmalloc(100);                           // not ours: freed with free()
    huge_free(m);
    huge_free(NULL);
    int old = huge_set_enabled(0);                    // off: plain aligned heap memory
    void *q = huge_alloc(1 << 20);
    CHECK(q && ((uintptr_t)q & 63) == 0 && huge_mapped_bytes() == base_map, "disabled: still mapped a region");
    huge_free(q);
    huge_set_enabled(old);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/deepc_test_base_%d", (int)getpid());
    io_mkdir_p(tmpdir);
    RUN(atomic_write_replaces_whole_file);
    RUN(missing_file_message_names_path);
    RUN(json_error_has_offset);
    RUN(rng_is_deterministic_and_uniformish);
    RUN(huge_alloc_pieces_and_regions);
    io_rm_rf(tmpdir);
    return test_summary();
}
