// test_tokenizer.c — tokenizer.json loader under random / truncated / mutated input (an
// error or a working tokenizer, never a crash), the long-word BPE path against a plain
// reference merge loop, UTF-8 validation against a decoder written from the definition,
// and the error paths of decode and chat.
#include "test.h"
#include "base/check.h"
#include "base/io.h"
#include "base/rng.h"
#include "data/bpe.h"
#include "data/bpe_train.h"
#include "data/bpe_tokenizer.h"
#include "data/chat.h"
#include "data/tokenizer.h"
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static uint64_t seed;
static char dir[256];
static char *good; static size_t good_len;

// Train a small tokenizer in C so the tests need nothing outside the repository.
static void make_tokenizer(void) {
    snprintf(dir, sizeof dir, "/tmp/deepc_test_tok_%d", (int)getpid());
    Rng r; rng_seed(&r, seed);
    static const char *words[] = {"the", " cat", " sat", " on", " mat", "\n", " 12345", " 中文", " naïve", "!!", " \t", "👍🏽"};
    size_t cap = 200000, n = 0;
    char *doc = xmalloc(cap);
    while (n < cap - 64) { const char *w = words[rng_below(&r, 12)]; size_t l = strlen(w); memcpy(doc + n, w, l); n += l; }
    Pretok pre = {0};
    pretok_add_split_regex(&pre, PRETOK_DSV3_DIGITS, SPLIT_ISOLATED, 0);
    pretok_add_split_regex(&pre, PRETOK_DSV3_CJK, SPLIT_ISOLATED, 0);
    pretok_add_split_regex(&pre, PRETOK_DSV3_MAIN, SPLIT_ISOLATED, 0);
    pretok_add_bytelevel(&pre, 0, 0);
    BpeMap counts; bpe_map_init(&counts, 1024);
    const char *docs[1] = {doc}; size_t lens[1] = {n};
    bpe_count_words(&pre, docs, lens, 1, &counts, 1);
    const char *sp[] = {TOK_BOS, TOK_EOS, TOK_PAD, TOK_USER, TOK_ASSISTANT, TOK_SYSTEM};
    BpeVocab v;
    ASSERT(bpe_train(&counts, 400, sp, 6, 0, 1, &v) == 0);
    const char *pats[] = {PRETOK_DSV3_DIGITS, PRETOK_DSV3_CJK, PRETOK_DSV3_MAIN};
    ASSERT(bpe_write_tokenizer(dir, &v, pats, 3) == 0);
    bpe_vocab_free(&v); bpe_map_free(&counts); pretok_free(&pre); free(doc);
    char *p = path_join(dir, "tokenizer.json");
    ASSERT(io_read_all(p, &good, &good_len) == 0);
    free(p);
}

TEST(loads_and_round_trips) {
    Tokenizer *t;
    CHECK(tok_load(dir, &t) == 0, "%s", last_error());
    if (!t) return;
    CHECK(tok_vocab_size(t) > 262 && tok_vocab_size(t) <= 400, "vocab %d", tok_vocab_size(t));
    CHECK(tok_bos(t) == 0 && tok_eos(t) == 1 && tok_pad(t) == 2, "bos %d eos %d pad %d", tok_bos(t), tok_eos(t), tok_pad(t));
    Rng r; rng_seed_stream(&r, seed, 1);
    for (int it = 0; it < 300; it++) {
        size_t n = rng_below(&r, 300);
        char *s = xmalloc(n + 1);
        for (size_t i = 0; i < n; i++) s[i] = (char)(rng_below(&r, 4) ? "the cat 12\n\t "[rng_below(&r, 13)] : (char)rng_below(&r, 256));
        int32_t *ids; size_t k; char *back; size_t bl;
        CHECK(tok_encode(t, s, n, 1, &ids, &k) == 0, "encode");
        CHECK(tok_decode(t, ids, k, &back, &bl) == 0 && bl == n && !memcmp(back, s, n), "round trip failed at iteration %d", it);
        free(back); free(ids); free(s);
    }
    tok_free(t);
}

TEST(decode_rejects_bad_ids) {
    Tokenizer *t;
    if (tok_load(dir, &t) < 0) { CHECK(0, "%s", last_error()); return; }
    int32_t ids[3] = {5, 400, 7};
    char *s; size_t n;
    CHECK(tok_decode(t, ids, 3, &s, &n) < 0, "id 400 accepted");
    CHECK(strstr(last_error(), "400") && strstr(last_error(), "position 1"), "message: %s", last_error());
    ids[1] = -3;
    CHECK(tok_decode(t, ids, 3, &s, &n) < 0, "id -3 accepted");
    const char *b; size_t bl;
    CHECK(tok_token_bytes(t, 400, &b, &bl) < 0, "token_bytes 400");
    tok_free(t);
}

