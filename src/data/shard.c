// shard.c — token shard files: atomic writer, mmap reader that validates everything up front.
#include "data/shard.h"
#include "base/check.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "shard.c assumes a little-endian host (the shard format is little-endian)"
#endif

// Header field byte offsets (docs/formats.md, "Token shards").
enum { H_MAGIC = 0, H_VERSION = 8, H_WIDTH = 12, H_NTOK = 16, H_NDOC = 24, H_VOCAB = 32, H_FLAGS = 36,
       H_FPRINT = 40, H_CHECKSUM = 48, H_RESERVED = 56 };

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint64_t align8(uint64_t x) { return (x + 7) & ~(uint64_t)7; }

int shard_tokenizer_fingerprint(const char *path, uint64_t *fp) {
    char *file = io_is_dir(path) ? path_join(path, "tokenizer.json") : xstrdup(path);
    char *buf; size_t n;
    int r = io_read_all(file, &buf, &n);
    free(file);
    if (r < 0) return fail_ctx("tokenizer fingerprint");
    *fp = XXH64(buf, n, 0);
    if (*fp == 0) *fp = 1;   // 0 means "unknown" in shard headers
    free(buf);
    return 0;
}

// ---- writing ------------------------------------------------------------

struct ShardWriter {
    AtomicFile af;
    uint32_t vocab;
    uint64_t fingerprint;
    int width, with_scores;
    uint64_t n_tokens;
    uint64_t *offsets; size_t n_off, cap_off;   // [n_docs + 1]
    float *scores; size_t cap_scores;           // [n_docs]
    uint8_t *buf; size_t nbuf, capbuf;          // pending token bytes
    XXH64_state_t *hash;                        // checksum of everything after the header
};

static int writer_flush(ShardWriter *w) {
    if (!w->nbuf) return 0;
    XXH64_update(w->hash, w->buf, w->nbuf);
    TRY(io_atomic_write(&w->af, w->buf, w->nbuf));
    w->nbuf = 0;
    return 0;
}

static int writer_put(ShardWriter *w, const void *data, size_t n) {
    if (w->nbuf + n > w->capbuf) TRY(writer_flush(w));
    if (n > w->capbuf) {
        XXH64_update(w->hash, data, n);
        return io_atomic_write(&w->af, data, n);
    }
    memcpy(w->buf + w->nbuf, data, n);
    w->nbuf += n;
    return 0;
}

int shard_writer_open(ShardWriter **out, const char *path, uint32_t vocab_size, uint64_t tok_fingerprint, int with_scores) {
    *out = NULL;
    if (vocab_size == 0) return fail("shard %s: vocab size must be positive", path);
    ShardWriter *w = xcalloc(1, sizeof *w);
    if (io_atomic_open(&w->af, path) < 0) { free(w); return -1; }
    w->vocab = vocab_size;
    w->fingerprint = tok_fingerprint;
    w->width = vocab_size <= 65536 ? 2 : 4;
    w->with_scores = with_scores ? 1 : 0;
    w->cap_off = 1024;
    w->offsets = xmalloc(w->cap_off * sizeof *w->offsets);
    w->offsets[0] = 0; w->n_off = 1;
    w->capbuf = 1 << 20;
    w->buf = xmalloc(w->capbuf);
    w->hash = XXH64_createState();
    if (!w->hash) fatal("out of memory (xxhash state)");
    XXH64_reset(w->hash, 0);
    uint8_t zero[SHARD_HEADER_BYTES] = {0};
    if (io_atomic_write(&w->af, zero, sizeof zero) < 0) { shard_writer_abort(w); return -1; }
    *out = w;
    return 0;
}

