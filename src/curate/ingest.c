// ingest.c — streaming reader of files, folders, JSONL and JSONL.zst for curation.
#include "curate/ingest.h"
#include "base/check.h"
#include "base/io.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

enum { K_TEXT, K_JSONL, K_JSONL_ZST };

typedef struct { char *path; int kind; const char *lang; int is_code; int repo; size_t size; } InFile;

struct Ingest {
    InFile *files; size_t nfiles, capfiles, cur;
    char **repos; int nrepos, caprepos;
    const char *text_field;
    size_t max_doc;
    BadInputFn bad; void *ctx;
    size_t total, read;
    // the open JSONL stream
    FILE *f; ZSTD_DCtx *z; int open;
    char *raw; size_t raw_cap, raw_pos, raw_len;    // compressed input
    char *buf; size_t cap, start, end;              // decompressed text
    int eof, skipping;
    size_t zlast;                                   // last ZSTD_decompressStream hint (0 = frame complete)
    long line;
};

static const struct { const char *ext; const char *lang; int code; } EXTS[] = {
    {"c", "c", 1}, {"h", "c", 1}, {"cc", "cpp", 1}, {"cpp", "cpp", 1}, {"cxx", "cpp", 1}, {"hpp", "cpp", 1},
    {"hh", "cpp", 1}, {"hxx", "cpp", 1}, {"py", "python", 1}, {"js", "javascript", 1}, {"mjs", "javascript", 1},
    {"ts", "typescript", 1}, {"java", "java", 1}, {"go", "go", 1}, {"rs", "rust", 1}, {"rb", "ruby", 1},
    {"sh", "shell", 1}, {"bash", "shell", 1}, {"pl", "perl", 1}, {"php", "php", 1}, {"cs", "csharp", 1},
    {"swift", "swift", 1}, {"kt", "kotlin", 1}, {"scala", "scala", 1}, {"lua", "lua", 1}, {"sql", "sql", 1},
    {"html", "html", 1}, {"htm", "html", 1}, {"css", "css", 1}, {"json", "json", 1}, {"yaml", "yaml", 1},
    {"yml", "yaml", 1}, {"xml", "xml", 1}, {"toml", "toml", 1}, {"cmake", "cmake", 1}, {"mk", "make", 1},
    {"asm", "assembly", 1}, {"S", "assembly", 1}, {"f90", "fortran", 1}, {"jl", "julia", 1}, {"hs", "haskell", 1},
    {"ml", "ocaml", 1}, {"el", "elisp", 1}, {"tex", "tex", 0}, {"txt", "text", 0}, {"text", "text", 0},
    {"md", "markdown", 0}, {"markdown", "markdown", 0}, {"rst", "rst", 0},
};

const char *lang_from_path(const char *path, int *is_code) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    *is_code = 0;
    if (!strcmp(base, "Makefile") || !strcmp(base, "makefile")) { *is_code = 1; return "make"; }
    if (!strcmp(base, "CMakeLists.txt")) { *is_code = 1; return "cmake"; }
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base) return NULL;
    for (size_t i = 0; i < sizeof EXTS / sizeof *EXTS; i++)
        if (!strcmp(dot + 1, EXTS[i].ext)) { *is_code = EXTS[i].code; return EXTS[i].lang; }
    return NULL;
}

