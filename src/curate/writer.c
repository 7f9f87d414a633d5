// writer.c — atomic JSONL / JSONL.zst writer and a fast JSON string escaper.
#include "curate/writer.h"
#include "base/check.h"
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

int writer_open(DocWriter *w, const char *path) {
    memset(w, 0, sizeof *w);
    TRY(io_atomic_open(&w->a, path));
    size_t n = strlen(path);
    if (n > 4 && !strcmp(path + n - 4, ".zst")) {
        ZSTD_CCtx *z = ZSTD_createCCtx();
        if (!z) { io_atomic_abort(&w->a); return fail("zstd: cannot create a compression context (out of memory)"); }
        ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, 3);
        w->z = z;
        w->cap = ZSTD_CStreamOutSize();
        w->buf = xmalloc(w->cap);
    }
    return 0;
}

static int compress(DocWriter *w, const void *data, size_t n, ZSTD_EndDirective mode) {
    ZSTD_inBuffer in = {data, n, 0};
    for (;;) {
        ZSTD_outBuffer out = {w->buf, w->cap, 0};
        size_t r = ZSTD_compressStream2(w->z, &out, &in, mode);
        if (ZSTD_isError(r)) return fail("zstd compression of %s failed: %s", w->a.path, ZSTD_getErrorName(r));
        if (out.pos) TRY(io_atomic_write(&w->a, w->buf, out.pos));
        if (mode == ZSTD_e_end ? r == 0 : in.pos == in.size) return 0;
    }
}

int writer_write(DocWriter *w, const void *data, size_t n) {
    w->bytes += n;
    for (size_t i = 0; i < n; i++) if (((const char *)data)[i] == '\n') w->lines++;
    if (!w->z) return io_atomic_write(&w->a, data, n);
    return compress(w, data, n, ZSTD_e_continue);
}

int writer_commit(DocWriter *w) {
    if (w->z) {
        if (compress(w, NULL, 0, ZSTD_e_end) < 0) { writer_abort(w); return -1; }
        ZSTD_freeCCtx(w->z); w->z = NULL;
    }
    free(w->buf); w->buf = NULL;
    return io_atomic_commit(&w->a);
}

void writer_abort(DocWriter *w) {
    if (w->z) ZSTD_freeCCtx(w->z);
    w->z = NULL;
    free(w->buf); w->buf = NULL;
    io_atomic_abort(&w->a);
}

void json_escape_append(char **out, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + 6 * n + 3 > *cap) { *cap = (*len + 6 * n + 3) * 2; *out = xrealloc(*out, *cap); }
    char *o = *out + *len;
    *o++ = '"';
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') { *o++ = (char)c; continue; }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\t': *o++ = 't'; break;
        case '\r': *o++ = 'r'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        default: *o++ = 'u'; *o++ = '0'; *o++ = '0'; *o++ = hex[c >> 4]; *o++ = hex[c & 15];
        }
    }
    *o++ = '"';
    *len = (size_t)(o - *out);
}