int shard_writer_add(ShardWriter *w, const int32_t *ids, size_t n, float score) {
    if (!isfinite(score)) return fail("shard %s: document %zu has a non-finite score", w->af.path, w->n_off - 1);
    uint8_t tmp[4096];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (uint32_t)ids[i] >= w->vocab)
            return fail("shard %s: document %zu token %zu has id %d outside the vocabulary [0, %u)",
                        w->af.path, w->n_off - 1, i, ids[i], w->vocab);
        if (w->width == 2) { uint16_t v = (uint16_t)ids[i]; memcpy(tmp + k, &v, 2); k += 2; }
        else { uint32_t v = (uint32_t)ids[i]; memcpy(tmp + k, &v, 4); k += 4; }
        if (k + 4 > sizeof tmp) { TRY(writer_put(w, tmp, k)); k = 0; }
    }
    TRY(writer_put(w, tmp, k));
    w->n_tokens += n;
    if (w->n_off == w->cap_off) w->offsets = xrealloc(w->offsets, (w->cap_off *= 2) * sizeof *w->offsets);
    w->offsets[w->n_off++] = w->n_tokens;
    if (w->with_scores) {
        if (w->n_off - 1 > w->cap_scores) {
            w->cap_scores = w->cap_scores ? w->cap_scores * 2 : 1024;
            w->scores = xrealloc(w->scores, w->cap_scores * sizeof *w->scores);
        }
        w->scores[w->n_off - 2] = score;
    }
    return 0;
}

uint64_t shard_writer_tokens(const ShardWriter *w) { return w->n_tokens; }
uint64_t shard_writer_docs(const ShardWriter *w) { return w->n_off - 1; }

static void writer_free(ShardWriter *w) {
    if (w->hash) XXH64_freeState(w->hash);
    free(w->offsets); free(w->scores); free(w->buf); free(w);
}

int shard_writer_commit(ShardWriter *w) {
    uint64_t n_docs = w->n_off - 1;
    uint64_t tok_bytes = w->n_tokens * (uint64_t)w->width;
    uint8_t pad[8] = {0};
    uint8_t h[SHARD_HEADER_BYTES] = {0};
    if (writer_put(w, pad, align8(tok_bytes) - tok_bytes) < 0) goto bad;
    if (writer_put(w, w->offsets, w->n_off * sizeof *w->offsets) < 0) goto bad;
    if (w->with_scores && writer_put(w, w->scores, n_docs * sizeof(float)) < 0) goto bad;
    if (writer_flush(w) < 0) goto bad;
    memcpy(h + H_MAGIC, SHARD_MAGIC, 8);
    wr32(h + H_VERSION, SHARD_VERSION);
    wr32(h + H_WIDTH, (uint32_t)w->width);
    wr64(h + H_NTOK, w->n_tokens);
    wr64(h + H_NDOC, n_docs);
    wr32(h + H_VOCAB, w->vocab);
    wr32(h + H_FLAGS, w->with_scores ? SHARD_FLAG_SCORES : 0);
    wr64(h + H_FPRINT, w->fingerprint);
    wr64(h + H_CHECKSUM, XXH64_digest(w->hash));
    if (fseek(w->af.f, 0, SEEK_SET) != 0) { fail("cannot seek in %s: %s", w->af.tmp, strerror(errno)); goto bad; }
    if (io_atomic_write(&w->af, h, sizeof h) < 0) goto bad;
    int r = io_atomic_commit(&w->af);
    writer_free(w);
    return r;
bad:
    shard_writer_abort(w);
    return -1;
}

void shard_writer_abort(ShardWriter *w) {
    if (!w) return;
    io_atomic_abort(&w->af);
    writer_free(w);
}

// ---- reading ------------------------------------------------------------