static int lang_is_code(const char *lang) {
    for (size_t i = 0; i < sizeof EXTS / sizeof *EXTS; i++) if (!strcmp(lang, EXTS[i].lang)) return EXTS[i].code;
    return 0;
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

static int repo_index(Ingest *g, const char *name) {
    for (int i = g->nrepos - 1; i >= 0; i--) if (!strcmp(g->repos[i], name)) return i;
    if (g->nrepos == g->caprepos) { g->caprepos = g->caprepos ? 2 * g->caprepos : 64; g->repos = xrealloc(g->repos, g->caprepos * sizeof(char *)); }
    g->repos[g->nrepos] = xstrdup(name);
    return g->nrepos++;
}

static void add_file(Ingest *g, const char *path, int explicit_file, int repo) {
    int kind, code = 0;
    const char *lang = NULL;
    if (ends_with(path, ".jsonl") || ends_with(path, ".ndjson")) kind = K_JSONL;
    else if (ends_with(path, ".zst")) kind = K_JSONL_ZST;
    else {
        lang = lang_from_path(path, &code);
        if (!lang && !explicit_file) return;     // unknown extension inside a folder: not a document
        kind = K_TEXT;
    }
    struct stat sb;
    if (stat(path, &sb) != 0) { g->bad(g->ctx, path, 0, strerror(errno)); return; }
    if (g->nfiles == g->capfiles) { g->capfiles = g->capfiles ? 2 * g->capfiles : 256; g->files = xrealloc(g->files, g->capfiles * sizeof(InFile)); }
    g->files[g->nfiles++] = (InFile){xstrdup(path), kind, lang, code, repo, (size_t)sb.st_size};
    g->total += (size_t)sb.st_size;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// root_repo: -1 at the top of an input folder (each subfolder becomes a repository).
static void walk(Ingest *g, const char *dir, int depth, int repo, const char *root) {
    DIR *d = opendir(dir);
    if (!d) { g->bad(g->ctx, dir, 0, strerror(errno)); return; }
    char **names = NULL; size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;      // ., .., .git and other hidden entries
        if (n == cap) { cap = cap ? 2 * cap : 64; names = xrealloc(names, cap * sizeof(char *)); }
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < n; i++) {
        char *p = path_join(dir, names[i]);
        struct stat sb;
        if (lstat(p, &sb) != 0) g->bad(g->ctx, p, 0, strerror(errno));
        else if (S_ISDIR(sb.st_mode)) {
            if (depth > 64) g->bad(g->ctx, p, 0, "folder nesting deeper than 64 levels; skipped");
            else walk(g, p, depth + 1, depth == 0 ? repo_index(g, p) : repo, root);
        } else if (S_ISREG(sb.st_mode)) add_file(g, p, 0, depth == 0 ? repo_index(g, root) : repo);
        free(p);
        free(names[i]);
    }
    free(names);
}

Ingest *ingest_open(const char *const *paths, int n, const char *text_field, size_t max_doc_bytes,
                    BadInputFn bad, void *ctx) {
    Ingest *g = xcalloc(1, sizeof *g);
    g->text_field = text_field ? text_field : "text";
    g->max_doc = max_doc_bytes ? max_doc_bytes : ((size_t)64 << 20);
    g->bad = bad; g->ctx = ctx;
    for (int i = 0; i < n; i++) {
        struct stat sb;
        if (stat(paths[i], &sb) != 0) { bad(ctx, paths[i], 0, strerror(errno)); continue; }
        if (S_ISDIR(sb.st_mode)) walk(g, paths[i], 0, -1, paths[i]);
        else add_file(g, paths[i], 1, -1);
    }
    return g;
}

size_t ingest_total_bytes(const Ingest *g) { return g->total; }
size_t ingest_bytes_read(const Ingest *g) { return g->read; }
size_t ingest_file_count(const Ingest *g) { return g->nfiles; }
int ingest_repo_count(const Ingest *g) { return g->nrepos; }
const char *ingest_repo_name(const Ingest *g, int r) { return r >= 0 && r < g->nrepos ? g->repos[r] : ""; }

void doc_free(Doc *d) {
    free(d->text); free(d->id);
    if (d->meta) cJSON_Delete(d->meta);
    memset(d, 0, sizeof *d);
}

static void close_stream(Ingest *g) {
    if (g->f) fclose(g->f);
    g->f = NULL;
    g->open = 0;
    g->start = g->end = 0;
    g->raw_pos = g->raw_len = 0;
    g->eof = 0; g->skipping = 0; g->zlast = 0;
    g->line = 0;
}

void ingest_close(Ingest *g) {
    if (!g) return;
    close_stream(g);
    for (size_t i = 0; i < g->nfiles; i++) free(g->files[i].path);
    for (int i = 0; i < g->nrepos; i++) free(g->repos[i]);
    free(g->files); free(g->repos); free(g->raw); free(g->buf);
    if (g->z) ZSTD_freeDCtx(g->z);
    free(g);
}

// Append more decompressed bytes to buf. 0 = some added or eof set, -1 = bad stream (reported).
static int fill(Ingest *g) {
    InFile *fi = &g->files[g->cur];
    if (g->start > 0) {   // compact
        memmove(g->buf, g->buf + g->start, g->end - g->start);
        g->end -= g->start; g->start = 0;
    }
    if (g->cap - g->end < (1 << 16)) { g->cap = g->cap ? g->cap * 2 : (1 << 20); g->buf = xrealloc(g->buf, g->cap); }
    if (fi->kind == K_JSONL) {
        size_t r = fread(g->buf + g->end, 1, g->cap - g->end, g->f);
        g->read += r; g->end += r;
        if (r == 0) {
            if (ferror(g->f)) { g->bad(g->ctx, fi->path, g->line, "read error; rest of the file skipped"); return -1; }
            g->eof = 1;
        }
        return 0;
    }
    // zstd
    for (;;) {
        if (g->raw_pos == g->raw_len) {
            if (!g->raw) { g->raw_cap = ZSTD_DStreamInSize(); g->raw = xmalloc(g->raw_cap); }
            g->raw_len = fread(g->raw, 1, g->raw_cap, g->f);
            g->raw_pos = 0;
            g->read += g->raw_len;
            if (g->raw_len == 0) {
                if (ferror(g->f)) { g->bad(g->ctx, fi->path, g->line, "read error; rest of the file skipped"); return -1; }
                g->eof = 1;
                return 0;
            }
        }
        ZSTD_inBuffer in = {g->raw, g->raw_len, g->raw_pos};
        ZSTD_outBuffer out = {g->buf + g->end, g->cap - g->end, 0};
        size_t r = ZSTD_decompressStream(g->z, &out, &in);
        g->raw_pos = in.pos;
        if (!ZSTD_isError(r)) g->zlast = r;
        if (ZSTD_isError(r)) {
            char msg[256];
            snprintf(msg, sizeof msg, "corrupt zstd data after line %ld (%s); rest of the file skipped", g->line, ZSTD_getErrorName(r));
            g->bad(g->ctx, fi->path, g->line + 1, msg);
            return -1;
        }
        g->end += out.pos;
        if (out.pos) return 0;
    }
}

// Next line of the open stream (without '\n'). 1 = line, 0 = end of file.
static int next_line(Ingest *g, char **line, size_t *len) {
    InFile *fi = &g->files[g->cur];
    size_t scan = g->start;
    for (;;) {
        char *nl = g->end > scan ? memchr(g->buf + scan, '\n', g->end - scan) : NULL;
        if (nl) {
            size_t e = (size_t)(nl - g->buf);
            *line = g->buf + g->start; *len = e - g->start;
            g->start = e + 1;
            g->line++;
            if (g->skipping) { g->skipping = 0; scan = g->start; continue; }
            return 1;
        }
        if (g->eof) {
            if (g->end > g->start && !g->skipping) {
                *line = g->buf + g->start; *len = g->end - g->start;
                g->start = g->end;
                g->line++;
                return 1;
            }
            return 0;
        }
        if (g->end - g->start > g->max_doc && !g->skipping) {
            char msg[160];
            snprintf(msg, sizeof msg, "line longer than the %zu-byte limit (max_doc_bytes); skipped", g->max_doc);
            g->bad(g->ctx, fi->path, g->line + 1, msg);
            g->skipping = 1;
        }
        if (g->skipping) { g->start = g->end; }
        scan = g->end;
        size_t off = scan - g->start;
        if (fill(g) < 0) return 0;
        scan = g->start + off;
    }
}

static char *fmt_id(const char *path, long line) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b) + 24;
    char *s = xmalloc(n);
    snprintf(s, n, "%s:%ld", b, line);
    return s;
}

