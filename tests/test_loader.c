// test_loader.c — packing, shuffling, rank slices, exact resume, validation of the shard loader.
//
// Synthetic shards: every token id is unique (width-4 shards), so each emitted
// token can be traced back to its (document, offset). Document d is
// [BOS, body...] with BOS = 1 and body ids that encode the position:
// id = 3 + global token index (so the last body token plays EOS).
#include "test.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include "base/progress.h"
#include "base/rng.h"
#include "data/loader.h"
#include "data/shard.h"
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#define BOS 1

static char tmpdir[256];
static uint64_t seed;

typedef struct {
    size_t ndocs, ntok;
    size_t *start, *len;     // [ndocs] global token positions
    float *score;            // [ndocs]
    uint32_t vocab;
    int32_t *tok;            // [ntok]
} Data;

// Build a folder of `nshards` train shards with ndocs documents; lengths in [minlen, maxlen].
static Data make_data(const char *name, Rng *r, size_t ndocs, int nshards, int minlen, int maxlen, int scores) {
    Data D = {0};
    D.ndocs = ndocs;
    D.start = xmalloc(ndocs * sizeof *D.start);
    D.len = xmalloc(ndocs * sizeof *D.len);
    D.score = xmalloc(ndocs * sizeof *D.score);
    for (size_t d = 0; d < ndocs; d++) {
        D.start[d] = D.ntok;
        D.len[d] = (size_t)minlen + rng_below(r, (uint64_t)(maxlen - minlen + 1));
        D.score[d] = (float)rng_uniform(r);
        D.ntok += D.len[d];
    }
    D.vocab = (uint32_t)(D.ntok + 3 + 65536);   // force 4-byte tokens
    D.tok = xmalloc(D.ntok * sizeof *D.tok);
    for (size_t d = 0; d < ndocs; d++)
        for (size_t i = 0; i < D.len[d]; i++) {
            size_t g = D.start[d] + i;
            D.tok[g] = i == 0 ? BOS : (int32_t)(3 + g);
        }
    char *dir = path_join(tmpdir, name);
    io_rm_rf(dir);
    if (io_mkdir_p(dir) < 0) fatal_last();
    size_t per = (ndocs + nshards - 1) / nshards;
    for (int s = 0; s < nshards; s++) {
        char fn[64];
        snprintf(fn, sizeof fn, "train_%04d.bin", s);
        char *p = path_join(dir, fn);
        ShardWriter *w;
        if (shard_writer_open(&w, p, D.vocab, 42, scores) < 0) fatal_last();
        for (size_t d = s * per; d < (s + 1) * per && d < ndocs; d++)
            if (shard_writer_add(w, D.tok + D.start[d], D.len[d], D.score[d]) < 0) fatal_last();
        if (shard_writer_commit(w) < 0) fatal_last();
        free(p);
    }
    free(dir);
    return D;
}

static void free_data(Data *D) { free(D->start); free(D->len); free(D->score); free(D->tok); }

// Document of a body token id (binary search on starts).
static size_t doc_of(const Data *D, int32_t id) {
    size_t g = (size_t)(id - 3), lo = 0, hi = D->ndocs;
    while (hi - lo > 1) { size_t mid = (lo + hi) / 2; if (D->start[mid] <= g) lo = mid; else hi = mid; }
    return lo;
}

static Loader *open_loader(const char *name, uint64_t sd, int rank, int world, int buf, const Curriculum *cur) {
    LoaderConfig c;
    char *dir = path_join(tmpdir, name);
    loader_config_default(&c, dir);
    c.seed = sd; c.rank = rank; c.world = world; c.buffer_docs = buf;
    if (cur) c.curriculum = *cur;
    Loader *L = NULL;
    if (loader_open(&L, &c) < 0) { printf("  loader_open: %s\n", last_error()); L = NULL; }
    free(dir);
    return L;
}

