// loader.c — batches from token shards: whole documents packed by best fit (the
// training default) or documents cut into units packed in draw order (first fit;
// the default for validation), seeded shuffle or score-paced sampling, per-rank
// slices, exact cursor. The two modes and why: loader.h, docs/training.md.
//
// State that moves: the RNG (difficulty sampling, best-fit crops), the epoch and
// position in the current epoch's permutation of units (a whole document is one
// unit), the number of units drawn, the buffer of pending pieces (document, next
// offset, unit end) in draw order and the
// token counter. All of it is in the cursor; the permutation is recomputed from
// (seed, epoch).
#include "data/loader.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include "data/shard.h"
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CURSOR_VERSION 2
#define DEFAULT_BUFFER 256
#define DEFAULT_UNIT 1024
#define CROP_WINDOW 8       // how far past the oldest piece a crop may look for a piece longer than a row

typedef struct { uint32_t doc, off, end; } Piece;   // tokens [off, end) of doc still to emit (end: its unit's end)

struct Loader {
    LoaderConfig cfg;
    char *dir, *split;
    Shard *shards; int n_shards;
    uint32_t vocab; uint64_t fingerprint;
    // this rank's slice of documents (empty documents left out)
    uint64_t n, slice_tokens;
    uint32_t *dshard, *dlen;   // [n]
    uint64_t *dstart;          // [n]
    float *dscore;             // [n] or NULL when some shard has no scores
    int32_t bos;               // common first token of all documents, or -1
    uint32_t unit;             // tokens per unit (the last unit of a document may be shorter)
    uint64_t n_units;          // units in the slice
    uint64_t *ufirst;          // [n + 1] first unit of each document
    uint32_t *by_diff;         // [n_units] units easy -> hard (built on demand)
    uint32_t *perm; uint64_t perm_epoch; int perm_valid;   // [n_units]
    int cap;                   // buffer capacity (pieces looked at to fill a row)
    // moving state
    Rng rng;
    uint64_t epoch, pos, drawn, tokens;
    Piece *buf; int nbuf;      // [cap]
    int interleave;            // 1: a cropped piece's rest continues in the same row of the next batch
    int batch_rows;            // B of the batch being built when interleaving, else 1
    int bestfit;               // whole documents, best fit, a random over-long piece cropped (training default)
    int32_t *row, *rowpos;     // scratch [T+1]
    int rowcap;
};

void loader_config_default(LoaderConfig *cfg, const char *dir) {
    memset(cfg, 0, sizeof *cfg);
    cfg->dir = dir;
    cfg->split = "train";
    cfg->rank = 0;
    cfg->world = 1;
    cfg->buffer_docs = DEFAULT_BUFFER;
    cfg->unit_tokens = 0;
    cfg->interleave = -1;
    cfg->pad_id = 0;
    curriculum_default(&cfg->curriculum);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Sorted list of "<split>_*.bin" files in dir.
static int list_shards(const char *dir, const char *split, char ***out, int *n_out) {
    DIR *d = opendir(dir);
    if (!d) return fail("cannot open shard folder %s: %m", dir);
    size_t pl = strlen(split);
    char **names = NULL; int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < pl + 5 || strncmp(e->d_name, split, pl) || e->d_name[pl] != '_' || strcmp(e->d_name + l - 4, ".bin"))
            continue;
        if (n == cap) names = xrealloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names);
        names[n++] = path_join(dir, e->d_name);
    }
    closedir(d);
    if (n == 0) return fail("no %s_XXXX.bin shards in %s; make them with `deepc tokenize`", split, dir);
    qsort(names, n, sizeof *names, cmp_str);
    *out = names; *n_out = n;
    return 0;
}

static void state_reset(Loader *L) {
    rng_seed_stream(&L->rng, L->cfg.seed, 0x6c6f61646572ULL + (uint64_t)L->cfg.rank);
    L->epoch = L->pos = L->drawn = L->tokens = 0;
    L->nbuf = 0;
}

typedef struct { float key; uint64_t tie; uint32_t idx; } DiffKey;

static int cmp_diff(const void *a, const void *b) {
    const DiffKey *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    if (x->tie != y->tie) return x->tie < y->tie ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
    return x;
}

