// test_st_fill.c — model/safetensors st_writer_save_fill (tensors produced piece by piece, as
// ZeRO-1 checkpoints stream AdamW moments to rank 0): on fresh random seeds, files with tensors
// of every dtype, some given whole and some filled in windows of random sizes, must have exactly
// the bytes st_writer_save writes from memory (the format itself is checked against the Python
// safetensors package by tests/ref/test_formats.py); the fill calls must cover each filled
// tensor once, in file order, and be the same sequence when no file is written (path NULL) and
// after a write error (what keeps collective fills in step on every rank); a fill that fails
// stops the write and leaves no file.
#include "test.h"
#include "base/check.h"
#include "base/io.h"
#include "base/rng.h"
#include "model/safetensors.h"
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];
static uint64_t seed;

enum { NT = 12, MAXCALLS = 200000 };   // most calls: 12 tensors of 1000 8-byte elements in 1-byte pieces

typedef struct {
    const unsigned char *src[NT];   // the tensors' bytes
    int calls, fail_at;             // fill calls so far; fail the call with this number (-1 never)
    int ent[MAXCALLS]; size_t off[MAXCALLS], n[MAXCALLS]; int had_dst[MAXCALLS];
} Fill;

static int fill(void *ctx, int entry, size_t off, void *dst, size_t n) {
    Fill *f = ctx;
    if (f->calls == f->fail_at) return fail("fill %d fails on purpose", f->calls);
    if (f->calls < MAXCALLS) { f->ent[f->calls] = entry; f->off[f->calls] = off; f->n[f->calls] = n; f->had_dst[f->calls] = dst != NULL; }
    f->calls++;
    if (dst) memcpy(dst, f->src[entry] + off, n);
    return 0;
}

static int same_calls(const Fill *a, const Fill *b) {
    if (a->calls != b->calls) return 0;
    for (int i = 0; i < a->calls && i < MAXCALLS; i++)
        if (a->ent[i] != b->ent[i] || a->off[i] != b->off[i] || a->n[i] != b->n[i]) return 0;
    return 1;
}