TEST(chat_mask_and_errors) {
    Tokenizer *t;
    if (tok_load(dir, &t) < 0) { CHECK(0, "%s", last_error()); return; }
    ChatMsg m[3] = {{"system", "s"}, {"user", "the cat"}, {"assistant", " sat on"}};
    int32_t *ids; uint8_t *mask; size_t n;
    CHECK(chat_encode(t, m, 3, 0, &ids, &mask, &n) == 0, "%s", last_error());
    // mask covers exactly " sat on" + EOS at the end
    int32_t *c; size_t cn;
    tok_encode(t, " sat on", 7, 0, &c, &cn);
    size_t ones = 0; for (size_t i = 0; i < n; i++) ones += mask[i];
    CHECK(ones == cn + 1 && mask[n - 1] == 1 && ids[n - 1] == tok_eos(t) && ids[0] == tok_bos(t), "ones %zu, content %zu", ones, cn);
    CHECK(n >= cn + 2 && mask[n - cn - 2] == 0 && ids[n - cn - 2] == tok_token_id(t, TOK_ASSISTANT), "assistant marker unmasked");
    free(ids); free(mask); free(c);
    ChatMsg bad[1] = {{"tool", "x"}};
    CHECK(chat_encode(t, bad, 1, 0, &ids, &mask, &n) < 0 && strstr(last_error(), "tool"), "role tool accepted");
    tok_free(t);
}

// reference: naive lowest-rank-first merging, leftmost on ties
static void naive_bpe(const BpeModel *m, const uint8_t *w, size_t n, IdVec *out) {
    int32_t *s = xmalloc(n * sizeof *s); size_t k = 0;
    for (size_t i = 0; i < n; i++) s[k++] = m->byte_id[w[i]];
    for (;;) {
        int32_t best = INT32_MAX, nid = -1; size_t at = 0;
        for (size_t i = 0; i + 1 < k; i++) { int32_t r, x; if (bpe_model_merge(m, s[i], s[i + 1], &r, &x) && r < best) { best = r; nid = x; at = i; } }
        if (nid < 0) break;
        s[at] = nid; memmove(s + at + 1, s + at + 2, (k - at - 2) * sizeof *s); k--;
    }
    idvec_append(out, s, k); free(s);
}

TEST(long_words_match_reference_merging) {
    Tokenizer *t;
    if (tok_load(dir, &t) < 0) { CHECK(0, "%s", last_error()); return; }
    Rng r; rng_seed_stream(&r, seed, 2);
    static const char *parts[] = {"the", "cat", "sat", " ", "1", "2", "3", "中", "文", "!!", "ï", "mat"};
    for (int it = 0; it < 200; it++) {
        char w[2000]; size_t n = 0, target = 25 + rng_below(&r, 1500);
        while (n < target) { const char *p = parts[rng_below(&r, 12)]; size_t l = strlen(p); memcpy(w + n, p, l); n += l; }
        IdVec a = {0}, b = {0};
        bpe_encode_word(&t->bpe, (const uint8_t *)w, n, &a);
        naive_bpe(&t->bpe, (const uint8_t *)w, n, &b);
        CHECK(a.n == b.n && !memcmp(a.v, b.v, a.n * sizeof *a.v), "word of %zu bytes: %zu vs %zu ids", n, a.n, b.n);
        free(a.v); free(b.v);
    }
    tok_free(t);
}