// Difficulty order for score-paced sampling (ties broken by a seeded hash).
static int ensure_by_diff(Loader *L) {
    const Curriculum *c = &L->cfg.curriculum;
    if (c->order == CUR_ORDER_SHUFFLE) return 0;
    if (!L->dscore) {
        for (int i = 0; i < L->n_shards; i++)
            if (!L->shards[i].has_scores)
                return fail("%s has no per-document scores, which difficulty-ordered sampling needs; "
                            "tokenize with --score-field or use the shuffle order", L->shards[i].path);
    }
    free(L->by_diff);
    DiffKey *k = xmalloc(L->n * sizeof *k);
    for (uint64_t i = 0; i < L->n; i++) {
        k[i].key = c->invert ? -L->dscore[i] : L->dscore[i];
        k[i].tie = mix64(L->cfg.seed ^ mix64(i + 0x9e3779b97f4a7c15ULL));
        k[i].idx = (uint32_t)i;
    }
    qsort(k, L->n, sizeof *k, cmp_diff);
    // documents easy -> hard, each expanded into its units (a long document weighs by its length)
    L->by_diff = xmalloc(L->n_units * sizeof *L->by_diff);
    uint64_t at = 0;
    for (uint64_t i = 0; i < L->n; i++)
        for (uint64_t u = L->ufirst[k[i].idx]; u < L->ufirst[k[i].idx + 1]; u++) L->by_diff[at++] = (uint32_t)u;
    free(k);
    return 0;
}

static const char *base_name(const char *p) { const char *s = strrchr(p, '/'); return s ? s + 1 : p; }

// When the folder has a manifest.json (as `deepc tokenize` writes), the split's
// shards on disk must be exactly the listed ones with the listed counts: a
// partly copied folder is refused instead of silently training on less data.
static int check_manifest(const Loader *L) {
    char *mp = path_join(L->dir, "manifest.json");
    if (!io_exists(mp)) { free(mp); return 0; }
    cJSON *m = NULL;
    int rc = json_load_file(mp, &m);
    const cJSON *sp = rc == 0 ? cJSON_GetObjectItemCaseSensitive(m, L->split) : NULL;
    const cJSON *list = sp ? cJSON_GetObjectItemCaseSensitive(sp, "shards") : NULL;
    if (rc == 0 && cJSON_IsArray(list)) {
        int listed = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, list) {
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "file");
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "tokens"), *d = cJSON_GetObjectItemCaseSensitive(e, "docs");
            if (!cJSON_IsString(f) || !cJSON_IsNumber(t) || !cJSON_IsNumber(d)) {
                rc = fail("%s: \"%s\".shards entry %d needs \"file\", \"tokens\" and \"docs\"", mp, L->split, listed);
                break;
            }
            listed++;
            int found = -1;
            for (int i = 0; i < L->n_shards; i++)
                if (!strcmp(base_name(L->shards[i].path), f->valuestring)) { found = i; break; }
            if (found < 0) {
                rc = fail("%s lists %s but the file is missing from %s; the shard folder is incomplete (copy it again or "
                          "re-run deepc tokenize)", mp, f->valuestring, L->dir);
                break;
            }
            const Shard *s = &L->shards[found];
            if ((double)s->n_tokens != t->valuedouble || (double)s->n_docs != d->valuedouble) {
                rc = fail("%s: manifest.json says %.0f tokens / %.0f documents, the shard holds %" PRIu64 " / %" PRIu64,
                          s->path, t->valuedouble, d->valuedouble, s->n_tokens, s->n_docs);
                break;
            }
        }
        if (rc == 0 && listed != L->n_shards)
            for (int i = 0; i < L->n_shards && rc == 0; i++) {
                int in = 0;
                cJSON_ArrayForEach(e, list) {
                    const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "file");
                    in |= !strcmp(base_name(L->shards[i].path), f->valuestring);
                }
                if (!in)
                    rc = fail("%s is not listed in %s; remove manifest.json if you combined shard folders by hand",
                              L->shards[i].path, mp);
            }
    }
    cJSON_Delete(m);
    free(mp);
    return rc;
}

