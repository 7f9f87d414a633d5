// quantize.c — `deepc quantize`: a model folder's weights in bf16 / fp8 / int8 / int4.
#include <stdio.h>
#include <string.h>
#include "base/args.h"
#include "base/check.h"
#include "base/io.h"
#include "cli/cli.h"
#include "infer/quantize.h"

int cmd_quantize(int argc, char **argv) {
    Opt o[] = {
        {"--model", "DIR", "source model folder", NULL, NULL, 0},
        {"--to", "TYPE", "bf16, fp8 (DeepSeek-V3 128x128 blocks), int8 or int4 (32-blocks)", NULL, NULL, 0},
        {"--out", "DIR", "output folder (written atomically; replaced if it exists)", NULL, NULL, 0},
    };
    int n = sizeof o / sizeof *o;
    args_parse(argc, argv, o, n, "usage: deepc quantize --model DIR --to bf16|fp8|int8|int4 --out DIR", NULL, NULL);
    const char *src = opt_str(o, n, "--model"), *to = opt_str(o, n, "--to"), *out = opt_str(o, n, "--out");
    if (!src || !to || !out) fatal("--model, --to and --out are required (deepc quantize --help)");
    QType t;
    if (qtype_parse(to, &t) < 0 || t == QT_F32) fatal("--to must be bf16, fp8, int8 or int4, not \"%s\"", to);
    if (!io_is_dir(src)) fatal("model folder \"%s\" does not exist", src);
    if (!strcmp(src, out)) fatal("--out must differ from --model");
    if (quantize_folder(src, out, t) < 0) fatal_last();
    fprintf(stderr, "wrote %s (%s)\n", out, to);
    return 0;
}