// UTF-8 validity from the definition: decode, then reject overlong, surrogates, > U+10FFFF
static size_t ref_valid(const unsigned char *s, size_t n) {
    int len = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (!len || (size_t)len > n) return 0;
    uint32_t cp = len == 1 ? s[0] : len == 2 ? s[0] & 31u : len == 3 ? s[0] & 15u : s[0] & 7u;
    for (int i = 1; i < len; i++) { if ((s[i] & 0xC0) != 0x80) return 0; cp = cp << 6 | (s[i] & 63u); }
    static const uint32_t minv[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < minv[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return 0;
    return (size_t)len;
}

TEST(utf8_validation_matches_definition) {
    Rng r; rng_seed_stream(&r, seed, 3);
    for (int it = 0; it < 200000; it++) {
        unsigned char b[4]; size_t n = 1 + rng_below(&r, 4);
        for (size_t i = 0; i < 4; i++) b[i] = (unsigned char)(rng_below(&r, 2) ? 0x80 + rng_below(&r, 64) : rng_below(&r, 256));
        if (rng_below(&r, 2)) b[0] = (unsigned char)(0xC0 + rng_below(&r, 64));
        size_t x = utf8_valid_char(b, n), y = ref_valid(b, n);
        if (x != y) { CHECK(0, "bytes %02x %02x %02x %02x (n %zu): %zu vs %zu", b[0], b[1], b[2], b[3], n, x, y); break; }
    }
}

static int try_load(const char *text, size_t n, const char *name) {
    char p[300]; snprintf(p, sizeof p, "%s/%s", dir, name);
    ASSERT(io_write_file(p, text, n) == 0);
    Tokenizer *t;
    int rc = tok_load(p, &t);
    if (rc == 0) {   // loaded: it must still encode and decode without crashing
        int32_t *ids; size_t k; char *s; size_t sl;
        if (tok_encode(t, "the cat 12 中文 \xff", 17, 1, &ids, &k) == 0) { if (tok_decode(t, ids, k, &s, &sl) == 0) free(s); free(ids); }
        tok_free(t);
    }
    return rc;
}

TEST(loader_fuzz_truncated_mutated_random) {
    Rng r; rng_seed_stream(&r, seed, 4);
    int errors = 0, named = 0;
    for (int it = 0; it < 60; it++) {   // truncation: always an error naming the file and a byte offset
        size_t cut = rng_below(&r, good_len - 2);
        if (try_load(good, cut, "cut.json") < 0) { errors++; if (strstr(last_error(), "cut.json") && strstr(last_error(), "byte")) named++; }
    }
    CHECK(errors == 60 && named == 60, "truncated: %d errors, %d naming file and byte", errors, named);
    char *m = xmalloc(good_len);
    for (int it = 0; it < 150; it++) {   // mutation: any result but a crash
        memcpy(m, good, good_len);
        int k = 1 + (int)rng_below(&r, 8);
        for (int j = 0; j < k; j++) {
            size_t at = rng_below(&r, good_len);
            m[at] = (char)("{}[]\":,0123456789 abx\\"[rng_below(&r, 22)]);
        }
        try_load(m, good_len, "mut.json");
    }
    for (int it = 0; it < 50; it++) {   // random bytes: an error
        size_t n = rng_below(&r, 400);
        for (size_t i = 0; i < n; i++) m[i] = (char)rng_below(&r, 256);
        CHECK(try_load(m, n, "rand.json") < 0, "random bytes loaded");
    }
    // structural changes: each refused with a message listing what is supported
    static const char *subs[][2] = {
        {"\"type\":\t\"BPE\"", "\"type\":\t\"Unigram\""}, {"\"type\":\t\"ByteLevel\"", "\"type\":\t\"Metaspace\""},
        {"\"normalizer\":\tnull", "\"normalizer\":\t{\"type\":\t\"Lowercase\"}"}, {"\"dropout\":\tnull", "\"dropout\":\t0.1"},
        {"\"behavior\":\t\"Isolated\"", "\"behavior\":\t\"Sideways\""}, {"\"lstrip\":\tfalse", "\"lstrip\":\ttrue"},
    };
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++) {
        const char *hit = strstr(good, subs[i][0]);
        if (!hit) { CHECK(0, "pattern %s not in the written tokenizer.json", subs[i][0]); continue; }
        size_t a = (size_t)(hit - good), ol = strlen(subs[i][0]), nl = strlen(subs[i][1]);
        char *x = xmalloc(good_len + nl + 1);
        memcpy(x, good, a); memcpy(x + a, subs[i][1], nl); memcpy(x + a + nl, good + a + ol, good_len - a - ol);
        int rc = try_load(x, good_len - ol + nl, "unsup.json");
        CHECK(rc < 0 && strstr(last_error(), "unsup.json") && (strstr(last_error(), "supported") || strstr(last_error(), "behavior")),
              "%s: rc %d, %s", subs[i][1], rc, last_error());
        free(x);
    }
    free(m);
}

int main(void) {
    seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    printf("# seed %llu\n", (unsigned long long)seed);
    make_tokenizer();
    RUN(loads_and_round_trips);
    RUN(decode_rejects_bad_ids);
    RUN(chat_mask_and_errors);
    RUN(long_words_match_reference_merging);
    RUN(utf8_validation_matches_definition);
    RUN(loader_fuzz_truncated_mutated_random);
    io_rm_rf(dir);
    free(good);
    return test_summary();
}
