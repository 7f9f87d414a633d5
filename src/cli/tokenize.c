// tokenize.c — `deepc tokenize`: documents -> token shards (train_XXXX.bin, val_XXXX.bin) + manifest.json.
//
// Documents are read in order, encoded in parallel batches (OpenMP), and written
// in input order, so the output does not depend on the thread count. Each
// document becomes BOS + tokens + EOS; with --fim-rate some become
// BOS + FIM_BEGIN prefix FIM_HOLE suffix FIM_END middle + EOS. The val split is
// chosen by a hash of the document text. Everything is written into a temp
// folder that replaces --out only when complete.
#include "cli/cli.h"
#include "base/args.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include "base/progress.h"
#include "data/docs.h"
#include "data/fim.h"
#include "data/shard.h"
#include "data/tokenizer.h"
#include <dirent.h>
#include <inttypes.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

static const char *USAGE =
    "usage: deepc tokenize --tokenizer DIR --input PATHS --out DIR [options] [more input paths]\n"
    "       deepc tokenize --check DIR|SHARD      (validate shards, print counts)\n"
    "\n"
    "Turns documents into token shards for `deepc pretrain`. PATHS is a comma-separated list of files or\n"
    "folders (read recursively, hidden entries skipped): *.jsonl / *.json / *.ndjson hold one JSON object per\n"
    "line (the document is its --text-field; \"a,b\" joins fields with a newline), any other file is one\n"
    "document; a .zst ending is decompressed on the fly. Each document becomes BOS + tokens + EOS.\n"
    "Writes OUT/train_XXXX.bin, OUT/val_XXXX.bin and OUT/manifest.json (format: docs/formats.md).";

#define BATCH_BYTES (16u << 20)   // text per parallel batch
#define BATCH_DOCS 8192

typedef struct {
    ShardWriter *w;
    const char *split;
    int index;                    // number of the open shard
    uint64_t tokens, docs;        // totals over committed + open shards
    cJSON *list;                  // [{file, tokens, docs}]
} Split;

typedef struct {
    const char *tmpdir;
    uint32_t vocab;
    uint64_t fingerprint;
    int with_scores;
    uint64_t shard_tokens;
} Out;

static int split_commit(Split *s, const Out *o) {
    if (!s->w) return 0;
    uint64_t t = shard_writer_tokens(s->w), d = shard_writer_docs(s->w);
    TRY(shard_writer_commit(s->w));
    s->w = NULL;
    char name[64];
    snprintf(name, sizeof name, "%s_%04d.bin", s->split, s->index);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "file", name);
    cJSON_AddNumberToObject(e, "tokens", (double)t);
    cJSON_AddNumberToObject(e, "docs", (double)d);
    cJSON_AddItemToArray(s->list, e);
    s->index++;
    (void)o;
    return 0;
}

static int split_add(Split *s, const Out *o, const int32_t *ids, size_t n, float score) {
    if (s->w && shard_writer_docs(s->w) > 0 && shard_writer_tokens(s->w) + n > o->shard_tokens) TRY(split_commit(s, o));
    if (!s->w) {
        char name[64];
        snprintf(name, sizeof name, "%s_%04d.bin", s->split, s->index);
        char *p = path_join(o->tmpdir, name);
        int r = shard_writer_open(&s->w, p, o->vocab, o->fingerprint, o->with_scores);
        free(p);
        TRY(r);
    }
    TRY(shard_writer_add(s->w, ids, n, score));
    s->tokens += n;
    s->docs++;
    return 0;
}

typedef struct {
    char **text; size_t *len; float *score; char **where;   // [n] documents of the batch
    int32_t **ids; size_t *nids; int *val, *fim;            // [n] results
    size_t n, cap;
} Batch;

static void batch_clear(Batch *b) {
    for (size_t i = 0; i < b->n; i++) { free(b->text[i]); free(b->ids[i]); free(b->where[i]); b->ids[i] = NULL; }
    b->n = 0;
}