int loader_open(Loader **out, const LoaderConfig *cfg) {
    *out = NULL;
    if (!cfg->dir) return fail("loader: no shard folder given");
    const char *split = cfg->split ? cfg->split : "train";
    if (cfg->world < 1 || cfg->rank < 0 || cfg->rank >= cfg->world)
        return fail("loader: rank %d of world %d is not valid", cfg->rank, cfg->world);
    TRY(curriculum_validate(&cfg->curriculum));
    char **names = NULL; int ns = 0;
    TRY(list_shards(cfg->dir, split, &names, &ns));
    Loader *L = xcalloc(1, sizeof *L);
    L->cfg = *cfg;
    L->dir = xstrdup(cfg->dir);
    L->split = xstrdup(split);
    L->cfg.dir = L->dir;
    L->cfg.split = L->split;
    L->cap = cfg->buffer_docs > 0 ? cfg->buffer_docs : DEFAULT_BUFFER;
    L->interleave = cfg->interleave >= 0 ? cfg->interleave != 0 : !strcmp(split, "train");
    L->cfg.interleave = L->interleave;
    L->cfg.buffer_docs = L->cap;
    L->shards = xcalloc(ns, sizeof *L->shards);
    L->n_shards = ns;   // shards that fail to open stay zeroed, which shard_close accepts
    // validate the shards in parallel; report the first failure in name order
    char *errs = xcalloc((size_t)ns, 1024);
    #pragma omp parallel for schedule(dynamic, 1) if (ns > 1)
    for (int i = 0; i < ns; i++)
        if (shard_open(&L->shards[i], names[i], cfg->expect_vocab, cfg->expect_fingerprint) < 0)
            snprintf(errs + (size_t)i * 1024, 1024, "%s", last_error()[0] ? last_error() : "cannot open shard");
    int rc = 0;
    for (int i = 0; i < ns && rc == 0; i++) {
        if (errs[(size_t)i * 1024]) { rc = fail("%s", errs + (size_t)i * 1024); break; }
        const Shard *s = &L->shards[i], *s0 = &L->shards[0];
        if (s->vocab_size != s0->vocab_size || s->fingerprint != s0->fingerprint)
            rc = fail("%s and %s were made with different tokenizers (vocab %u / %u, fingerprint %016" PRIx64 " / %016" PRIx64
                      "); a split must come from one tokenizer", s0->path, s->path, s0->vocab_size, s->vocab_size,
                      s0->fingerprint, s->fingerprint);
    }
    free(errs);
    for (int i = 0; i < ns; i++) free(names[i]);
    free(names);
    if (rc == 0) rc = check_manifest(L);
    if (rc < 0) { loader_close(L); return -1; }
    L->vocab = L->shards[0].vocab_size;
    L->fingerprint = L->shards[0].fingerprint;
    // this rank's slice: global document g belongs to rank g % world
    uint64_t g = 0, n = 0, total = 0;
    int all_scores = 1;
    for (int i = 0; i < ns; i++) { total += L->shards[i].n_docs; all_scores &= L->shards[i].has_scores; }
    uint64_t cap = total / (uint64_t)cfg->world + 1;
    L->dshard = xmalloc(cap * sizeof *L->dshard);
    L->dlen = xmalloc(cap * sizeof *L->dlen);
    L->dstart = xmalloc(cap * sizeof *L->dstart);
    if (all_scores) L->dscore = xmalloc(cap * sizeof *L->dscore);
    int32_t first = -2;
    for (int i = 0; i < ns; i++) {
        const Shard *s = &L->shards[i];
        for (uint64_t d = 0; d < s->n_docs; d++, g++) {
            uint64_t st, len;
            shard_doc(s, d, &st, &len);
            if (len && s->n_docs) {
                int32_t t0 = (int32_t)shard_token(s, st);
                first = first == -2 ? t0 : first == t0 ? first : -1;
            }
            if (g % (uint64_t)cfg->world != (uint64_t)cfg->rank || len == 0) continue;
            if (len > UINT32_MAX - 1) {
                loader_close(L);
                return fail("%s: document %" PRIu64 " has %" PRIu64 " tokens (the loader handles up to 2^32)", s->path, d, len);
            }
            L->dshard[n] = (uint32_t)i;
            L->dstart[n] = st;
            L->dlen[n] = (uint32_t)len;
            if (L->dscore) L->dscore[n] = shard_doc_score(s, d);
            L->slice_tokens += len;
            n++;
        }
    }
    L->n = n;
    L->bos = first >= 0 ? first : -1;
    // default: whole documents with best-fit packing for training (see loader.h), units of 1024 else
    L->bestfit = cfg->unit_tokens == 0 && !strcmp(split, "train");
    L->unit = cfg->unit_tokens > 0 ? cfg->unit_tokens : L->bestfit ? UINT32_MAX : DEFAULT_UNIT;
    if (L->unit < 2) L->unit = 2;   // a continuation unit is BOS + at least one token
    L->cfg.unit_tokens = L->unit;
    L->ufirst = xmalloc((n + 1) * sizeof *L->ufirst);
    L->ufirst[0] = 0;
    for (uint64_t d = 0; d < n; d++) L->ufirst[d + 1] = L->ufirst[d] + ((uint64_t)L->dlen[d] + L->unit - 1) / L->unit;
    L->n_units = L->ufirst[n];
    if (n == 0) {
        loader_close(L);
        return fail("loader: rank %d of %d has no documents in %s (%s split: %" PRIu64 " documents in all)", cfg->rank,
                    cfg->world, cfg->dir, split, total);
    }
    if (L->n_units > UINT32_MAX) {
        uint32_t u = L->unit;
        loader_close(L);
        return fail("loader: more than 2^32 units of %u tokens per rank; raise unit_tokens", u);
    }
    if ((uint64_t)L->cap > L->n_units) L->cap = (int)L->n_units;   // never buffer the same unit twice ahead
    L->perm = xmalloc(L->n_units * sizeof *L->perm);
    L->buf = xmalloc((size_t)L->cap * sizeof *L->buf);
    if (ensure_by_diff(L) < 0) { loader_close(L); return -1; }
    state_reset(L);
    *out = L;
    return 0;
}