static int read_text_file(Ingest *g, InFile *fi, Doc *d) {
    if (fi->size == 0) { g->bad(g->ctx, fi->path, 0, "empty file; skipped"); return 0; }
    if (fi->size > g->max_doc) {
        char msg[160];
        snprintf(msg, sizeof msg, "file larger than the %zu-byte document limit (max_doc_bytes); skipped", g->max_doc);
        g->bad(g->ctx, fi->path, 0, msg);
        return 0;
    }
    FILE *f = fopen(fi->path, "rb");
    if (!f) { g->bad(g->ctx, fi->path, 0, strerror(errno)); return 0; }
    char *t = xmalloc(fi->size + 1);
    size_t r = fread(t, 1, fi->size, f);
    int err = ferror(f);
    fclose(f);
    g->read += r;
    if (err || r == 0) { free(t); g->bad(g->ctx, fi->path, 0, err ? "read error; skipped" : "empty file; skipped"); return 0; }
    t[r] = 0;
    memset(d, 0, sizeof *d);
    d->text = t; d->len = r;
    d->id = xstrdup(fi->path);
    d->source = fi->path;
    d->lang = fi->lang;
    d->domain = fi->is_code ? "code" : "text";
    d->repo = fi->repo;
    return 1;
}

// Parse one JSONL line into d. 1 = ok, 0 = bad (reported).
static int parse_line(Ingest *g, InFile *fi, const char *line, size_t len, Doc *d) {
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t')) len--;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    if (i == len) return 0;   // blank lines are not documents
    cJSON *o = cJSON_ParseWithLength(line, len);
    if (!o) {
        char msg[200];
        const char *ep = cJSON_GetErrorPtr();   // ingest runs on one thread
        size_t at = ep && ep >= line && ep <= line + len ? (size_t)(ep - line) : 0;
        snprintf(msg, sizeof msg, "malformed JSON near byte %zu of the line; line skipped", at);
        g->bad(g->ctx, fi->path, g->line, msg);
        return 0;
    }
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        g->bad(g->ctx, fi->path, g->line, "line is not a JSON object; skipped");
        return 0;
    }
    cJSON *t = cJSON_DetachItemFromObjectCaseSensitive(o, g->text_field);
    if (!t || !cJSON_IsString(t)) {
        char msg[200];
        snprintf(msg, sizeof msg, "no string field \"%s\" (set --text-field); line skipped", g->text_field);
        g->bad(g->ctx, fi->path, g->line, msg);
        cJSON_Delete(t); cJSON_Delete(o);
        return 0;
    }
    memset(d, 0, sizeof *d);
    // take the string from cJSON without copying
    d->text = t->valuestring; t->valuestring = NULL;
    d->len = strlen(d->text);
    cJSON_Delete(t);
    d->meta = o;
    d->source = fi->path;
    d->line = g->line;
    cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (cJSON_IsString(id)) d->id = xstrdup(id->valuestring);
    else if (cJSON_IsNumber(id)) { char b[32]; snprintf(b, sizeof b, "%.17g", id->valuedouble); d->id = xstrdup(b); }
    else d->id = fmt_id(fi->path, g->line);
    cJSON *dom = cJSON_GetObjectItemCaseSensitive(o, "domain");
    d->domain = "text";
    cJSON *lang = cJSON_GetObjectItemCaseSensitive(o, "lang");
    if (cJSON_IsString(lang)) d->lang = lang->valuestring;
    if (cJSON_IsString(dom)) d->domain = dom->valuestring;
    else if (d->lang && lang_is_code(d->lang)) d->domain = "code";
    d->repo = -1;
    const char *rk[] = {"repo", "repository", "repo_name"};
    for (int k = 0; k < 3; k++) {
        cJSON *r = cJSON_GetObjectItemCaseSensitive(o, rk[k]);
        if (cJSON_IsString(r)) { d->repo = repo_index(g, r->valuestring); break; }
    }
    return 1;
}

