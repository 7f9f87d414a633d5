// tokenizer.c — `deepc tokenizer train | encode | decode`.
#include "cli/cli.h"
#include "base/args.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include "data/bpe_train.h"
#include "data/tokenizer.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

static const char *USAGE =
    "usage: deepc tokenizer train  --input PATHS --vocab-size N --out DIR [options]\n"
    "       deepc tokenizer encode --tokenizer DIR (--text S | --file F)   ('-' reads stdin)\n"
    "       deepc tokenizer decode --tokenizer DIR --ids JSON              ('-' reads stdin)\n"
    "\n"
    "train: byte-level BPE with Hugging Face BpeTrainer's merge rules; PATHS is a comma-separated list of\n"
    "files or folders (read recursively); a *.jsonl (or *.jsonl.zst) file gives one document per line (its\n"
    "\"text\"), any other file (*.zst decompressed) is one document. Writes DIR/tokenizer.json and DIR/tokenizer_config.json.\n"
    "encode prints the ids as a JSON array; decode prints the text.";

// ---- documents
typedef struct { char **doc; size_t *len; size_t n, cap; char **bufs; size_t nb; } Docs;

static void docs_add(Docs *d, char *s, size_t n) {
    if (d->n == d->cap) { d->cap = d->cap ? d->cap * 2 : 1024; d->doc = xrealloc(d->doc, d->cap * sizeof *d->doc); d->len = xrealloc(d->len, d->cap * sizeof *d->len); }
    d->doc[d->n] = s; d->len[d->n] = n; d->n++;
}

static int ends_with(const char *s, const char *suf) { size_t a = strlen(s), b = strlen(suf); return a >= b && !strcmp(s + a - b, suf); }

static int read_jsonl(Docs *d, const char *path, char *buf, size_t len) {
    size_t line = 0;
    for (size_t p = 0; p < len;) {
        char *nl = memchr(buf + p, '\n', len - p);
        size_t e = nl ? (size_t)(nl - buf) : len;
        line++;
        if (e > p) {
            cJSON *o;
            char what[512]; snprintf(what, sizeof what, "%s line %zu", path, line);
            if (json_parse(buf + p, e - p, what, &o) < 0) return -1;
            const char *t;
            if (json_str_req(o, "text", what, &t) < 0) { cJSON_Delete(o); return -1; }
            docs_add(d, xstrdup(t), strlen(t));
            d->bufs = xrealloc(d->bufs, (d->nb + 1) * sizeof *d->bufs); d->bufs[d->nb++] = d->doc[d->n - 1];
            cJSON_Delete(o);
        }
        p = e + 1;
    }
    free(buf);
    return 0;
}

