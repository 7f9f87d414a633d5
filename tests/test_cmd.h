// test_cmd.h — run a shell command from a C test and capture what it prints.
#pragma once
#include <stdio.h>
#include <sys/wait.h>
#include "base/check.h"

// Run cmd through the shell; *out gets stdout + stderr (heap, NUL-terminated); returns the exit status,
// -1 if it died from a signal, -2 if it could not be started.
static inline int run(const char *cmd, char **out) {
    size_t len = strlen(cmd) + 8;
    char *full = xmalloc(len);
    snprintf(full, len, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    free(full);
    if (!p) { *out = xstrdup(""); return -2; }
    size_t cap = 4096, n = 0, r;
    char *b = xmalloc(cap);
    while ((r = fread(b + n, 1, cap - n - 1, p)) > 0) { n += r; if (n + 1 >= cap) b = xrealloc(b, cap *= 2); }
    b[n] = 0;
    int st = pclose(p);
    *out = b;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
