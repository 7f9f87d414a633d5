// sampling.h — the sampling options shared by `deepc generate` and `deepc chat`.
#pragma once
#include "base/args.h"
#include "infer/sampler.h"

// Read --temperature --top-k --top-p --min-p --repetition-penalty --seed from parsed
// options into a SamplerOpts; out-of-range values are fatal with a message.
SamplerOpts cli_sampler_opts(const Opt *o, int n);
