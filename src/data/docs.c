// docs.c — documents from text files, folders, JSONL and zstd-compressed JSONL (streamed).
#include "data/docs.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

typedef struct { char *path; uint64_t size; } FileEntry;

struct DocReader {
    FileEntry *files; int nfiles, cur;     // cur: index of the open file (or next to open)
    char **fields; int nfields;            // text field names, joined with "\n"
    char *score_field;
    uint64_t total, done_before;           // bytes of all files; bytes of files already finished
    // open file
    FILE *f; int zst, jsonl, open;
    ZSTD_DCtx *dctx;
    char *in; size_t in_cap;
    ZSTD_inBuffer zin;
    int in_eof;
    size_t zret;                           // last decompressStream result that moved data (0 = frame complete)
    uint64_t consumed;                     // compressed bytes read from the open file
    // line buffer (JSONL)
    char *lb; size_t lb_start, lb_len, lb_cap;
    uint64_t line;
    // current document text
    char *text; size_t text_cap;
    uint64_t skipped;
};

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

static int cmp_entry(const void *a, const void *b) { return strcmp(((const FileEntry *)a)->path, ((const FileEntry *)b)->path); }

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int add_path(DocReader *r, const char *path, int *cap, int top) {
    struct stat st;
    if (stat(path, &st) != 0) return fail("cannot read input %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return fail("cannot open folder %s: %s", path, strerror(errno));
        int first = r->nfiles;
        char **subdirs = NULL; int nsub = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;   // hidden entries, "." and ".."
            char *p = path_join(path, e->d_name);
            struct stat s2;
            if (stat(p, &s2) != 0) { free(p); continue; }
            if (S_ISDIR(s2.st_mode)) { subdirs = xrealloc(subdirs, (nsub + 1) * sizeof *subdirs); subdirs[nsub++] = p; continue; }
            if (!S_ISREG(s2.st_mode)) { free(p); continue; }
            if (r->nfiles == *cap) r->files = xrealloc(r->files, (*cap = *cap ? *cap * 2 : 64) * sizeof *r->files);
            r->files[r->nfiles].path = p;
            r->files[r->nfiles].size = (uint64_t)s2.st_size;
            r->nfiles++;
        }
        closedir(d);
        // folders after files at each level, each group sorted: deterministic order
        qsort(r->files + first, r->nfiles - first, sizeof *r->files, cmp_entry);
        if (nsub) qsort(subdirs, nsub, sizeof *subdirs, cmp_str);
        int rc = 0;
        for (int i = 0; i < nsub; i++) {
            if (rc == 0) rc = add_path(r, subdirs[i], cap, 0);
            free(subdirs[i]);
        }
        free(subdirs);
        return rc;
    }
    (void)top;
    if (!S_ISREG(st.st_mode)) return fail("input %s is not a regular file or folder", path);
    if (r->nfiles == *cap) r->files = xrealloc(r->files, (*cap = *cap ? *cap * 2 : 64) * sizeof *r->files);
    r->files[r->nfiles].path = xstrdup(path);
    r->files[r->nfiles].size = (uint64_t)st.st_size;
    r->nfiles++;
    return 0;
}

int docs_open(DocReader **out, char *const *paths, int npaths, const char *text_field, const char *score_field) {
    *out = NULL;
    if (npaths <= 0) return fail("no input paths given");
    DocReader *r = xcalloc(1, sizeof *r);
    int cap = 0;
    for (int i = 0; i < npaths; i++)
        if (add_path(r, paths[i], &cap, 1) < 0) { docs_close(r); return -1; }
    if (r->nfiles == 0) { docs_close(r); return fail("no files found in the input paths (hidden files are skipped)"); }
    for (int i = 0; i < r->nfiles; i++) r->total += r->files[i].size;
    const char *tf = text_field && *text_field ? text_field : "text";
    // comma-separated field list
    char *copy = xstrdup(tf), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        r->fields = xrealloc(r->fields, (r->nfields + 1) * sizeof *r->fields);
        r->fields[r->nfields++] = xstrdup(tok);
    }
    free(copy);
    if (r->nfields == 0) { docs_close(r); return fail("--text-field \"%s\" names no field", tf); }
    r->score_field = score_field && *score_field ? xstrdup(score_field) : NULL;
    r->in_cap = ZSTD_DStreamInSize();
    r->in = xmalloc(r->in_cap);
    r->lb_cap = 1 << 20;
    r->lb = xmalloc(r->lb_cap);
    *out = r;
    return 0;
}