void loader_close(Loader *L) {
    if (!L) return;
    for (int i = 0; i < L->n_shards; i++) shard_close(&L->shards[i]);
    free(L->shards);
    free(L->dshard); free(L->dlen); free(L->dstart); free(L->dscore);
    free(L->by_diff); free(L->perm); free(L->buf); free(L->ufirst);
    free(L->row); free(L->rowpos);
    free(L->dir); free(L->split);
    free(L);
}

void loader_rewind(Loader *L) { state_reset(L); }

// Permutation of the slice's units for epoch e (Fisher-Yates on a stream seeded by (seed, rank, epoch)).
static void build_perm(Loader *L, uint64_t e) {
    Rng r;
    rng_seed_stream(&r, L->cfg.seed ^ ((uint64_t)L->cfg.rank << 40), 0x7065726d0000ULL + e);
    for (uint64_t i = 0; i < L->n_units; i++) L->perm[i] = (uint32_t)i;
    for (uint64_t i = L->n_units - 1; i > 0; i--) {
        uint64_t j = rng_below(&r, i + 1);
        uint32_t t = L->perm[i]; L->perm[i] = L->perm[j]; L->perm[j] = t;
    }
    L->perm_epoch = e;
    L->perm_valid = 1;
}

// Unit u as a piece: its document and token range.
static Piece unit_piece(const Loader *L, uint64_t u) {
    uint64_t lo = 0, hi = L->n;   // ufirst[lo] <= u < ufirst[hi]
    while (hi - lo > 1) { uint64_t m = (lo + hi) / 2; if (L->ufirst[m] <= u) lo = m; else hi = m; }
    uint64_t off = (u - L->ufirst[lo]) * L->unit, end = off + L->unit;
    if (end > L->dlen[lo]) end = L->dlen[lo];
    return (Piece){(uint32_t)lo, (uint32_t)off, (uint32_t)end};
}

static Piece next_piece(Loader *L, int64_t step) {
    const Curriculum *c = &L->cfg.curriculum;
    if (c->order == CUR_ORDER_SHUFFLE) {
        if (!L->perm_valid || L->perm_epoch != L->epoch) build_perm(L, L->epoch);
        uint32_t u = L->perm[L->pos++];
        L->drawn++;
        if (L->pos == L->n_units) { L->pos = 0; L->epoch++; }
        return unit_piece(L, u);
    }
    double r = curriculum_sample_rank(c, step, &L->rng);
    uint64_t k = (uint64_t)(r * (double)L->n_units);
    if (k >= L->n_units) k = L->n_units - 1;
    L->drawn++;
    L->epoch = L->drawn / L->n_units;
    return unit_piece(L, L->by_diff[k]);
}

// Row tokens of a piece: a continuation (off > 0) gets a BOS in front.
static uint64_t piece_len(const Loader *L, Piece p) {
    return (uint64_t)(p.end - p.off) + (p.off > 0 && L->bos >= 0);
}

// Emit the first k tokens of piece p at row[at..]; returns the piece advanced.
static Piece emit(Loader *L, Piece p, uint64_t k, int32_t *row, int32_t *rowpos, int at) {
    const Shard *s = &L->shards[L->dshard[p.doc]];
    uint64_t st = L->dstart[p.doc];
    int32_t *o = row + at;
    uint64_t from = p.off, n = k;
    if (p.off > 0 && L->bos >= 0) { *o++ = L->bos; n--; }
    shard_copy_tokens(s, st + from, n, o);
    for (uint64_t i = 0; i < k; i++) rowpos[at + i] = (int32_t)i;
    p.off = (uint32_t)(from + n);
    return p;
}