// Decompress a whole .zst file held in buf (frees buf).
static int unzstd(const char *path, char **buf, size_t *len) {
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    size_t cap = *len * 4 + 4096, n = 0;
    char *out = xmalloc(cap);
    ZSTD_inBuffer in = {*buf, *len, 0};
    size_t r = 1;
    while (in.pos < in.size) {
        if (cap - n < 65536) { cap *= 2; out = xrealloc(out, cap); }
        ZSTD_outBuffer ob = {out + n, cap - n - 1, 0};
        r = ZSTD_decompressStream(dc, &ob, &in);
        if (ZSTD_isError(r)) {
            ZSTD_freeDCtx(dc); free(out); free(*buf);
            return fail("%s: zstd data is corrupt near compressed byte %zu: %s", path, in.pos, ZSTD_getErrorName(r));
        }
        n += ob.pos;
        if (r == 0 && in.pos == in.size) break;
        if (ob.pos == 0 && in.pos == in.size) break;
    }
    ZSTD_freeDCtx(dc);
    free(*buf);
    if (r != 0) { free(out); return fail("%s: zstd data ends in the middle of a frame (truncated file?)", path); }
    out[n] = 0;
    *buf = out; *len = n;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int read_path(Docs *d, const char *path) {
    if (io_is_dir(path)) {
        DIR *dir = opendir(path);
        if (!dir) return fail("cannot open folder %s", path);
        char **names = NULL; size_t nn = 0;
        struct dirent *e;
        while ((e = readdir(dir))) {
            if (e->d_name[0] == '.') continue;
            names = xrealloc(names, (nn + 1) * sizeof *names);
            names[nn++] = path_join(path, e->d_name);
        }
        closedir(dir);
        qsort(names, nn, sizeof *names, cmp_str);
        int rc = 0;
        for (size_t i = 0; i < nn; i++) { if (!rc && read_path(d, names[i]) < 0) rc = -1; free(names[i]); }
        free(names);
        return rc;
    }
    char *buf; size_t len;
    TRY(io_read_all(path, &buf, &len));
    if (ends_with(path, ".zst")) TRY(unzstd(path, &buf, &len));
    if (ends_with(path, ".jsonl") || ends_with(path, ".jsonl.zst")) return read_jsonl(d, path, buf, len);
    docs_add(d, buf, len);
    d->bufs = xrealloc(d->bufs, (d->nb + 1) * sizeof *d->bufs); d->bufs[d->nb++] = buf;
    return 0;
}

static int cmd_train(int argc, char **argv) {
    Opt o[] = {
        {"--input", "PATHS", "comma-separated files / folders / *.jsonl", NULL, NULL, 0},
        {"--vocab-size", "N", "vocabulary size, special tokens included", NULL, NULL, 0},
        {"--out", "DIR", "output folder", NULL, NULL, 0},
        {"--regex", "RE", "one Split regex instead of DeepSeek-V3's three (digits, CJK, the rest)", NULL, NULL, 0},
        {"--min-frequency", "N", "stop when the best pair occurs fewer times", "0", NULL, 0},
        {"--quiet", NULL, "no progress output", NULL, NULL, 0},
    };
    int no = sizeof o / sizeof *o;
    args_parse(argc, argv, o, no, USAGE, NULL, NULL);
    const char *in = opt_str(o, no, "--input"), *out = opt_str(o, no, "--out");
    if (!in || !out || !opt_str(o, no, "--vocab-size")) { args_usage(USAGE, o, no); fatal("train needs --input, --vocab-size and --out"); }
    long long vs = opt_int(o, no, "--vocab-size");
    if (vs < 1 || vs > 16000000) fatal("--vocab-size %lld is out of range 1..16000000", vs);
    const char *re = opt_str(o, no, "--regex");
    const char *pats3[3] = {PRETOK_DSV3_DIGITS, PRETOK_DSV3_CJK, PRETOK_DSV3_MAIN};
    const char *const *pats = re ? &re : pats3;
    int np = re ? 1 : 3;
    Pretok pre = {0};
    for (int i = 0; i < np; i++) if (pretok_add_split_regex(&pre, pats[i], SPLIT_ISOLATED, 0) < 0) fatal_last();
    pretok_add_bytelevel(&pre, 0, 0);
    Docs d = {0};
    char *list = xstrdup(in), *save = NULL;
    for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save))
        if (read_path(&d, p) < 0) fatal_last();
    free(list);
    if (!d.n) fatal("--input %s holds no documents", in);
    const char *specials[] = {TOK_BOS, TOK_EOS, TOK_PAD, TOK_USER, TOK_ASSISTANT, TOK_SYSTEM,
                              TOK_THINK, TOK_THINK_END, TOK_FIM_BEGIN, TOK_FIM_HOLE, TOK_FIM_END};
    int quiet = opt_flag(o, no, "--quiet");
    BpeMap counts; bpe_map_init(&counts, 1 << 16);
    bpe_count_words(&pre, (const char *const *)d.doc, d.len, d.n, &counts, quiet);
    BpeVocab v;
    if (bpe_train(&counts, (int)vs, specials, (int)(sizeof specials / sizeof *specials), (int)opt_int(o, no, "--min-frequency"), quiet, &v) < 0) fatal_last();
    if (bpe_write_tokenizer(out, &v, pats, np) < 0) fatal_last();
    if (!quiet) fprintf(stderr, "tokenizer: %d tokens (%zu merges) from %zu documents written to %s\n", v.V, v.n_merges, d.n, out);
    bpe_vocab_free(&v);
    bpe_map_free(&counts);
    pretok_free(&pre);
    for (size_t i = 0; i < d.nb; i++) free(d.bufs[i]);
    free(d.bufs); free(d.doc); free(d.len);
    return 0;
}