static void close_file(DocReader *r) {
    if (r->f) fclose(r->f);
    r->f = NULL;
    if (r->open) r->done_before += r->files[r->cur].size;
    r->open = 0;
    r->cur++;
}

static int open_file(DocReader *r) {
    const char *p = r->files[r->cur].path;
    static const char *other[] = {".gz", ".bz2", ".xz", ".zip", ".lz4", ".7z"};
    for (size_t i = 0; i < sizeof other / sizeof *other; i++)
        if (ends_with(p, other[i]))
            return fail("%s: %s compression is not supported (only .zst); decompress it or recompress with zstd", p,
                        other[i] + 1);
    r->f = fopen(p, "rb");
    if (!r->f) return fail("cannot open %s: %s", p, strerror(errno));
    r->zst = ends_with(p, ".zst");
    size_t n = strlen(p) - (r->zst ? 4 : 0);
    char *inner = xmalloc(n + 1);
    memcpy(inner, p, n); inner[n] = 0;
    r->jsonl = ends_with(inner, ".jsonl") || ends_with(inner, ".json") || ends_with(inner, ".ndjson");
    free(inner);
    if (r->zst) {
        if (!r->dctx) r->dctx = ZSTD_createDCtx();
        if (!r->dctx) fatal("out of memory (zstd context)");
        ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_only);
    }
    r->zin.src = r->in; r->zin.size = r->zin.pos = 0;
    r->in_eof = 0;
    r->zret = 0;
    r->consumed = 0;
    r->lb_start = r->lb_len = 0;
    r->line = 0;
    r->open = 1;
    return 0;
}

// Read up to cap decompressed bytes; *got = 0 at the end of the file.
static int src_read(DocReader *r, char *dst, size_t cap, size_t *got) {
    const char *p = r->files[r->cur].path;
    *got = 0;
    if (!r->zst) {
        size_t n = fread(dst, 1, cap, r->f);
        if (n == 0 && ferror(r->f)) return fail("cannot read %s: I/O error", p);
        r->consumed += n;
        *got = n;
        return 0;
    }
    for (;;) {
        if (r->zin.pos == r->zin.size && !r->in_eof) {
            size_t n = fread(r->in, 1, r->in_cap, r->f);
            if (n == 0 && ferror(r->f)) return fail("cannot read %s: I/O error", p);
            if (n == 0) r->in_eof = 1;
            r->consumed += n;
            r->zin.size = n; r->zin.pos = 0;
        }
        ZSTD_outBuffer zo = {dst, cap, 0};
        size_t pos0 = r->zin.pos;
        size_t ret = ZSTD_decompressStream(r->dctx, &zo, &r->zin);
        if (ZSTD_isError(ret))
            return fail("%s: zstd error near compressed byte offset %llu: %s", p,
                        (unsigned long long)(r->consumed - (r->zin.size - r->zin.pos)), ZSTD_getErrorName(ret));
        if (zo.pos > 0 || r->zin.pos > pos0) r->zret = ret;
        if (zo.pos > 0) { *got = zo.pos; return 0; }
        if (r->in_eof && r->zin.pos == r->zin.size) {
            if (r->zret != 0) return fail("%s: truncated zstd stream (ends inside a frame at byte offset %llu)", p,
                                      (unsigned long long)r->consumed);
            return 0;
        }
    }
}

static void ensure_text(DocReader *r, size_t n) {
    if (n + 1 > r->text_cap) { r->text_cap = n + 1 + (n >> 1); r->text = xrealloc(r->text, r->text_cap); }
}

// Whole file as one document.
static int read_text_file(DocReader *r, Doc *d) {
    size_t n = 0;
    for (;;) {
        ensure_text(r, n + (1 << 16));
        size_t got;
        TRY(src_read(r, r->text + n, r->text_cap - n - 1, &got));
        if (got == 0) break;
        n += got;
    }
    r->text[n] = 0;
    d->text = r->text; d->len = n;
    d->score = 0; d->has_score = 0;
    d->source = r->files[r->cur].path;
    d->line = 0;
    return 0;
}