// One row of R0 tokens; marks padding with pad flag in rowpos = -1.
// The buffer is kept in draw order. A row starts with the oldest piece; the space
// left takes the oldest pieces that fit whole (first fit: choosing the largest that
// fits instead pulled short documents far ahead of their turn); when none fits, a
// piece is cropped to fill the row and its rest goes back batch_rows - 1 places.
static void build_row_bestfit(Loader *L, int64_t step, int R0, int32_t *row, int32_t *rowpos);

static void build_row(Loader *L, int64_t step, int R0, int32_t *row, int32_t *rowpos) {
    if (L->bestfit) { build_row_bestfit(L, step, R0, row, rowpos); return; }
    int at = 0;
    while (at < R0) {
        while (L->nbuf < L->cap) L->buf[L->nbuf++] = next_piece(L, step);
        uint64_t R = (uint64_t)(R0 - at);
        int best = -1;
        uint64_t bestlen = 0;
        for (int i = 0; i < (at == 0 ? 1 : L->nbuf); i++) {   // a row starts with the oldest piece
            uint64_t len = piece_len(L, L->buf[i]);
            if (len <= R) { best = i; bestlen = len; break; }
        }
        if (best >= 0) {
            emit(L, L->buf[best], bestlen, row, rowpos, at);
            at += (int)bestlen;
            memmove(L->buf + best, L->buf + best + 1, (size_t)(L->nbuf - best - 1) * sizeof *L->buf);   // whole piece used
            L->nbuf--;
        } else if (L->cfg.pad_not_crop && at > 0) {
            for (int i = at; i < R0; i++) { row[i] = L->cfg.pad_id; rowpos[i] = -1; }
            at = R0;
        } else {
            // crop: a piece longer than a whole row must be cut anyway, so among the oldest
            // few take the first such one; else the oldest
            int c = 0;
            for (int i = 0; i < L->nbuf && i < CROP_WINDOW; i++)
                if (piece_len(L, L->buf[i]) > (uint64_t)R0) { c = i; break; }
            Piece rest = emit(L, L->buf[c], R, row, rowpos, at);
            // interleaved (training): the rest waits for the same row of the next batch, so the rows
            // of a batch come from B different places; else it starts the next row
            int to = c + L->batch_rows - 1;
            if (to > L->nbuf - 1) to = L->nbuf - 1;
            memmove(L->buf + c, L->buf + c + 1, (size_t)(to - c) * sizeof *L->buf);
            L->buf[to] = rest;
            at = R0;
        }
    }
}

// The training default: whole documents; the largest buffered piece that fits goes next; when
// none fits, a random piece longer than a row (else the longest) is cropped and its rest stays.
// Short documents go first and long ones wait, so a run shorter than an epoch sees short
// documents and the beginnings of long ones (docs/training.md: measured, and at 400 steps it
// trained a better tiny model than the token-fair stream of the other mode).
static void build_row_bestfit(Loader *L, int64_t step, int R0, int32_t *row, int32_t *rowpos) {
    int at = 0;
    while (at < R0) {
        while (L->nbuf < L->cap) L->buf[L->nbuf++] = next_piece(L, step);
        uint64_t R = (uint64_t)(R0 - at);
        int best = -1, longest = 0;
        uint64_t bestlen = 0, longlen = 0;
        for (int i = 0; i < L->nbuf; i++) {
            uint64_t len = piece_len(L, L->buf[i]);
            if (len <= R && len > bestlen) { best = i; bestlen = len; }
            if (len > longlen) { longest = i; longlen = len; }
        }
        if (best >= 0) {
            emit(L, L->buf[best], bestlen, row, rowpos, at);
            at += (int)bestlen;
            L->buf[best] = L->buf[--L->nbuf];   // whole piece used
        } else if (L->cfg.pad_not_crop && at > 0) {
            for (int i = at; i < R0; i++) { row[i] = L->cfg.pad_id; rowpos[i] = -1; }
            at = R0;
        } else {
            int nlong = 0, pick = longest;
            for (int i = 0; i < L->nbuf; i++) nlong += piece_len(L, L->buf[i]) > (uint64_t)R0;
            if (nlong > 1) {
                int r = (int)rng_below(&L->rng, (uint64_t)nlong);
                for (int i = 0; i < L->nbuf; i++)
                    if (piece_len(L, L->buf[i]) > (uint64_t)R0 && r-- == 0) { pick = i; break; }
            }
            L->buf[pick] = emit(L, L->buf[pick], R, row, rowpos, at);
            at = R0;
        }
    }
}