int ingest_next(Ingest *g, Doc *d) {
    while (g->cur < g->nfiles) {
        InFile *fi = &g->files[g->cur];
        if (fi->kind == K_TEXT) {
            g->cur++;
            if (read_text_file(g, fi, d)) return 1;
            continue;
        }
        if (!g->open) {
            g->f = fopen(fi->path, "rb");
            if (!g->f) { g->bad(g->ctx, fi->path, 0, strerror(errno)); g->cur++; continue; }
            if (fi->size == 0) { g->bad(g->ctx, fi->path, 0, "empty file; skipped"); close_stream(g); g->cur++; continue; }
            if (fi->kind == K_JSONL_ZST) {
                if (!g->z) g->z = ZSTD_createDCtx();
                if (!g->z) return fail("zstd: cannot create a decompression context (out of memory)");
                ZSTD_DCtx_reset(g->z, ZSTD_reset_session_only);
            }
            g->open = 1;
        }
        char *line; size_t len;
        while (next_line(g, &line, &len)) {
            if (parse_line(g, fi, line, len, d)) return 1;
        }
        if (fi->kind == K_JSONL_ZST && g->eof && g->zlast != 0)
            g->bad(g->ctx, fi->path, g->line, "truncated zstd stream (file cut short?); its last part is missing");
        close_stream(g);
        g->cur++;
    }
    return 0;
}
