// init.c — `deepc init`: a randomly initialized model folder from a preset or a config.json.
#include "base/args.h"
#include "base/check.h"
#include "base/io.h"
#include "cli/cli.h"
#include "data/tokenizer.h"
#include "model/model.h"
#include <stdio.h>
#include <stdlib.h>

int cmd_init(int argc, char **argv) {
    Opt o[] = {
        {"--preset", "NAME", "model shape preset", NULL, NULL, 0},
        {"--config", "FILE", "a Hugging Face config.json (deepseek_v2 / deepseek_v3)", NULL, NULL, 0},
        {"--out", "DIR", "output model folder", NULL, NULL, 0},
        {"--vocab", "N", "override vocab_size", NULL, NULL, 0},
        {"--tokenizer", "DIR", "copy this tokenizer into the folder and size the vocabulary to it", NULL, NULL, 0},
        {"--seed", "N", "random seed", "1234", NULL, 0},
        {"--std", "X", "init standard deviation of every matrix (the papers use 0.006)", "0.006", NULL, 0},
        {"--bf16", NULL, "store weights in BF16 (default FP32)", NULL, NULL, 0},
    };
    int n = sizeof o / sizeof *o;
    char usage[512];
    snprintf(usage, sizeof usage, "usage: deepc init (--preset NAME | --config FILE) --out DIR [options]\npresets: %s",
             config_preset_names());
    args_parse(argc, argv, o, n, usage, NULL, NULL);
    const char *preset = opt_str(o, n, "--preset"), *cfg = opt_str(o, n, "--config"), *out = opt_str(o, n, "--out");
    if (!out || (!preset == !cfg)) { args_usage(usage, o, n); return 2; }
    Config c;
    if (preset ? config_preset(preset, &c) : config_load(cfg, &c)) fatal_last();
    if (opt_str(o, n, "--vocab")) c.vocab_size = (int)opt_int(o, n, "--vocab");
    const char *tokdir = opt_str(o, n, "--tokenizer");
    if (tokdir) {
        Tokenizer *t;
        if (tok_load(tokdir, &t) < 0) fatal_last();
        c.vocab_size = tok_vocab_size(t);
        c.bos_token_id = tok_bos(t);
        c.eos_token_id = tok_eos(t);
        tok_free(t);
    }
    Model m;
    if (model_create(&c, &m) < 0) fatal_last();
    model_init_random(&m, (uint64_t)opt_int(o, n, "--seed"), (float)opt_num(o, n, "--std"));
    if (!tokdir) {
        if (model_save(&m, out, opt_flag(o, n, "--bf16")) < 0) fatal_last();
    } else {  // weights and tokenizer into a temp folder, renamed into place when complete
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp.init", out);
        io_rm_rf(tmp);
        if (model_write_files(&m, tmp, opt_flag(o, n, "--bf16")) < 0) fatal_last();
        const char *files[] = {"tokenizer.json", "tokenizer_config.json"};
        for (int i = 0; i < 2; i++) {
            char *src = io_is_dir(tokdir) ? path_join(tokdir, files[i]) : (i == 0 ? xstrdup(tokdir) : NULL);
            if (!src || !io_exists(src)) { free(src); continue; }
            char *dst = path_join(tmp, files[i]);
            if (io_copy_file(src, dst) < 0) fatal_last();
            free(src); free(dst);
        }
        if (io_exists(out) && io_rm_rf(out) < 0) fatal_last();
        if (rename(tmp, out) != 0) fatal("cannot rename %s to %s", tmp, out);
    }
    size_t total, active;
    model_param_counts(&c, &total, &active);
    printf("wrote %s: %.2fM parameters (%.2fM active per token)%s\n", out, total / 1e6, active / 1e6,
           c.num_nextn_predict_layers ? " + MTP modules" : "");
    model_free(&m);
    return 0;
}