int loader_next_batch(Loader *L, int64_t step, int B, int T, int32_t *inputs, int32_t *targets, int32_t *pos) {
    if (B <= 0 || T <= 0 || T > (1 << 30)) return fail("loader: batch shape B = %d, T = %d must be positive (T at most 2^30)", B, T);
    if (T + 1 > L->rowcap) {
        L->rowcap = T + 1;
        L->row = xrealloc(L->row, (size_t)L->rowcap * sizeof *L->row);
        L->rowpos = xrealloc(L->rowpos, (size_t)L->rowcap * sizeof *L->rowpos);
    }
    L->batch_rows = L->interleave ? B : 1;
    for (int b = 0; b < B; b++) {
        build_row(L, step, T + 1, L->row, L->rowpos);
        int32_t *in = inputs + (size_t)b * T, *tg = targets + (size_t)b * T;   // [T]
        for (int j = 0; j < T; j++) {
            in[j] = L->row[j];
            tg[j] = L->rowpos[j + 1] < 0 ? -1 : L->row[j + 1];
            if (L->rowpos[j] >= 0) L->tokens++;
            if (pos) pos[(size_t)b * T + j] = L->rowpos[j] < 0 ? 0 : L->rowpos[j];
        }
    }
    return 0;
}

int loader_set_curriculum(Loader *L, const Curriculum *c) {
    TRY(curriculum_validate(c));
    Curriculum old = L->cfg.curriculum;
    L->cfg.curriculum = *c;
    if (c->order != old.order || c->invert != old.invert || !L->by_diff) {
        if (ensure_by_diff(L) < 0) { L->cfg.curriculum = old; return -1; }
    }
    return 0;
}

const Curriculum *loader_curriculum(const Loader *L) { return &L->cfg.curriculum; }

uint64_t loader_epoch(const Loader *L) { return L->epoch; }
uint64_t loader_tokens(const Loader *L) { return L->tokens; }
uint64_t loader_num_docs(const Loader *L) { return L->n; }
uint64_t loader_num_tokens(const Loader *L) { return L->slice_tokens; }
uint32_t loader_vocab_size(const Loader *L) { return L->vocab; }
int loader_has_scores(const Loader *L) { return L->dscore != NULL; }
uint64_t loader_fingerprint(const Loader *L) { return L->fingerprint; }

// ---- cursor -------------------------------------------------------------

static void add_u64(cJSON *o, const char *k, uint64_t v) {
    char s[32];
    snprintf(s, sizeof s, "%" PRIu64, v);
    cJSON_AddStringToObject(o, k, s);
}

static int get_u64(const cJSON *o, const char *k, uint64_t *v) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(x)) return fail("loader cursor: key \"%s\" missing or not a string of digits", k);
    char *end;
    const char *s = x->valuestring;
    if (*s < '0' || *s > '9') return fail("loader cursor: key \"%s\" is \"%s\", not a number", k, s);
    unsigned long long u = strtoull(s, &end, 10);
    if (*end) return fail("loader cursor: key \"%s\" is \"%s\", not a number", k, s);
    *v = u;
    return 0;
}

cJSON *loader_cursor_save(const Loader *L) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "version", CURSOR_VERSION);
    cJSON_AddStringToObject(j, "split", L->split);
    add_u64(j, "seed", L->cfg.seed);
    cJSON_AddNumberToObject(j, "rank", L->cfg.rank);
    cJSON_AddNumberToObject(j, "world", L->cfg.world);
    add_u64(j, "slice_docs", L->n);
    add_u64(j, "slice_tokens", L->slice_tokens);
    add_u64(j, "slice_units", L->n_units);
    cJSON_AddNumberToObject(j, "unit_tokens", L->unit);
    char fp[32];
    snprintf(fp, sizeof fp, "%016" PRIx64, L->fingerprint);
    cJSON_AddStringToObject(j, "tokenizer_fingerprint", fp);
    cJSON_AddNumberToObject(j, "buffer_docs", L->cap);
    cJSON_AddBoolToObject(j, "pad_not_crop", L->cfg.pad_not_crop != 0);
    cJSON_AddBoolToObject(j, "interleave", L->interleave != 0);
    cJSON_AddBoolToObject(j, "bestfit", L->bestfit != 0);
    add_u64(j, "epoch", L->epoch);
    add_u64(j, "pos", L->pos);
    add_u64(j, "drawn", L->drawn);
    add_u64(j, "tokens", L->tokens);
    cJSON *r = cJSON_AddArrayToObject(j, "rng");
    for (int i = 0; i < 4; i++) {
        char s[32];
        snprintf(s, sizeof s, "%016" PRIx64, L->rng.s[i]);
        cJSON_AddItemToArray(r, cJSON_CreateString(s));
    }
    cJSON *b = cJSON_AddArrayToObject(j, "buffer");
    for (int i = 0; i < L->nbuf; i++) {
        cJSON *p = cJSON_CreateArray();
        cJSON_AddItemToArray(p, cJSON_CreateNumber(L->buf[i].doc));
        cJSON_AddItemToArray(p, cJSON_CreateNumber(L->buf[i].off));
        cJSON_AddItemToArray(p, cJSON_CreateNumber(L->buf[i].end));
        cJSON_AddItemToArray(b, p);
    }
    cJSON_AddItemToObject(j, "curriculum", curriculum_to_json(&L->cfg.curriculum));
    return j;
}