// Every row starts at BOS; targets are the next inputs; pieces are contiguous
// runs of one document; per document the pieces continue exactly where the
// previous one stopped (nothing lost, nothing repeated) while in the first epoch.
TEST(loader_packing_covers_documents) {
    Rng r; rng_seed_stream(&r, seed, 1);
    Data D = make_data("pack", &r, 3000, 3, 2, 700, 0);
    int B = 4, T = 256;
    Loader *L = open_loader("pack", seed, 0, 1, 16, NULL);
    CHECK(L != NULL, "open");
    if (!L) { free_data(&D); return; }
    CHECK(loader_num_docs(L) == D.ndocs && loader_num_tokens(L) == D.ntok, "slice %llu docs",
          (unsigned long long)loader_num_docs(L));
    int32_t *in = xmalloc(sizeof(int32_t) * B * T), *tg = xmalloc(sizeof(int32_t) * B * T), *ps = xmalloc(sizeof(int32_t) * B * T);
    size_t *next = xcalloc(D.ndocs, sizeof *next);   // next expected offset per document
    int bad_bos = 0, bad_tgt = 0, bad_run = 0, bad_order = 0, bad_pos = 0, pads = 0;
    size_t steps = D.ntok * 7 / 10 / (size_t)(B * T);
    for (size_t s = 0; s < steps; s++) {
        if (loader_next_batch(L, (int64_t)s, B, T, in, tg, ps) < 0) { CHECK(0, "%s", last_error()); break; }
        for (int b = 0; b < B; b++) {
            int32_t *x = in + b * T, *y = tg + b * T, *p = ps + b * T;
            bad_bos += x[0] != BOS || p[0] != 0;
            for (int j = 0; j + 1 < T; j++) bad_tgt += y[j] != x[j + 1];
            for (int j = 0; j < T; j++) pads += y[j] == -1;
            // walk pieces: a piece starts where pos == 0
            int j = 0;
            while (j < T) {
                int k = j + 1;
                while (k < T && p[k] != 0) k++;
                for (int i = j; i < k; i++) bad_pos += p[i] != i - j;
                // piece x[j..k) (+ maybe its continuation into the target of the last input)
                int len = k - j;
                int32_t first_body = -1; int body_at = -1;
                for (int i = j; i < k; i++) if (x[i] > 2) { first_body = x[i]; body_at = i; break; }
                if (first_body < 0 && k == T && len == 1 && y[T - 1] > 2) {
                    // a lone BOS at the row end (a document cropped after its BOS, or a
                    // continuation's synthetic BOS): the target names the document and is
                    // consumed with this row
                    size_t d = doc_of(&D, y[T - 1]);
                    size_t o = (size_t)(y[T - 1] - 3) - D.start[d];
                    if (o != next[d] && !(o == 1 && next[d] == 0)) bad_order++;
                    next[d] = o + 1;
                } else if (first_body < 0) bad_run++;   // every other piece holds a body token
                if (first_body >= 0) {
                    size_t d = doc_of(&D, first_body);
                    size_t off = (size_t)(first_body - 3) - D.start[d] - (size_t)(body_at - j);   // offset of x[j]
                    int cont = x[j] == BOS && off != 0;   // a continuation piece starts with a synthetic BOS
                    if (cont) off += 1;
                    // (a document cropped right after its BOS at a row end continues at offset 1)
                    if (off != next[d] && !(cont && off == 1 && next[d] == 0)) bad_order++;
                    for (int i = j + cont; i < k; i++) bad_run += x[i] != D.tok[D.start[d] + off + (size_t)(i - j - cont)];
                    size_t used = (size_t)(len - cont);
                    // when the row ends inside this piece, row[T] (the last target) is its next token
                    if (k == T && off + used < D.len[d] && y[T - 1] == D.tok[D.start[d] + off + used]) used++;
                    next[d] = off + used;
                }
                j = k;
            }
        }
    }
    CHECK(bad_bos == 0, "%d rows not starting at BOS", bad_bos);
    CHECK(bad_tgt == 0, "%d targets differ from the next input", bad_tgt);
    CHECK(bad_pos == 0, "%d wrong in-document positions", bad_pos);
    CHECK(bad_run == 0, "%d tokens not matching their document", bad_run);
    CHECK(bad_order == 0, "%d pieces not continuing where their document stopped", bad_order);
    CHECK(pads == 0, "%d padded targets in crop mode", pads);
    CHECK(loader_tokens(L) == steps * (size_t)(B * T), "token count %llu", (unsigned long long)loader_tokens(L));
    free(next); free(in); free(tg); free(ps);
    loader_close(L);
    free_data(&D);
}

