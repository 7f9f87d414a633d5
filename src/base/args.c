// args.c — command-line options.
#include "base/args.h"
#include "base/check.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void args_usage(const char *usage, const Opt *opts, int nopts) {
    fprintf(stderr, "%s\n", usage);
    if (nopts) fprintf(stderr, "\noptions:\n");
    for (int i = 0; i < nopts; i++) {
        char left[96];
        snprintf(left, sizeof left, "%s%s%s", opts[i].name, opts[i].meta ? " " : "", opts[i].meta ? opts[i].meta : "");
        fprintf(stderr, "  %-28s %s", left, opts[i].help);
        if (opts[i].def && opts[i].meta) fprintf(stderr, " (default %s)", opts[i].def);
        fprintf(stderr, "\n");
    }
}

static _Noreturn void bad(const char *usage, const Opt *opts, int nopts, const char *fmt, const char *a) {
    fprintf(stderr, "deepc: error: ");
    fprintf(stderr, fmt, a);
    fprintf(stderr, "\n\n");
    args_usage(usage, opts, nopts);
    exit(2);
}

void args_parse(int argc, char **argv, Opt *opts, int nopts, const char *usage, char **pos, int *npos) {
    int maxpos = npos ? *npos : 0, np = 0;
    for (int i = 0; i < nopts; i++) { opts[i].val = opts[i].def; opts[i].set = 0; }
    for (int a = 1; a < argc; a++) {
        const char *s = argv[a];
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) { args_usage(usage, opts, nopts); exit(0); }
        if (s[0] == '-' && s[1] == '-' && s[2]) {
            const char *eq = strchr(s, '=');
            size_t nl = eq ? (size_t)(eq - s) : strlen(s);
            int k = -1;
            for (int i = 0; i < nopts; i++)
                if (strlen(opts[i].name) == nl && !strncmp(opts[i].name, s, nl)) { k = i; break; }
            if (k < 0) bad(usage, opts, nopts, "unknown option %s", s);
            opts[k].set = 1;
            if (!opts[k].meta) {
                if (eq) bad(usage, opts, nopts, "option %s takes no value", opts[k].name);
                opts[k].val = "1";
            } else if (eq) {
                opts[k].val = eq + 1;
            } else {
                if (a + 1 >= argc) bad(usage, opts, nopts, "option %s needs a value", opts[k].name);
                opts[k].val = argv[++a];
            }
        } else {
            if (np >= maxpos) bad(usage, opts, nopts, "unexpected argument %s", s);
            pos[np++] = argv[a];
        }
    }
    if (npos) *npos = np;
}

static const Opt *find(const Opt *opts, int n, const char *name) {
    for (int i = 0; i < n; i++) if (!strcmp(opts[i].name, name)) return &opts[i];
    fatal("internal error: no option %s", name);
}

const char *opt_str(const Opt *opts, int n, const char *name) { return find(opts, n, name)->val; }

int opt_flag(const Opt *opts, int n, const char *name) { return find(opts, n, name)->set; }

long long opt_int(const Opt *opts, int n, const char *name) {
    const Opt *o = find(opts, n, name);
    if (!o->val) fatal("option %s is required", name);
    char *end; errno = 0;
    long long v = strtoll(o->val, &end, 10);
    if (errno || *end || end == o->val) fatal("option %s: \"%s\" is not an integer", name, o->val);
    return v;
}

double opt_num(const Opt *opts, int n, const char *name) {
    const Opt *o = find(opts, n, name);
    if (!o->val) fatal("option %s is required", name);
    char *end; errno = 0;
    double v = strtod(o->val, &end);
    if (errno || *end || end == o->val) fatal("option %s: \"%s\" is not a number", name, o->val);
    return v;
}