int loader_cursor_restore(Loader *L, const cJSON *j) {
    if (!cJSON_IsObject(j)) return fail("loader cursor: expected a JSON object");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "version");
    if (cJSON_IsNumber(v) && v->valueint == 1)
        return fail("loader cursor: version 1 was written by an older deepc (before the loader's units, 29 Nov 2026) "
                    "and this one reads version %d only: start a new run, or resume with the deepc that began it",
                    CURSOR_VERSION);
    if (!cJSON_IsNumber(v) || v->valueint != CURSOR_VERSION)
        return fail("loader cursor: missing or unsupported \"version\" (this deepc writes %d)", CURSOR_VERSION);
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(j, "split");
    if (!cJSON_IsString(sp) || strcmp(sp->valuestring, L->split))
        return fail("loader cursor: it belongs to split \"%s\", this loader reads \"%s\"",
                    cJSON_IsString(sp) ? sp->valuestring : "?", L->split);
    uint64_t seed, nd, nt, nu, epoch, pos, drawn, tokens;
    TRY(get_u64(j, "seed", &seed));
    TRY(get_u64(j, "slice_docs", &nd));
    TRY(get_u64(j, "slice_tokens", &nt));
    TRY(get_u64(j, "slice_units", &nu));
    TRY(get_u64(j, "epoch", &epoch));
    TRY(get_u64(j, "pos", &pos));
    TRY(get_u64(j, "drawn", &drawn));
    TRY(get_u64(j, "tokens", &tokens));
    const cJSON *rk = cJSON_GetObjectItemCaseSensitive(j, "rank"), *wd = cJSON_GetObjectItemCaseSensitive(j, "world");
    if (!cJSON_IsNumber(rk) || !cJSON_IsNumber(wd) || rk->valueint != L->cfg.rank || wd->valueint != L->cfg.world)
        return fail("loader cursor: saved for rank %d of %d, this loader is rank %d of %d; resume with the same "
                    "data-parallel layout", cJSON_IsNumber(rk) ? rk->valueint : -1, cJSON_IsNumber(wd) ? wd->valueint : -1,
                    L->cfg.rank, L->cfg.world);
    if (seed != L->cfg.seed)
        return fail("loader cursor: saved with seed %" PRIu64 ", this loader uses %" PRIu64, seed, L->cfg.seed);
    if (nd != L->n || nt != L->slice_tokens)
        return fail("loader cursor: saved for %" PRIu64 " documents / %" PRIu64 " tokens, but %s now holds %" PRIu64
                    " / %" PRIu64 " for this rank; the shards changed", nd, nt, L->dir, L->n, L->slice_tokens);
    const cJSON *ut = cJSON_GetObjectItemCaseSensitive(j, "unit_tokens");
    if (!cJSON_IsNumber(ut) || ut->valuedouble != (double)L->unit || nu != L->n_units)
        return fail("loader cursor: saved with units of %.0f tokens (%" PRIu64 " units), this loader uses %u (%" PRIu64 ")",
                    cJSON_IsNumber(ut) ? ut->valuedouble : -1.0, nu, L->unit, L->n_units);
    const cJSON *fp = cJSON_GetObjectItemCaseSensitive(j, "tokenizer_fingerprint");
    char want[32];
    snprintf(want, sizeof want, "%016" PRIx64, L->fingerprint);
    if (!cJSON_IsString(fp) || strcmp(fp->valuestring, want))
        return fail("loader cursor: tokenizer fingerprint differs from the shards' (%s)", want);
    const cJSON *bd = cJSON_GetObjectItemCaseSensitive(j, "buffer_docs");
    if (!cJSON_IsNumber(bd) || bd->valueint != L->cap)
        return fail("loader cursor: saved with a best-fit buffer of %d documents, this loader has %d",
                    cJSON_IsNumber(bd) ? bd->valueint : -1, L->cap);
    const cJSON *pc = cJSON_GetObjectItemCaseSensitive(j, "pad_not_crop");
    if (!cJSON_IsBool(pc) || cJSON_IsTrue(pc) != (L->cfg.pad_not_crop != 0))
        return fail("loader cursor: saved with a different pad/crop setting");
    const cJSON *il = cJSON_GetObjectItemCaseSensitive(j, "interleave"), *bf = cJSON_GetObjectItemCaseSensitive(j, "bestfit");
    if (!cJSON_IsBool(il) || cJSON_IsTrue(il) != (L->interleave != 0) || !cJSON_IsBool(bf) ||
        cJSON_IsTrue(bf) != (L->bestfit != 0))
        return fail("loader cursor: saved with a different interleave or packing setting");
    if (pos >= L->n_units) return fail("loader cursor: position %" PRIu64 " beyond the %" PRIu64 " units", pos, L->n_units);
    Rng rng;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "rng");
    if (!cJSON_IsArray(r) || cJSON_GetArraySize(r) != 4) return fail("loader cursor: \"rng\" must be 4 hex strings");
    for (int i = 0; i < 4; i++) {
        const cJSON *x = cJSON_GetArrayItem(r, i);
        char *end;
        if (!cJSON_IsString(x) || !*x->valuestring) return fail("loader cursor: rng[%d] is not a hex string", i);
        rng.s[i] = strtoull(x->valuestring, &end, 16);
        if (*end) return fail("loader cursor: rng[%d] \"%s\" is not a hex string", i, x->valuestring);
    }
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "buffer");
    if (!cJSON_IsArray(b) || cJSON_GetArraySize(b) > L->cap)
        return fail("loader cursor: \"buffer\" must be an array of at most %d [doc, offset, end] triples", L->cap);
    int nb = cJSON_GetArraySize(b);
    Piece *pieces = xmalloc(((size_t)nb + 1) * sizeof *pieces);
    for (int i = 0; i < nb; i++) {
        const cJSON *p = cJSON_GetArrayItem(b, i);
        const cJSON *d = cJSON_GetArrayItem(p, 0), *o = cJSON_GetArrayItem(p, 1), *e = cJSON_GetArrayItem(p, 2);
        int ok = cJSON_IsArray(p) && cJSON_GetArraySize(p) == 3 && cJSON_IsNumber(d) && cJSON_IsNumber(o) &&
                 cJSON_IsNumber(e) && d->valuedouble >= 0 && d->valuedouble < (double)L->n && o->valuedouble >= 0 &&
                 e->valuedouble > o->valuedouble && e->valuedouble <= (double)L->dlen[(uint64_t)d->valuedouble] &&
                 d->valuedouble == floor(d->valuedouble) && o->valuedouble == floor(o->valuedouble) &&
                 e->valuedouble == floor(e->valuedouble);
        if (ok) {   // end must close the unit that holds off
            Piece u = unit_piece(L, L->ufirst[(uint64_t)d->valuedouble] + (uint64_t)o->valuedouble / L->unit);
            ok = (double)u.end == e->valuedouble;
        }
        if (!ok) {
            free(pieces);
            return fail("loader cursor: buffer entry %d is not a valid [document, offset, unit end] triple", i);
        }
        pieces[i].doc = (uint32_t)d->valuedouble;
        pieces[i].off = (uint32_t)o->valuedouble;
        pieces[i].end = (uint32_t)e->valuedouble;
    }
    Curriculum cur;
    if (curriculum_from_json(cJSON_GetObjectItemCaseSensitive(j, "curriculum"), &cur) < 0) {
        free(pieces);
        return fail_ctx("loader cursor");
    }
    if (loader_set_curriculum(L, &cur) < 0) { free(pieces); return -1; }
    L->rng = rng;
    L->epoch = epoch; L->pos = pos; L->drawn = drawn; L->tokens = tokens;
    memcpy(L->buf, pieces, (size_t)nb * sizeof *pieces);
    L->nbuf = nb;
    free(pieces);
    return 0;
}