// Epochs: after more than one pass every document was seen; epoch counter advances once per pass.
TEST(loader_epochs_and_shuffle) {
    Rng r; rng_seed_stream(&r, seed, 2);
    Data D = make_data("epoch", &r, 200, 2, 2, 60, 0);
    int B = 2, T = 64;
    Loader *L = open_loader("epoch", seed, 0, 1, 8, NULL), *L2 = open_loader("epoch", seed + 1, 0, 1, 8, NULL);
    CHECK(L && L2, "open");
    if (!L || !L2) { free_data(&D); return; }
    int32_t *in = xmalloc(sizeof(int32_t) * B * T), *tg = xmalloc(sizeof(int32_t) * B * T);
    int32_t *in2 = xmalloc(sizeof(int32_t) * B * T), *tg2 = xmalloc(sizeof(int32_t) * B * T);
    char *seen = xcalloc(D.ndocs, 1);
    size_t steps = 0, differ = 0;
    while (loader_epoch(L) < 3 && steps < 100000) {
        loader_next_batch(L, (int64_t)steps, B, T, in, tg, NULL);
        loader_next_batch(L2, (int64_t)steps, B, T, in2, tg2, NULL);
        differ += memcmp(in, in2, sizeof(int32_t) * B * T) != 0;
        for (int i = 0; i < B * T; i++) if (in[i] > 2) seen[doc_of(&D, in[i])] = 1;
        steps++;
    }
    size_t nseen = 0;
    for (size_t d = 0; d < D.ndocs; d++) nseen += seen[d] || D.len[d] <= 2;
    CHECK(nseen == D.ndocs, "%zu of %zu documents seen in 3 epochs", nseen, D.ndocs);
    double expect_steps = 3.0 * (double)D.ntok / (B * T);
    CHECK(steps > 0.9 * expect_steps && steps < 1.1 * expect_steps + 2, "3 epochs took %zu steps, expected about %.0f",
          steps, expect_steps);
    CHECK(differ > steps / 2, "seeds %llu and %llu gave the same batches", (unsigned long long)seed,
          (unsigned long long)seed + 1);
    free(seen); free(in); free(tg); free(in2); free(tg2);
    loader_close(L); loader_close(L2);
    free_data(&D);
}

// Ranks own disjoint documents whose union is everything.
TEST(loader_rank_slices_disjoint) {
    Rng r; rng_seed_stream(&r, seed, 3);
    Data D = make_data("ranks", &r, 301, 2, 3, 40, 0);
    int world = 3, B = 2, T = 32;
    int *owner = xmalloc(D.ndocs * sizeof *owner);
    for (size_t d = 0; d < D.ndocs; d++) owner[d] = -1;
    uint64_t sum_docs = 0, sum_tok = 0;
    int clash = 0;
    int32_t *in = xmalloc(sizeof(int32_t) * B * T), *tg = xmalloc(sizeof(int32_t) * B * T);
    for (int rk = 0; rk < world; rk++) {
        Loader *L = open_loader("ranks", seed, rk, world, 8, NULL);
        CHECK(L != NULL, "open rank %d", rk);
        if (!L) continue;
        sum_docs += loader_num_docs(L);
        sum_tok += loader_num_tokens(L);
        for (int s = 0; s < 200; s++) {
            loader_next_batch(L, s, B, T, in, tg, NULL);
            for (int i = 0; i < B * T; i++) {
                if (in[i] <= 2) continue;
                size_t d = doc_of(&D, in[i]);
                if (owner[d] >= 0 && owner[d] != rk) clash++;
                owner[d] = rk;
            }
        }
        loader_close(L);
    }
    CHECK(clash == 0, "%d tokens of a document seen by two ranks", clash);
    CHECK(sum_docs == D.ndocs && sum_tok == D.ntok, "slices cover %llu docs / %llu tokens of %zu / %zu",
          (unsigned long long)sum_docs, (unsigned long long)sum_tok, D.ndocs, D.ntok);
    Loader *L = open_loader("ranks", seed, 3, 3, 8, NULL);
    CHECK(L == NULL && strstr(last_error(), "rank 3 of world 3"), "bad rank accepted: %s", last_error());
    free(owner); free(in); free(tg);
    free_data(&D);
}