int shard_parse(Shard *s, const void *data, size_t size, const char *what, uint32_t expect_vocab, uint64_t expect_fp) {
    const uint8_t *p = data;
    memset(s, 0, sizeof *s);
    if (size < SHARD_HEADER_BYTES)
        return fail("%s: truncated shard: %zu bytes, the header alone needs %d (byte offset %zu)", what, size,
                    SHARD_HEADER_BYTES, size);
    if (memcmp(p + H_MAGIC, SHARD_MAGIC, 8) != 0)
        return fail("%s: not a deepc token shard: wrong magic at byte offset 0 (expected \"%s\"); "
                    "make shards with `deepc tokenize`", what, SHARD_MAGIC);
    uint32_t version = rd32(p + H_VERSION);
    if (version != SHARD_VERSION)
        return fail("%s: shard format version %u at byte offset %d is not supported (this deepc reads version %d)",
                    what, version, H_VERSION, SHARD_VERSION);
    uint32_t width = rd32(p + H_WIDTH);
    if (width != 2 && width != 4)
        return fail("%s: token width %u at byte offset %d must be 2 or 4", what, width, H_WIDTH);
    uint32_t vocab = rd32(p + H_VOCAB);
    if (vocab == 0) return fail("%s: vocab size 0 at byte offset %d", what, H_VOCAB);
    if (width == 2 && vocab > 65536)
        return fail("%s: vocab size %u at byte offset %d needs 4-byte tokens but the width is 2", what, vocab, H_VOCAB);
    if (expect_vocab && vocab != expect_vocab)
        return fail("%s: shard was made with a vocabulary of %u tokens (byte offset %d), expected %u; "
                    "re-tokenize with the model's tokenizer", what, vocab, H_VOCAB, expect_vocab);
    uint32_t flags = rd32(p + H_FLAGS);
    if (flags & ~SHARD_FLAG_SCORES)
        return fail("%s: unknown flag bits 0x%x at byte offset %d", what, flags, H_FLAGS);
    uint64_t fp = rd64(p + H_FPRINT);
    if (expect_fp && fp != expect_fp)
        return fail("%s: shard was made with another tokenizer (fingerprint %016llx at byte offset %d, expected %016llx); "
                    "re-tokenize with the model's tokenizer", what, (unsigned long long)fp, H_FPRINT,
                    (unsigned long long)expect_fp);
    if (rd64(p + H_RESERVED) != 0)
        return fail("%s: reserved header field at byte offset %d is not zero", what, H_RESERVED);
    uint64_t n_tok = rd64(p + H_NTOK), n_doc = rd64(p + H_NDOC);
    int has_scores = (flags & SHARD_FLAG_SCORES) != 0;
    // expected size, with overflow guards (counts beyond 2^56 cannot be real)
    if (n_tok >> 56 || n_doc >> 56)
        return fail("%s: implausible counts (%llu tokens at byte offset %d, %llu documents at byte offset %d)", what,
                    (unsigned long long)n_tok, H_NTOK, (unsigned long long)n_doc, H_NDOC);
    uint64_t off_tokens = SHARD_HEADER_BYTES;
    uint64_t off_offsets = off_tokens + align8(n_tok * width);
    uint64_t off_scores = off_offsets + (n_doc + 1) * 8;
    uint64_t expect = off_scores + (has_scores ? n_doc * 4 : 0);
    if (size < expect)
        return fail("%s: truncated shard: %zu bytes, but the header (%llu tokens, %llu documents) needs %llu; "
                    "data ends at byte offset %zu; re-create the shard", what, size, (unsigned long long)n_tok,
                    (unsigned long long)n_doc, (unsigned long long)expect, size);
    if (size > expect)
        return fail("%s: %zu unexpected bytes after the end of the shard data at byte offset %llu", what,
                    size - (size_t)expect, (unsigned long long)expect);
    const uint64_t *off = (const uint64_t *)(p + off_offsets);
    if (((uintptr_t)off & 7) != 0) return fail("%s: shard data is not 8-byte aligned in memory", what);
    if (off[0] != 0)
        return fail("%s: first document offset is %llu at byte offset %llu, must be 0", what,
                    (unsigned long long)off[0], (unsigned long long)off_offsets);
    for (uint64_t d = 0; d < n_doc; d++)
        if (off[d + 1] < off[d] || off[d + 1] > n_tok)
            return fail("%s: document offset %llu (entry %llu at byte offset %llu) is out of range "
                        "(previous %llu, tokens %llu)", what, (unsigned long long)off[d + 1],
                        (unsigned long long)(d + 1), (unsigned long long)(off_offsets + (d + 1) * 8),
                        (unsigned long long)off[d], (unsigned long long)n_tok);
    if (off[n_doc] != n_tok)
        return fail("%s: last document offset %llu at byte offset %llu must equal the token count %llu", what,
                    (unsigned long long)off[n_doc], (unsigned long long)(off_offsets + n_doc * 8),
                    (unsigned long long)n_tok);
    const uint8_t *tok = p + off_tokens;
    // token ids < vocab: a fast max scan, then the exact position only on failure
    uint32_t mx = 0;
    if (width == 2) {
        const uint16_t *t = (const uint16_t *)tok;
        for (uint64_t i = 0; i < n_tok; i++) mx = t[i] > mx ? t[i] : mx;
    } else {
        const uint32_t *t = (const uint32_t *)tok;
        for (uint64_t i = 0; i < n_tok; i++) mx = t[i] > mx ? t[i] : mx;
    }
    if (n_tok && mx >= vocab) {
        for (uint64_t i = 0; i < n_tok; i++) {
            uint32_t v = width == 2 ? ((const uint16_t *)tok)[i] : ((const uint32_t *)tok)[i];
            if (v >= vocab)
                return fail("%s: token %llu has id %u, outside the vocabulary of %u (byte offset %llu)", what,
                            (unsigned long long)i, v, vocab, (unsigned long long)(off_tokens + i * width));
        }
    }
    for (uint64_t i = n_tok * width; i < align8(n_tok * width); i++)
        if (tok[i] != 0) return fail("%s: padding byte at byte offset %llu is not zero", what,
                                     (unsigned long long)(off_tokens + i));
    const float *sc = has_scores ? (const float *)(p + off_scores) : NULL;
    for (uint64_t d = 0; sc && d < n_doc; d++)
        if (!isfinite(sc[d]))
            return fail("%s: score of document %llu at byte offset %llu is not a finite number", what,
                        (unsigned long long)d, (unsigned long long)(off_scores + d * 4));
    uint64_t sum = XXH64(p + SHARD_HEADER_BYTES, size - SHARD_HEADER_BYTES, 0);
    if (sum != rd64(p + H_CHECKSUM))
        return fail("%s: checksum mismatch (stored at byte offset %d): the shard data is corrupt; re-create the shard",
                    what, H_CHECKSUM);
    s->width = (int)width;
    s->n_tokens = n_tok;
    s->n_docs = n_doc;
    s->vocab_size = vocab;
    s->fingerprint = fp;
    s->has_scores = has_scores;
    s->tokens = tok;
    s->offsets = off;
    s->scores = sc;
    return 0;
}

int shard_open(Shard *s, const char *path, uint32_t expect_vocab, uint64_t expect_fp) {
    MappedFile m;
    memset(s, 0, sizeof *s);
    TRY(io_map(path, &m));
    if (shard_parse(s, m.data, m.size, path, expect_vocab, expect_fp) < 0) { io_unmap(&m); return -1; }
    s->map = m;
    s->path = xstrdup(path);
    return 0;
}

void shard_close(Shard *s) {
    io_unmap(&s->map);
    free(s->path);
    memset(s, 0, sizeof *s);
}

void shard_copy_tokens(const Shard *s, uint64_t start, size_t n, int32_t *out) {
    if (s->width == 2) {
        const uint16_t *t = (const uint16_t *)s->tokens + start;
        for (size_t i = 0; i < n; i++) out[i] = t[i];
    } else {
        const uint32_t *t = (const uint32_t *)s->tokens + start;
        for (size_t i = 0; i < n; i++) out[i] = (int32_t)t[i];
    }
}
