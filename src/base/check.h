// check.h — errors: messages that say what, where and what to do.
//
// Two styles, chosen by who called:
//  * library code that parses user input returns -1 after fail(...) stores a
//    message (thread-local); the caller decides whether to exit or recover.
//  * top-level code calls fatal(...) (print "deepc: error: ..." and exit 1).
// Allocation failures are always fatal: there is nothing sensible to do.
#pragma once
#include <stddef.h>
#include <stdio.h>

// Store a printf-style message for the current thread and return -1.
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// Prepend context ("while reading X: ") to the stored message and return -1.
int fail_ctx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// The last message stored by fail() on this thread ("" if none).
const char *last_error(void);
// Print "deepc: error: <msg>" to stderr and exit(1).
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// fatal() with the stored last_error() message.
_Noreturn void fatal_last(void);

void *xmalloc(size_t n);             // malloc or fatal ("out of memory: N bytes")
void *xcalloc(size_t n, size_t sz);  // calloc or fatal
void *xrealloc(void *p, size_t n);   // realloc or fatal
char *xstrdup(const char *s);        // strdup or fatal
void *xmalloc_aligned(size_t n);     // 64-byte aligned, zeroed; free with free()

// Propagate a failure: evaluate x; if it is negative, return -1.
#define TRY(x) do { if ((x) < 0) return -1; } while (0)
// Assert an internal invariant (a bug if false, never user input).
#define ASSERT(c) do { if (!(c)) fatal("internal error at %s:%d: %s", __FILE__, __LINE__, #c); } while (0)