// Run n batches with shapes from the curriculum; write them to out.
static void run_batches(Loader *L, int64_t from, int64_t to, const Curriculum *c, int Tfull, int Bfull, int32_t *out,
                        size_t *at) {
    int32_t *in = xmalloc(sizeof(int32_t) * Bfull * Tfull), *tg = xmalloc(sizeof(int32_t) * Bfull * Tfull);
    for (int64_t s = from; s < to; s++) {
        int T = c ? curriculum_seq_len(c, s, Tfull) : Tfull, B = c && c->B0 ? curriculum_batch_size(c, s) : Bfull;
        if (loader_next_batch(L, s, B, T, in, tg, NULL) < 0) fatal_last();
        memcpy(out + *at, in, sizeof(int32_t) * B * T); *at += (size_t)(B * T);
        memcpy(out + *at, tg, sizeof(int32_t) * B * T); *at += (size_t)(B * T);
    }
    free(in); free(tg);
}

// N batches straight == k batches, save cursor (as text), reopen, restore, N-k batches.
static void resume_case(const char *name, const Curriculum *cur, int buf, int N, int k, int world) {
    int T = 48, B = 3;
    size_t cap = (size_t)N * B * T * 2 + 16;
    int32_t *a = xmalloc(cap * sizeof *a), *b = xmalloc(cap * sizeof *b);
    for (int rk = 0; rk < world; rk++) {
        size_t na = 0, nb = 0;
        Loader *L = open_loader(name, seed, rk, world, buf, cur);
        CHECK(L != NULL, "open");
        if (!L) break;
        run_batches(L, 0, N, cur, T, B, a, &na);
        uint64_t ep = loader_epoch(L), tok = loader_tokens(L);
        loader_close(L);
        L = open_loader(name, seed, rk, world, buf, cur);
        run_batches(L, 0, k, cur, T, B, b, &nb);
        cJSON *c = loader_cursor_save(L);
        char *text = cJSON_PrintUnformatted(c);
        cJSON_Delete(c);
        loader_close(L);
        // a fresh loader has moved on in between (it must be fully overwritten by restore)
        L = open_loader(name, seed, rk, world, buf, cur);
        run_batches(L, 0, 3, cur, T, B, b + nb, &(size_t){0});
        cJSON *parsed = NULL;
        CHECK(json_parse(text, strlen(text), "cursor", &parsed) == 0, "%s", last_error());
        CHECK(loader_cursor_restore(L, parsed) == 0, "restore: %s", last_error());
        run_batches(L, k, N, cur, T, B, b, &nb);
        CHECK(na == nb && memcmp(a, b, na * sizeof *a) == 0, "%s rank %d: resumed batches differ (k=%d of %d)", name,
              rk, k, N);
        CHECK(loader_epoch(L) == ep && loader_tokens(L) == tok, "%s: epoch %llu/%llu tokens %llu/%llu after resume",
              name, (unsigned long long)loader_epoch(L), (unsigned long long)ep, (unsigned long long)loader_tokens(L),
              (unsigned long long)tok);
        cJSON_Delete(parsed);
        free(text);
        loader_close(L);
    }
    free(a); free(b);
}

TEST(loader_resume_exact) {
    Rng r; rng_seed_stream(&r, seed, 4);
    Data D = make_data("resume", &r, 150, 2, 2, 150, 1);   // ~11k tokens: several epochs in N batches
    int N = 120, k = 37 + (int)rng_below(&r, 40);
    resume_case("resume", NULL, 8, N, k, 1);
    resume_case("resume", NULL, 32, N, k, 2);
    Curriculum c;
    curriculum_default(&c);
    c.total_steps = N;
    if (curriculum_parse_stages(&c, "0:12,0.3:24,0.6:48") < 0) fatal_last();
    c.B0 = 1; c.B = 3; c.ramp_frac = 0.5;
    c.order = CUR_ORDER_EASY_HARD;
    resume_case("resume", &c, 8, N, k, 1);
    c.order = CUR_ORDER_MIX;
    resume_case("resume", &c, 8, N, k, 2);
    free_data(&D);
}

