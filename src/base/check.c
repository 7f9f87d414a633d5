// check.c — error messages and checked allocation.
#include "base/check.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char errbuf[2048];

int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return -1;
}

int fail_ctx(const char *fmt, ...) {
    char prefix[1024], old[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, errbuf, sizeof old);
    snprintf(errbuf, sizeof errbuf, "%.1000s: %.1000s", prefix, old);
    return -1;
}

const char *last_error(void) { return errbuf; }

_Noreturn void fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fprintf(stderr, "deepc: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

_Noreturn void fatal_last(void) { fatal("%s", errbuf[0] ? errbuf : "unknown failure"); }

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) fatal("out of memory allocating %zu bytes", n);
    return p;
}

void *xcalloc(size_t n, size_t sz) {
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) fatal("out of memory allocating %zu x %zu bytes", n, sz);
    return p;
}

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) fatal("out of memory reallocating to %zu bytes", n);
    return q;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

void *xmalloc_aligned(size_t n) {
    size_t m = (n + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, m ? m : 64);
    if (!p) fatal("out of memory allocating %zu bytes (aligned)", n);
    memset(p, 0, m ? m : 64);
    return p;
}
