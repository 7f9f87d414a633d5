// sampling.c — sampling options shared by generate and chat.
#include "cli/sampling.h"
#include "base/check.h"

SamplerOpts cli_sampler_opts(const Opt *o, int n) {
    SamplerOpts so = sampler_defaults();
    so.temperature = (float)opt_num(o, n, "--temperature");
    so.top_k = (int)opt_int(o, n, "--top-k");
    so.top_p = (float)opt_num(o, n, "--top-p");
    so.min_p = (float)opt_num(o, n, "--min-p");
    so.repetition_penalty = (float)opt_num(o, n, "--repetition-penalty");
    so.seed = (uint64_t)opt_int(o, n, "--seed");
    if (so.temperature < 0 || so.top_k < 0 || so.top_p <= 0 || so.top_p > 1 || so.min_p < 0 || so.min_p > 1 ||
        so.repetition_penalty <= 0)
        fatal("sampling options out of range: --temperature >= 0, --top-k >= 0, 0 < --top-p <= 1, 0 <= --min-p <= 1, "
              "--repetition-penalty > 0");
    return so;
}