// Pad mode: rows end with padding (targets -1, pos 0) instead of cropping a document.
TEST(loader_pad_mode) {
    Rng r; rng_seed_stream(&r, seed, 5);
    Data D = make_data("pad", &r, 300, 1, 5, 40, 0);
    LoaderConfig c;
    char *dir = path_join(tmpdir, "pad");
    loader_config_default(&c, dir);
    c.seed = seed; c.pad_not_crop = 1; c.pad_id = 0; c.buffer_docs = 4;
    Loader *L;
    CHECK(loader_open(&L, &c) == 0, "%s", last_error());
    int B = 4, T = 64, pads = 0, bad = 0;
    int32_t in[4 * 64], tg[4 * 64], ps[4 * 64];
    for (int s = 0; s < 50; s++) {
        loader_next_batch(L, s, B, T, in, tg, ps);
        for (int b = 0; b < B; b++) {
            int first_pad = T;
            for (int j = 0; j < T; j++) if (tg[b * T + j] == -1) { first_pad = j; break; }
            for (int j = first_pad; j < T; j++) bad += tg[b * T + j] != -1;             // padding only at the tail
            for (int j = first_pad + 1; j < T; j++) bad += in[b * T + j] != 0 || ps[b * T + j] != 0;
            // the token before padding ends a whole document (EOS) — no cropping
            if (first_pad < T) {
                int32_t last = in[b * T + first_pad];
                size_t d = last > 2 ? doc_of(&D, last) : 0;
                bad += last <= 2 || (size_t)(last - 3) != D.start[d] + D.len[d] - 1;
            }
            pads += first_pad < T;
        }
    }
    CHECK(bad == 0, "%d padding errors", bad);
    CHECK(pads > 0, "no padded rows at all");
    uint64_t expect = 0;
    (void)expect;
    loader_close(L);
    free(dir);
    free_data(&D);
}

// One long document (like a whole book in one text file): it is cut into units
// that come in shuffled order; rows hold contiguous runs of it, each run starting
// with BOS (its own at offset 0, else a continuation's), and no token comes a
// second time before every token has come once (passes do not overlap).
TEST(loader_single_long_document) {
    Rng r; rng_seed_stream(&r, seed, 7);
    Data D = make_data("long1", &r, 1, 1, 3000, 3000, 0);
    Loader *L = open_loader("long1", seed, 0, 1, 8, NULL);
    CHECK(L != NULL, "open");
    if (!L) { free_data(&D); return; }
    int T = 64, bad_bos = 0, bad_run = 0, bad_pass = 0;
    int32_t in[64], tg[64], ps[64];
    int *cnt = xcalloc(D.len[0], sizeof *cnt);   // deliveries per offset (offset 0 is BOS: not counted)
    int lo = 0;                                   // every offset >= 1 has come at least lo times
    for (int s = 0; s < 200; s++) {
        loader_next_batch(L, s, 1, T, in, tg, ps);
        bad_bos += in[0] != BOS;
        for (int j = 0; j < T;) {
            int k = j + 1;
            while (k < T && ps[k] != 0) k++;
            bad_bos += in[j] != BOS;
            size_t prev = 0;   // offset of the previous body token of this run (0: none yet)
            for (int i = j + 1; i <= k; i++) {
                if (i == k && k < T) break;   // the last run of the row continues into the target row[T]
                int32_t v = i < T ? in[i] : tg[T - 1];
                if (i == T && v == BOS) break;   // row[T] starts the next piece (cropped after its BOS)
                size_t off = (size_t)(v - 3);
                if (v < 3 || off >= D.len[0]) { bad_run++; continue; }
                bad_run += prev && off != prev + 1;
                prev = off;
                cnt[off]++;
            }
            j = k;
        }
        int mn = cnt[1], mx = cnt[1];
        for (size_t o = 1; o < D.len[0]; o++) { if (cnt[o] < mn) mn = cnt[o]; if (cnt[o] > mx) mx = cnt[o]; }
        bad_pass += mx - mn > 1;
        lo = mn;
    }
    CHECK(bad_bos == 0, "%d runs not starting with BOS", bad_bos);
    CHECK(bad_run == 0, "%d tokens not continuing their run", bad_run);
    CHECK(bad_pass == 0, "%d rows after which a token had come twice more than another", bad_pass);
    CHECK(lo >= 3, "only %d passes over the document", lo);
    free(cnt);
    loader_close(L);
    free_data(&D);
}