static void batch_push(Batch *b, const Doc *d) {
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 1024;
        b->text = xrealloc(b->text, b->cap * sizeof *b->text);
        b->len = xrealloc(b->len, b->cap * sizeof *b->len);
        b->score = xrealloc(b->score, b->cap * sizeof *b->score);
        b->where = xrealloc(b->where, b->cap * sizeof *b->where);
        b->ids = xrealloc(b->ids, b->cap * sizeof *b->ids);
        b->nids = xrealloc(b->nids, b->cap * sizeof *b->nids);
        b->val = xrealloc(b->val, b->cap * sizeof *b->val);
        b->fim = xrealloc(b->fim, b->cap * sizeof *b->fim);
    }
    size_t i = b->n++;
    b->text[i] = xmalloc(d->len + 1);
    memcpy(b->text[i], d->text, d->len);
    b->text[i][d->len] = 0;
    b->len[i] = d->len;
    b->score[i] = d->score;
    char w[64];
    snprintf(w, sizeof w, ":%" PRIu64, d->line);
    size_t sl = strlen(d->source);
    b->where[i] = xmalloc(sl + strlen(w) + 1);
    memcpy(b->where[i], d->source, sl);
    strcpy(b->where[i] + sl, d->line ? w : "");
    b->ids[i] = NULL;
}

typedef struct {
    const Tokenizer *tok;
    int32_t bos, eos;
    FimConfig fim;
    FimTokens ft;
    double val_fraction;
    uint64_t seed;
} Enc;

// Encode one document: BOS + (plain | PSM) + EOS. Thread-safe.
static int encode_doc(const Enc *e, const char *text, size_t len, int32_t **out, size_t *nout, int *is_val, int *is_fim) {
    uint64_t h = XXH64(text, len, e->seed);
    *is_val = (double)(h >> 11) * (1.0 / 9007199254740992.0) < e->val_fraction;
    size_t a, b;
    *is_fim = fim_split(&e->fim, h ^ 0x46494d46494d4649ULL, text, len, &a, &b);
    if (!*is_fim) {
        int32_t *ids; size_t n;
        TRY(tok_encode(e->tok, text, len, 0, &ids, &n));
        int32_t *o = xmalloc((n + 2) * sizeof *o);
        o[0] = e->bos;
        memcpy(o + 1, ids, n * sizeof *o);
        o[n + 1] = e->eos;
        free(ids);
        *out = o; *nout = n + 2;
        return 0;
    }
    int32_t *p, *m, *s; size_t np, nm, ns;
    TRY(tok_encode(e->tok, text, a, 0, &p, &np));
    if (tok_encode(e->tok, text + a, b - a, 0, &m, &nm) < 0) { free(p); return -1; }
    if (tok_encode(e->tok, text + b, len - b, 0, &s, &ns) < 0) { free(p); free(m); return -1; }
    int32_t *o = xmalloc((np + nm + ns + 5) * sizeof *o);
    o[0] = e->bos;
    size_t k = 1 + fim_assemble(&e->ft, p, np, s, ns, m, nm, o + 1);
    o[k++] = e->eos;
    free(p); free(m); free(s);
    *out = o; *nout = k;
    return 0;
}

static int dir_is_empty(const char *path) {
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) { empty = 0; break; }
    closedir(d);
    return empty;
}

// Split a comma-separated list into paths (appended to *v).
static void add_list(char ***v, int *n, const char *list) {
    char *c = xstrdup(list), *save = NULL;
    for (char *t = strtok_r(c, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        *v = xrealloc(*v, (*n + 1) * sizeof **v);
        (*v)[(*n)++] = xstrdup(t);
    }
    free(c);
}

// `deepc tokenize --check DIR|FILE`: validate shards (every check of shard_open) and print their counts.
static int check_shards(const char *path) {
    char **files = NULL; int n = 0;
    if (io_is_dir(path)) {
        DIR *d = opendir(path);
        if (!d) fatal("cannot open folder %s", path);
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l > 4 && !strcmp(e->d_name + l - 4, ".bin") && e->d_name[0] != '.') {
                files = xrealloc(files, (n + 1) * sizeof *files);
                files[n++] = path_join(path, e->d_name);
            }
        }
        closedir(d);
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && strcmp(files[j - 1], files[j]) > 0; j--) { char *t = files[j]; files[j] = files[j - 1]; files[j - 1] = t; }
        if (n == 0) fatal("no .bin shards in %s", path);
    } else {
        files = xmalloc(sizeof *files);
        files[n++] = xstrdup(path);
    }
    uint64_t tokens = 0, docs = 0;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        Shard s;
        if (shard_open(&s, files[i], 0, 0) < 0) { fprintf(stderr, "deepc: error: %s\n", last_error()); bad++; continue; }
        printf("%s: %" PRIu64 " tokens, %" PRIu64 " documents, vocab %u, %d-byte ids, tokenizer %016" PRIx64 "%s\n", files[i],
               s.n_tokens, s.n_docs, s.vocab_size, s.width, s.fingerprint, s.has_scores ? ", scores" : "");
        tokens += s.n_tokens; docs += s.n_docs;
        shard_close(&s);
    }
    printf("%d shard(s) valid, %d invalid: %" PRIu64 " tokens, %" PRIu64 " documents\n", n - bad, bad, tokens, docs);
    for (int i = 0; i < n; i++) free(files[i]);
    free(files);
    return bad ? 1 : 0;
}