// Next line of the open file into *line (without '\n'); 0 at end of file.
static int next_line(DocReader *r, char **line, size_t *len) {
    for (;;) {
        char *s = r->lb + r->lb_start;
        char *nl = memchr(s, '\n', r->lb_len - r->lb_start);
        if (nl) {
            *line = s; *len = (size_t)(nl - s);
            r->lb_start = (size_t)(nl - r->lb) + 1;
            r->line++;
            return 1;
        }
        // compact, grow, read more
        memmove(r->lb, s, r->lb_len - r->lb_start);
        r->lb_len -= r->lb_start; r->lb_start = 0;
        if (r->lb_len == r->lb_cap) r->lb = xrealloc(r->lb, r->lb_cap *= 2);
        size_t got;
        TRY(src_read(r, r->lb + r->lb_len, r->lb_cap - r->lb_len, &got));
        if (got == 0) {
            if (r->lb_len == 0) return 0;
            // last line without '\n'
            if (r->lb_len == r->lb_cap) r->lb = xrealloc(r->lb, r->lb_cap *= 2);
            r->lb[r->lb_len] = '\n';
            r->lb_len++;
            continue;
        }
        r->lb_len += got;
    }
}

// A field by name, or by a dotted path into nested objects ("meta.quality") when no key has the whole name.
static const cJSON *field(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (v || !strchr(name, '.')) return v;
    char key[256];
    const char *s = name;
    while (o && *s) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        if (n >= sizeof key) return NULL;
        memcpy(key, s, n); key[n] = 0;
        o = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
        s = dot ? dot + 1 : s + n;
    }
    return o;
}

// Parse one JSONL record into *d; 0 = ok, 1 = blank line (skip), -1 = error.
static int parse_record(DocReader *r, const char *line, size_t len, Doc *d) {
    const char *p = r->files[r->cur].path;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
    if (i == len) return 1;
    cJSON *j = cJSON_ParseWithLength(line, len);
    if (!j) {
        const char *e = cJSON_GetErrorPtr();
        long col = e && e >= line && e <= line + len ? (long)(e - line) + 1 : 0;
        return fail("%s:%llu: not valid JSON (column %ld); each line must be one JSON object", p,
                    (unsigned long long)r->line, col);
    }
    int rc = 0;
    if (!cJSON_IsObject(j)) { rc = fail("%s:%llu: expected a JSON object", p, (unsigned long long)r->line); goto done; }
    size_t n = 0;
    for (int f = 0; f < r->nfields; f++) {
        const cJSON *v = field(j, r->fields[f]);
        if (!cJSON_IsString(v)) {
            rc = fail("%s:%llu: no string field \"%s\" (choose the field with --text-field)", p,
                      (unsigned long long)r->line, r->fields[f]);
            goto done;
        }
        size_t m = strlen(v->valuestring);
        ensure_text(r, n + m + 1);
        if (f > 0) r->text[n++] = '\n';
        memcpy(r->text + n, v->valuestring, m);
        n += m;
    }
    ensure_text(r, n);
    r->text[n] = 0;
    d->text = r->text; d->len = n;
    d->score = 0; d->has_score = 0;
    if (r->score_field) {
        const cJSON *s = field(j, r->score_field);
        if (s && !cJSON_IsNull(s)) {
            if (!cJSON_IsNumber(s)) { rc = fail("%s:%llu: score field \"%s\" is not a number", p, (unsigned long long)r->line, r->score_field); goto done; }
            d->score = (float)s->valuedouble;
            d->has_score = 1;
        }
    }
    d->source = p;
    d->line = r->line;
done:
    cJSON_Delete(j);
    return rc;
}

int docs_next(DocReader *r, Doc *d) {
    for (;;) {
        if (r->cur >= r->nfiles) return 0;
        if (!r->open) TRY(open_file(r));
        if (!r->jsonl) {
            int rc = read_text_file(r, d);
            close_file(r);
            if (rc < 0) return -1;
            if (d->len && memchr(d->text, 0, d->len < 8192 ? d->len : 8192)) { r->skipped++; continue; }   // binary
            return 1;
        }
        char *line; size_t len;
        int got = next_line(r, &line, &len);
        if (got < 0) { close_file(r); return -1; }
        if (got == 0) { close_file(r); continue; }
        int rc = parse_record(r, line, len, d);
        if (rc < 0) return -1;
        if (rc == 1) continue;
        return 1;
    }
}

uint64_t docs_total_bytes(const DocReader *r) { return r->total; }
uint64_t docs_bytes_done(const DocReader *r) { return r->done_before + (r->open ? r->consumed : 0); }
uint64_t docs_skipped_files(const DocReader *r) { return r->skipped; }

void docs_close(DocReader *r) {
    if (!r) return;
    if (r->f) fclose(r->f);
    for (int i = 0; i < r->nfiles; i++) free(r->files[i].path);
    free(r->files);
    for (int i = 0; i < r->nfields; i++) free(r->fields[i]);
    free(r->fields);
    free(r->score_field);
    if (r->dctx) ZSTD_freeDCtx(r->dctx);
    free(r->in); free(r->lb); free(r->text);
    free(r);
}
