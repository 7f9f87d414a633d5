// curate.c — `deepc curate`: clean, deduplicate, filter and decontaminate documents.
//   deepc curate --input PATHS... --out DIR [--config curate.json] [--strict] [--threads N]
//   deepc curate classify train|apply ...   (cli/curate_classify.c)
#include "base/args.h"
#include "base/check.h"
#include "cli/cli.h"
#include "curate/curate.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE =
    "usage: deepc curate --input PATH [PATH...] --out DIR [options]\n"
    "       deepc curate classify train|apply ...   (deepc curate classify --help)\n\n"
    "Runs ingest -> normalize -> exact dedup -> quality filters -> PII -> decontamination ->\n"
    "near-dedup (MinHash-LSH) and writes DIR/data.jsonl[.zst], DIR/removed.jsonl[.zst],\n"
    "DIR/report.md and DIR/report.json. Inputs: folders (walked recursively), text and code\n"
    "files, JSONL and JSONL.zst. Bad input is reported and skipped unless --strict.";

// Split a comma-separated list into a NULL-terminated array (strings point into a copy).
static const char **split_list(const char *s, int *n) {
    char *c = xstrdup(s);
    int cap = 8; *n = 0;
    const char **v = xmalloc(cap * sizeof(char *));
    for (char *tok = strtok(c, ","); tok; tok = strtok(NULL, ",")) {
        if (*n + 1 >= cap) { cap *= 2; v = xrealloc(v, cap * sizeof(char *)); }
        v[(*n)++] = tok;
    }
    v[*n] = NULL;
    return v;
}

int cmd_curate(int argc, char **argv) {
    Opt opts[] = {
        {"--input", "PATH", "input file or folder (more paths may follow)", NULL, NULL, 0},
        {"--out", "DIR", "output folder", NULL, NULL, 0},
        {"--config", "FILE", "JSON config (thresholds per domain, stages, ...; see docs/curate.md)", NULL, NULL, 0},
        {"--strict", NULL, "fail on the first bad input instead of skipping it", NULL, NULL, 0},
        {"--threads", "N", "worker threads (0 = all cores)", "0", NULL, 0},
        {"--seed", "N", "seed for MinHash permutations", NULL, NULL, 0},
        {"--text-field", "NAME", "JSONL field holding the text", NULL, NULL, 0},
        {"--evals", "FILES", "comma-separated eval JSONL files for decontamination", NULL, NULL, 0},
        {"--decontam-flag", NULL, "flag contaminated documents instead of removing them", NULL, NULL, 0},
        {"--bands", "N", "LSH bands", NULL, NULL, 0},
        {"--rows", "N", "LSH rows per band", NULL, NULL, 0},
        {"--no-near", NULL, "skip near-duplicate removal", NULL, NULL, 0},
        {"--no-filters", NULL, "skip the quality filters", NULL, NULL, 0},
        {"--compress", NULL, "write .jsonl.zst", NULL, NULL, 0},
        {"--quiet", NULL, "no progress bar", NULL, NULL, 0},
    };
    int nopts = sizeof opts / sizeof *opts;
    char *pos[4096]; int npos = 4096;
    args_parse(argc, argv, opts, nopts, USAGE, pos, &npos);
    CurateOptions o;
    curate_default_options(&o);
    const char *cfg = opt_str(opts, nopts, "--config");
    if (cfg && curate_load_config(&o, cfg) < 0) fatal_last();
    const char *in = opt_str(opts, nopts, "--input");
    if (!in) { fprintf(stderr, "deepc: error: --input is required\n\n"); args_usage(USAGE, opts, nopts); return 2; }
    const char **inputs = xcalloc(npos + 2, sizeof(char *));
    int ni = 0;
    inputs[ni++] = in;
    for (int i = 0; i < npos; i++) inputs[ni++] = pos[i];
    o.inputs = inputs; o.n_inputs = ni;
    o.out_dir = opt_str(opts, nopts, "--out");
    if (!o.out_dir) { fprintf(stderr, "deepc: error: --out is required\n\n"); args_usage(USAGE, opts, nopts); return 2; }
    if (opt_flag(opts, nopts, "--strict")) o.strict = 1;
    if (opt_flag(opts, nopts, "--threads")) o.threads = (int)opt_int(opts, nopts, "--threads");
    if (opt_flag(opts, nopts, "--seed")) o.seed = (uint64_t)opt_int(opts, nopts, "--seed");
    if (opt_flag(opts, nopts, "--text-field")) o.text_field = opt_str(opts, nopts, "--text-field");
    if (opt_flag(opts, nopts, "--evals")) o.evals = split_list(opt_str(opts, nopts, "--evals"), &o.n_evals);
    if (opt_flag(opts, nopts, "--decontam-flag")) o.decontam_flag_only = 1;
    if (opt_flag(opts, nopts, "--bands")) o.bands = (int)opt_int(opts, nopts, "--bands");
    if (opt_flag(opts, nopts, "--rows")) o.rows = (int)opt_int(opts, nopts, "--rows");
    if (opt_flag(opts, nopts, "--no-near")) o.do_near = 0;
    if (opt_flag(opts, nopts, "--no-filters")) o.do_filters = 0;
    if (opt_flag(opts, nopts, "--compress")) o.compress = 1;
    if (opt_flag(opts, nopts, "--quiet")) o.quiet = 1;
    if (o.bands < 1 || o.rows < 1 || o.bands * o.rows > 4096) fatal("--bands and --rows must be >= 1 with bands*rows <= 4096");
    if (curate_run(&o) < 0) fatal_last();
    fprintf(stderr, "curate: wrote %s/data.jsonl%s and %s/report.md\n", o.out_dir, o.compress ? ".zst" : "", o.out_dir);
    free(inputs);
    return 0;
}