int cmd_tokenize(int argc, char **argv) {
    Opt o[] = {
        {"--tokenizer", "DIR", "tokenizer folder (or tokenizer.json file)", NULL, NULL, 0},
        {"--input", "PATHS", "comma-separated files or folders of documents", NULL, NULL, 0},
        {"--out", "DIR", "output folder for shards and manifest.json (replaced when complete)", NULL, NULL, 0},
        {"--val-fraction", "F", "fraction of documents (by text hash) for the val split", "0", NULL, 0},
        {"--shard-tokens", "N", "tokens per shard at most (documents are never split)", "100000000", NULL, 0},
        {"--text-field", "NAME", "JSONL field holding the text (\"a,b\" joins fields)", "text", NULL, 0},
        {"--score-field", "NAME", "JSONL numeric field stored as the per-document score", NULL, NULL, 0},
        {"--fim-rate", "F", "fraction of documents given the fill-in-the-middle (PSM) transform", "0", NULL, 0},
        {"--seed", "N", "seed for the val split and FIM decisions", "0", NULL, 0},
        {"--threads", "N", "encoding threads (0 = all cores)", "0", NULL, 0},
        {"--check", "PATH", "only validate the shards in a folder (or one shard) and print their counts", NULL, NULL, 0},
    };
    int no = (int)(sizeof o / sizeof *o);
    char *pos[256];
    int npos = 256;
    args_parse(argc, argv, o, no, USAGE, pos, &npos);
    if (opt_str(o, no, "--check")) return check_shards(opt_str(o, no, "--check"));
    const char *tokdir = opt_str(o, no, "--tokenizer");
    char *outdir = opt_str(o, no, "--out") ? xstrdup(opt_str(o, no, "--out")) : NULL;
    for (size_t l = outdir ? strlen(outdir) : 0; l > 1 && outdir[l - 1] == '/'; l--) outdir[l - 1] = 0;   // "out/" -> "out"
    if (outdir && !strcmp(outdir, "/")) fatal("--out / is not a sensible output folder");
    char **inputs = NULL; int ninputs = 0;
    if (opt_str(o, no, "--input")) add_list(&inputs, &ninputs, opt_str(o, no, "--input"));
    for (int i = 0; i < npos; i++) add_list(&inputs, &ninputs, pos[i]);
    if (!tokdir || !outdir || ninputs == 0) {
        args_usage(USAGE, o, no);
        fatal("tokenize needs --tokenizer, --input and --out");
    }
    double valf = opt_num(o, no, "--val-fraction"), fimr = opt_num(o, no, "--fim-rate");
    long long shard_tokens = opt_int(o, no, "--shard-tokens"), seed = opt_int(o, no, "--seed");
    long long threads = opt_int(o, no, "--threads");
    if (!(valf >= 0 && valf < 1)) fatal("--val-fraction %g must be in [0, 1)", valf);
    if (!(fimr >= 0 && fimr <= 1)) fatal("--fim-rate %g must be in [0, 1]", fimr);
    if (shard_tokens < 1024) fatal("--shard-tokens %lld is too small (at least 1024)", shard_tokens);
    if (threads < 0 || threads > 4096) fatal("--threads %lld out of range", threads);
    if (threads > 0) omp_set_num_threads((int)threads);
    const char *score_field = opt_str(o, no, "--score-field");

    Tokenizer *tok;
    if (tok_load(tokdir, &tok) < 0) fatal_last();
    Enc enc = {0};
    enc.tok = tok;
    enc.bos = tok_bos(tok);
    enc.eos = tok_eos(tok);
    if (enc.bos < 0 || enc.eos < 0)
        fatal("tokenizer %s has no %s token; shards need BOS and EOS (train one with `deepc tokenizer train`)", tokdir,
              enc.bos < 0 ? "BOS" : "EOS");
    enc.val_fraction = valf;
    enc.seed = (uint64_t)seed;
    enc.fim.rate = fimr;
    enc.fim.seed = (uint64_t)seed;
    if (fimr > 0) {
        enc.ft.begin = tok_token_id(tok, TOK_FIM_BEGIN);
        enc.ft.hole = tok_token_id(tok, TOK_FIM_HOLE);
        enc.ft.end = tok_token_id(tok, TOK_FIM_END);
        if (enc.ft.begin < 0 || enc.ft.hole < 0 || enc.ft.end < 0)
            fatal("--fim-rate needs the tokens %s, %s and %s, which tokenizer %s lacks", TOK_FIM_BEGIN, TOK_FIM_HOLE,
                  TOK_FIM_END, tokdir);
    }
    Out out = {0};
    out.vocab = (uint32_t)tok_vocab_size(tok);
    if (shard_tokenizer_fingerprint(tokdir, &out.fingerprint) < 0) fatal_last();
    out.with_scores = score_field != NULL;
    out.shard_tokens = (uint64_t)shard_tokens;

    // the output folder: ours to replace (absent, empty, or holding a manifest.json), built beside it
    if (io_exists(outdir)) {
        if (!io_is_dir(outdir)) fatal("--out %s exists and is not a folder", outdir);
        char *m = path_join(outdir, "manifest.json");
        int ours = io_exists(m);
        free(m);
        if (!ours && !dir_is_empty(outdir))
            fatal("--out %s is a non-empty folder without a manifest.json; choose a new or empty folder", outdir);
    }
    size_t tl = strlen(outdir) + 48;
    char *tmpdir = xmalloc(tl);
    snprintf(tmpdir, tl, "%s.partial.%d", outdir, (int)getpid());
    io_rm_rf(tmpdir);
    if (io_mkdir_p(tmpdir) < 0) fatal_last();
    out.tmpdir = tmpdir;

    DocReader *rd;
    if (docs_open(&rd, inputs, ninputs, opt_str(o, no, "--text-field"), score_field) < 0) { io_rm_rf(tmpdir); fatal_last(); }
    Split tr = {.split = "train", .list = cJSON_CreateArray()}, va = {.split = "val", .list = cJSON_CreateArray()};
    Batch b = {0};
    Progress pg;
    progress_start(&pg, "tokenize", (double)docs_total_bytes(rd) / 1e6, "MB");
    uint64_t n_docs = 0, n_empty = 0, n_fim = 0, text_bytes = 0;
    double t0 = now_seconds();
    int rc = 0, done = 0;
    while (!done && rc == 0) {
        size_t bytes = 0;
        Doc d;
        while (bytes < BATCH_BYTES && b.n < BATCH_DOCS) {
            int r = docs_next(rd, &d);
            if (r < 0) { rc = -1; break; }
            if (r == 0) { done = 1; break; }
            if (d.len == 0) { n_empty++; continue; }
            batch_push(&b, &d);
            bytes += d.len;
        }
        if (rc < 0) break;
        // encode in parallel; keep the first failure (in input order)
        long bad = -1;
        char badmsg[1024] = "";
        #pragma omp parallel for schedule(dynamic, 16)
        for (long i = 0; i < (long)b.n; i++) {
            if (encode_doc(&enc, b.text[i], b.len[i], &b.ids[i], &b.nids[i], &b.val[i], &b.fim[i]) < 0) {
                #pragma omp critical(tokenize_err)
                if (bad < 0 || i < bad) { bad = i; snprintf(badmsg, sizeof badmsg, "%s", last_error()); }
            }
        }
        if (bad >= 0) { rc = fail("%s: %s", b.where[bad], badmsg); break; }
        for (size_t i = 0; i < b.n && rc == 0; i++) {
            Split *s = b.val[i] ? &va : &tr;
            rc = split_add(s, &out, b.ids[i], b.nids[i], b.score[i]);
            n_docs++;
            n_fim += b.fim[i];
            text_bytes += b.len[i];
        }
        batch_clear(&b);
        progress_update(&pg, (double)docs_bytes_done(rd) / 1e6);
    }
    if (rc == 0) rc = split_commit(&tr, &out);
    if (rc == 0) rc = split_commit(&va, &out);
    if (rc == 0 && n_docs == 0) rc = fail("the inputs hold no (non-empty) documents");
    if (rc < 0) {
        shard_writer_abort(tr.w); shard_writer_abort(va.w);
        io_rm_rf(tmpdir);
        fatal_last();
    }
    progress_end(&pg);
    double secs = now_seconds() - t0;

    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "format", "deepc token shards");
    cJSON_AddNumberToObject(m, "version", SHARD_VERSION);
    char fp[32];
    snprintf(fp, sizeof fp, "%016" PRIx64, out.fingerprint);
    cJSON_AddStringToObject(m, "tokenizer_fingerprint", fp);
    cJSON_AddNumberToObject(m, "vocab_size", out.vocab);
    cJSON_AddNumberToObject(m, "token_width", out.vocab <= 65536 ? 2 : 4);
    cJSON_AddNumberToObject(m, "bos_id", enc.bos);
    cJSON_AddNumberToObject(m, "eos_id", enc.eos);
    cJSON_AddNumberToObject(m, "documents", (double)n_docs);
    cJSON_AddNumberToObject(m, "text_bytes", (double)text_bytes);
    cJSON_AddNumberToObject(m, "empty_documents_skipped", (double)n_empty);
    cJSON_AddNumberToObject(m, "binary_files_skipped", (double)docs_skipped_files(rd));
    cJSON_AddNumberToObject(m, "fim_documents", (double)n_fim);
    cJSON_AddNumberToObject(m, "fim_rate", fimr);
    cJSON_AddNumberToObject(m, "val_fraction", valf);
    cJSON_AddNumberToObject(m, "seed", (double)seed);
    cJSON_AddStringToObject(m, "text_field", opt_str(o, no, "--text-field"));
    if (score_field) cJSON_AddStringToObject(m, "score_field", score_field);
    else cJSON_AddNullToObject(m, "score_field");
    Split *sp[2] = {&tr, &va};
    for (int i = 0; i < 2; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddNumberToObject(s, "tokens", (double)sp[i]->tokens);
        cJSON_AddNumberToObject(s, "docs", (double)sp[i]->docs);
        cJSON_AddItemToObject(s, "shards", sp[i]->list);
        cJSON_AddItemToObject(m, sp[i]->split, s);
    }
    // the tokenizer travels with its shards (pretrain reads SHARDS/tokenizer.json for bits per byte and samples)
    const char *names[2] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2; i++) {
        char *src = io_is_dir(tokdir) ? path_join(tokdir, names[i])
                                      : (i == 0 ? xstrdup(tokdir) : NULL);
        if (src && io_exists(src)) {
            char *buf; size_t len;
            char *dst = path_join(tmpdir, names[i]);
            if (io_read_all(src, &buf, &len) < 0 || io_write_file(dst, buf, len) < 0) { io_rm_rf(tmpdir); fatal_last(); }
            free(buf); free(dst);
        }
        free(src);
    }
    char *mp = path_join(tmpdir, "manifest.json");
    if (json_save_file(mp, m) < 0) { io_rm_rf(tmpdir); fatal_last(); }
    free(mp);
    cJSON_Delete(m);
    // swap the finished folder in
    char *old = NULL;
    if (io_exists(outdir)) {
        old = xmalloc(tl);
        snprintf(old, tl, "%s.old.%d", outdir, (int)getpid());
        if (rename(outdir, old) != 0) { io_rm_rf(tmpdir); fatal("cannot move the old %s aside: %m", outdir); }
    }
    if (rename(tmpdir, outdir) != 0) fatal("cannot rename %s to %s: %m (the shards are complete in %s)", tmpdir, outdir, tmpdir);
    if (old) { io_rm_rf(old); free(old); }
    if (docs_skipped_files(rd))
        fprintf(stderr, "deepc: note: %" PRIu64 " binary file(s) skipped (a NUL byte in the first 8 KiB)\n",
                docs_skipped_files(rd));
    fprintf(stderr, "tokenize: %" PRIu64 " documents (%" PRIu64 " with FIM), %.1f MB of text -> train %" PRIu64
            " tokens in %d shard(s), val %" PRIu64 " tokens in %d shard(s); %.2f MB/s on %d threads; wrote %s\n",
            n_docs, n_fim, text_bytes / 1e6, tr.tokens, tr.index, va.tokens, va.index,
            secs > 0 ? text_bytes / 1e6 / secs : 0.0, omp_get_max_threads(), outdir);
    docs_close(rd);
    batch_clear(&b);
    free(b.text); free(b.len); free(b.score); free(b.where); free(b.ids); free(b.nids); free(b.val); free(b.fim);
    for (int i = 0; i < ninputs; i++) free(inputs[i]);
    free(inputs);
    free(tmpdir);
    free(outdir);
    tok_free(tok);
    return 0;
}