static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *b = xmalloc(cap);
    size_t r;
    while ((r = fread(b + n, 1, cap - n - 1, stdin)) > 0) { n += r; if (n + 1 >= cap) { cap *= 2; b = xrealloc(b, cap); } }
    b[n] = 0; *len = n;
    return b;
}

static Tokenizer *load_or_die(const char *dir) {
    if (!dir) fatal("--tokenizer DIR is required");
    Tokenizer *t;
    if (tok_load(dir, &t) < 0) fatal_last();
    return t;
}

static int cmd_encode(int argc, char **argv) {
    Opt o[] = {
        {"--tokenizer", "DIR", "folder with tokenizer.json (or the file)", NULL, NULL, 0},
        {"--text", "S", "text to encode ('-' = stdin)", NULL, NULL, 0},
        {"--file", "F", "file to encode ('-' = stdin)", NULL, NULL, 0},
        {"--no-special", NULL, "special token strings in the text stay plain text", NULL, NULL, 0},
    };
    int no = sizeof o / sizeof *o;
    args_parse(argc, argv, o, no, USAGE, NULL, NULL);
    const char *text = opt_str(o, no, "--text"), *file = opt_str(o, no, "--file");
    if (!!text == !!file) fatal("encode needs exactly one of --text S or --file F");
    Tokenizer *t = load_or_die(opt_str(o, no, "--tokenizer"));
    char *buf; size_t len;
    const char *src = text ? text : file;
    if (!strcmp(src, "-")) buf = read_stdin(&len);
    else if (text) { buf = xstrdup(text); len = strlen(text); }
    else if (io_read_all(file, &buf, &len) < 0) fatal_last();
    int32_t *ids; size_t n;
    if (tok_encode(t, buf, len, !opt_flag(o, no, "--no-special"), &ids, &n) < 0) fatal_last();
    fputc('[', stdout);
    for (size_t i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
    fputs("]\n", stdout);
    free(ids); free(buf); tok_free(t);
    return 0;
}

static int cmd_decode(int argc, char **argv) {
    Opt o[] = {
        {"--tokenizer", "DIR", "folder with tokenizer.json (or the file)", NULL, NULL, 0},
        {"--ids", "JSON", "a JSON array of ids ('-' = stdin)", NULL, NULL, 0},
    };
    int no = sizeof o / sizeof *o;
    args_parse(argc, argv, o, no, USAGE, NULL, NULL);
    const char *js = opt_str(o, no, "--ids");
    if (!js) fatal("decode needs --ids JSON");
    Tokenizer *t = load_or_die(opt_str(o, no, "--tokenizer"));
    char *buf; size_t len;
    if (!strcmp(js, "-")) buf = read_stdin(&len); else { buf = xstrdup(js); len = strlen(js); }
    cJSON *arr;
    if (json_parse(buf, len, "--ids", &arr) < 0) fatal_last();
    if (!cJSON_IsArray(arr)) fatal("--ids: expected a JSON array of integers such as [1, 2, 3]");
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
    int32_t *ids = xmalloc((n + 1) * sizeof *ids);
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (!cJSON_IsNumber(e) || e->valuedouble != (double)(long long)e->valuedouble || e->valuedouble < -2147483648.0 || e->valuedouble > 2147483647.0)
            fatal("--ids: element %zu is not an integer id", i);
        ids[i++] = (int32_t)e->valuedouble;
    }
    char *out; size_t ol;
    if (tok_decode(t, ids, n, &out, &ol) < 0) fatal_last();
    fwrite(out, 1, ol, stdout);
    fflush(stdout);
    free(out); free(ids); cJSON_Delete(arr); free(buf); tok_free(t);
    return 0;
}

int cmd_tokenizer(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(stderr, "%s\n", USAGE);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "encode")) return cmd_encode(argc - 1, argv + 1);
    if (!strcmp(argv[1], "decode")) return cmd_decode(argc - 1, argv + 1);
    fprintf(stderr, "deepc: error: unknown tokenizer command \"%s\" (train, encode or decode)\n\n%s\n", argv[1], USAGE);
    return 2;
}