TEST(fill_writes_the_same_bytes) {
    Rng r; rng_seed_stream(&r, seed, 1);
    const StDtype dts[] = {ST_F32, ST_BF16, ST_F16, ST_F8_E4M3, ST_I32, ST_I64, ST_U8, ST_I8};
    char *pa = path_join(tmpdir, "whole.safetensors"), *pb = path_join(tmpdir, "filled.safetensors");
    for (int round = 0; round < 40; round++) {
        StWriter wa, wb;
        st_writer_init(&wa); st_writer_init(&wb);
        Fill *f = xcalloc(1, sizeof *f);
        f->fail_at = -1;
        unsigned char *bufs[NT];
        char names[NT][32];
        int nt = 1 + (int)rng_below(&r, NT), filled = 0;
        size_t total[NT];
        for (int i = 0; i < nt; i++) {
            StDtype d = dts[rng_below(&r, 8)];
            int ndim = (int)rng_below(&r, 4);
            int64_t shape[3]; size_t numel = 1;
            for (int k = 0; k < ndim; k++) { shape[k] = (int64_t)rng_below(&r, round % 2 ? 11 : 41); numel *= (size_t)shape[k]; }
            size_t nb = numel * st_dtype_size(d);
            bufs[i] = xmalloc(nb ? nb : 1);
            for (size_t k = 0; k < nb; k++) bufs[i][k] = (unsigned char)rng_below(&r, 256);
            total[i] = nb;
            snprintf(names[i], sizeof names[i], "t%d.%c", (int)rng_below(&r, 1000) * NT + i, 'a' + (int)rng_below(&r, 26));
            int by_fill = rng_below(&r, 3) != 0;
            filled += by_fill && nb > 0;
            f->src[i] = bufs[i];
            st_writer_add(&wa, names[i], d, ndim, shape, bufs[i]);
            st_writer_add(&wb, names[i], d, ndim, shape, by_fill ? NULL : bufs[i]);
        }
        size_t window = round % 2 ? 1 + (size_t)rng_below(&r, 64) : 64 + (size_t)rng_below(&r, 5000);   // odd rounds: small tensors
        int ra = st_writer_save(&wa, pa), rb = st_writer_save_fill(&wb, pb, fill, f, window);
        CHECK(ra == 0 && rb == 0, "round %d: save %d, save_fill %d: %s", round, ra, rb, last_error());
        char *ba = NULL, *bb = NULL; size_t na = 0, nb = 0;
        int same = ra == 0 && rb == 0 && io_read_all(pa, &ba, &na) == 0 && io_read_all(pb, &bb, &nb) == 0 && na == nb &&
                   !memcmp(ba, bb, na);
        CHECK(same, "round %d (window %zu bytes): the filled file (%zu bytes) differs from the whole one (%zu bytes)", round, window, nb, na);
        free(ba); free(bb);
        // every filled tensor once, in contiguous pieces of at most the window, each with a buffer
        size_t *seen = xcalloc((size_t)nt, sizeof(size_t));
        int order_ok = 1;
        for (int c = 0; c < f->calls && c < MAXCALLS; c++) {
            int e = f->ent[c];
            if (e < 0 || e >= nt || f->off[c] != seen[e] || f->n[c] == 0 || f->n[c] > window || !f->had_dst[c]) order_ok = 0;
            else seen[e] += f->n[c];
            if (c > 0 && f->ent[c] != f->ent[c - 1] && f->off[c] != 0) order_ok = 0;   // a tensor's pieces are consecutive
        }
        int covered = 1;
        for (int i = 0; i < nt; i++) if (seen[i] != 0 && seen[i] != total[i]) covered = 0;
        CHECK(order_ok && covered, "round %d: the fill calls do not cover each tensor once in order", round);
        free(seen);
        // no file (path NULL) and a file that cannot be opened: the same calls, no buffer
        Fill *g = xcalloc(1, sizeof *g), *h = xcalloc(1, sizeof *h);
        memcpy(g->src, f->src, sizeof f->src); memcpy(h->src, f->src, sizeof f->src);
        g->fail_at = h->fail_at = -1;
        char *bad = path_join(tmpdir, "no/such/dir/x.safetensors");
        int rg = st_writer_save_fill(&wb, NULL, fill, g, window), rh = st_writer_save_fill(&wb, bad, fill, h, window);
        CHECK(rg == 0 && same_calls(f, g), "round %d: path NULL: rc %d, %d fill calls (a file: %d), or another sequence", round, rg, g->calls, f->calls);
        int nodst = 1;
        for (int c = 0; c < g->calls && c < MAXCALLS; c++) nodst &= !g->had_dst[c];
        CHECK(nodst, "round %d: path NULL passed a buffer to fill", round);
        CHECK(rh < 0 && same_calls(f, h), "round %d: unwritable path: rc %d, %d fill calls (expected %d, the same sequence)", round, rh, h->calls, f->calls);
        CHECK(!io_exists(bad), "round %d: a file appeared at the unwritable path", round);
        free(bad);
        // a failing fill stops the write: no file, and the old one stays as it was
        if (filled > 0 && f->calls > 0) {
            Fill *k = xcalloc(1, sizeof *k);
            memcpy(k->src, f->src, sizeof f->src);
            k->fail_at = (int)rng_below(&r, (uint64_t)f->calls);
            char *pc = path_join(tmpdir, "failed.safetensors");
            int rk = st_writer_save_fill(&wb, pc, fill, k, window);
            CHECK(rk < 0 && !io_exists(pc) && k->calls == k->fail_at, "round %d: fill failing at call %d: rc %d, file %s, %d calls",
                  round, k->fail_at, rk, io_exists(pc) ? "written" : "absent", k->calls);
            free(pc); free(k);
        }
        free(g); free(h); free(f);
        for (int i = 0; i < nt; i++) free(bufs[i]);
        st_writer_free(&wa); st_writer_free(&wb);
    }
    free(pa); free(pb);
}

int main(void) {
    seed = test_seed();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/deepc_test_st_fill_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 2; }
    RUN(fill_writes_the_same_bytes);
    io_rm_rf(tmpdir);
    return test_summary();
}