// Mutated cursors: an error, or a state the loader can continue from; never a crash.
TEST(loader_cursor_fuzz) {
    Rng r; rng_seed_stream(&r, seed, 8);
    Data D = make_data("cfuzz", &r, 60, 1, 2, 90, 1);
    Loader *L = open_loader("cfuzz", seed, 0, 1, 8, NULL);
    CHECK(L != NULL, "open");
    if (!L) { free_data(&D); return; }
    int32_t in[2 * 32], tg[2 * 32];
    for (int s = 0; s < 5; s++) loader_next_batch(L, s, 2, 32, in, tg, NULL);
    CHECK(loader_has_scores(L), "shards with scores not reported");
    cJSON *c = loader_cursor_save(L);
    char *text = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    size_t n = strlen(text);
    char *m = xmalloc(n + 1);
    const char alphabet[] = "0123456789-.e\"[],{}:abcz ";
    int parsed = 0, restored = 0, bad = 0;
    for (int it = 0; it < 1500; it++) {
        memcpy(m, text, n + 1);
        int k = 1 + (int)rng_below(&r, 3);
        for (int j = 0; j < k; j++) m[rng_below(&r, n)] = alphabet[rng_below(&r, sizeof alphabet - 1)];
        cJSON *j = cJSON_Parse(m);
        if (!j) continue;
        parsed++;
        if (loader_cursor_restore(L, j) == 0) {
            restored++;
            for (int s = 0; s < 3; s++) bad += loader_next_batch(L, s, 2, 32, in, tg, NULL) != 0;
            for (int i = 0; i < 64; i++) bad += in[i] < 0 || (uint32_t)in[i] >= D.vocab;
        }
        cJSON_Delete(j);
    }
    printf("# cursor fuzz: %d parsed, %d restored\n", parsed, restored);
    CHECK(bad == 0, "%d failures after restoring a mutated cursor", bad);
    CHECK(parsed > 100, "only %d mutated cursors parsed", parsed);
    free(m); free(text);
    loader_close(L);
    free_data(&D);
}

// Throughput of validation at open and of packing (a measurement; the floor is only a sanity check).
TEST(loader_throughput) {
    Rng r; rng_seed_stream(&r, seed, 9);
    Data D = make_data("speed", &r, 40000, 4, 2, 200, 1);   // ~4M tokens, 4-byte ids
    double t0 = now_seconds();
    Loader *L = open_loader("speed", seed, 0, 1, 256, NULL);
    double t_open = now_seconds() - t0;
    CHECK(L != NULL, "open");
    if (!L) { free_data(&D); return; }
    int B = 8, T = 1024, steps = 200;
    int32_t *in = xmalloc(sizeof(int32_t) * B * T), *tg = xmalloc(sizeof(int32_t) * B * T), *ps = xmalloc(sizeof(int32_t) * B * T);
    t0 = now_seconds();
    for (int s = 0; s < steps; s++) loader_next_batch(L, s, B, T, in, tg, ps);
    double t = now_seconds() - t0, rate = (double)steps * B * T / t;
    printf("# open+validate %.1f MB of shards in %.3f s (%.0f MB/s); next_batch B=%d T=%d: %.1f M tokens/s\n",
           D.ntok * 4 / 1e6, t_open, D.ntok * 4 / 1e6 / t_open, B, T, rate / 1e6);
    CHECK(rate > 1e6, "packing at only %.0f tokens/s", rate);
    free(in); free(tg); free(ps);
    loader_close(L);
    free_data(&D);
}

