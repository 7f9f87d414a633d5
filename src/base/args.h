// args.h — command-line options of the form `--name value` and `--flag`.
// Unknown options, missing values and bad numbers are reported with the usage.
#pragma once

typedef struct {
    const char *name;     // "--out"
    const char *meta;     // "DIR" (NULL for a boolean flag)
    const char *help;     // one line
    const char *def;      // default value as text, or NULL (= not set)
    const char *val;      // filled by args_parse: the value (or def)
    int set;              // 1 if given on the command line
} Opt;

// Parse argv[1..] (argv[0] is the subcommand name). Positional arguments are
// collected into pos (up to *npos, updated). On --help prints usage and exits 0;
// on error prints the message and usage and exits 2.
void args_parse(int argc, char **argv, Opt *opts, int nopts, const char *usage, char **pos, int *npos);
void args_usage(const char *usage, const Opt *opts, int nopts);
const char *opt_str(const Opt *opts, int n, const char *name);   // value or NULL
int opt_flag(const Opt *opts, int n, const char *name);          // 1 if set
long long opt_int(const Opt *opts, int n, const char *name);     // fatal if not an integer
double opt_num(const Opt *opts, int n, const char *name);        // fatal if not a number