// Up-front validation and cursor refusals.
TEST(loader_bad_input) {
    Rng r; rng_seed_stream(&r, seed, 6);
    Data D = make_data("bad", &r, 50, 2, 2, 30, 0);
    Loader *L = open_loader("bad", seed, 0, 1, 8, NULL);
    CHECK(L != NULL, "open");
    cJSON *cur = L ? loader_cursor_save(L) : NULL;
    loader_close(L);
    // wrong seed / wrong world
    L = open_loader("bad", seed + 7, 0, 1, 8, NULL);
    CHECK(L && loader_cursor_restore(L, cur) < 0 && strstr(last_error(), "seed"), "wrong seed accepted: %s", last_error());
    loader_close(L);
    L = open_loader("bad", seed, 0, 2, 8, NULL);
    CHECK(L && loader_cursor_restore(L, cur) < 0 && strstr(last_error(), "rank 0 of 1"), "wrong world accepted: %s",
          last_error());
    loader_close(L);
    cJSON_Delete(cur);
    // a corrupt shard is refused at open, naming the file and the byte offset
    char *dir = path_join(tmpdir, "bad"), *p = path_join(dir, "train_0001.bin");
    char *buf; size_t n;
    if (io_read_all(p, &buf, &n) < 0) fatal_last();
    buf[70] ^= 0x7f;
    if (io_write_file(p, buf, n) < 0) fatal_last();
    L = open_loader("bad", seed, 0, 1, 8, NULL);
    CHECK(L == NULL && strstr(last_error(), "train_0001.bin") && strstr(last_error(), "byte offset"),
          "corrupt shard: %s", last_error());
    // wrong tokenizer
    LoaderConfig c;
    loader_config_default(&c, dir);
    c.split = "val";
    CHECK(loader_open(&L, &c) < 0 && strstr(last_error(), "no val_XXXX.bin"), "empty split: %s", last_error());
    c.split = "train";
    buf[70] ^= 0x7f;
    if (io_write_file(p, buf, n) < 0) fatal_last();
    c.expect_fingerprint = 43;
    CHECK(loader_open(&L, &c) < 0 && strstr(last_error(), "another tokenizer"), "wrong tokenizer: %s", last_error());
    c.expect_fingerprint = 42;
    c.curriculum.order = CUR_ORDER_EASY_HARD; c.curriculum.total_steps = 10;
    CHECK(loader_open(&L, &c) < 0 && strstr(last_error(), "no per-document scores"), "scores: %s", last_error());
    // replacing the curriculum later: refused the same way, and the old one stays
    curriculum_default(&c.curriculum);
    CHECK(loader_open(&L, &c) == 0, "%s", last_error());
    Curriculum hard;
    curriculum_default(&hard);
    hard.order = CUR_ORDER_MIX; hard.total_steps = 10;
    CHECK(!loader_has_scores(L), "scores reported for shards without them");
    CHECK(loader_set_curriculum(L, &hard) < 0 && loader_curriculum(L)->order == CUR_ORDER_SHUFFLE,
          "difficulty order without scores accepted");
    hard.order = CUR_ORDER_SHUFFLE; hard.total_steps = 1234;
    CHECK(loader_set_curriculum(L, &hard) == 0 && loader_curriculum(L)->total_steps == 1234, "%s", last_error());
    loader_close(L);
    free(buf); free(p); free(dir);
    free_data(&D);
}

int main(void) {
    seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    printf("# seed %llu\n", (unsigned long long)seed);
    const char *td = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/deepc_test_loader_%d", td && *td ? td : "/tmp", (int)getpid());
    if (io_mkdir_p(tmpdir) < 0) fatal_last();
    RUN(loader_packing_covers_documents);
    RUN(loader_epochs_and_shuffle);
    RUN(loader_rank_slices_disjoint);
    RUN(loader_resume_exact);
    RUN(loader_pad_mode);
    RUN(loader_single_long_document);
    RUN(loader_cursor_fuzz);
    RUN(loader_throughput);
    RUN(loader_bad_input);
    io_rm_rf(tmpdir);
    return test_summary();
}
