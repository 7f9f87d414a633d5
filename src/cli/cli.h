// cli.h — one entry point per subcommand (one file each in src/cli/).
// Each takes argv with argv[0] = the subcommand name and returns the exit code.
#pragma once

int cmd_init(int argc, char **argv);       // cli/init.c      random model folder from a preset or config
int cmd_info(int argc, char **argv);       // cli/info.c      parameter counts, layout, KV-cache size
int cmd_score(int argc, char **argv);      // cli/score.c     per-token log-probs and perplexity
int cmd_tokenizer(int argc, char **argv);  // cli/tokenizer.c train / encode / decode a byte-level BPE tokenizer
int cmd_curate(int argc, char **argv);     // cli/curate.c    curation pipeline, classify, audit, chains
int cmd_tokenize(int argc, char **argv);   // cli/tokenize.c  documents -> token shards + manifest.json
int cmd_generate(int argc, char **argv);   // cli/generate.c  text from a prompt, streamed
int cmd_quantize(int argc, char **argv);   // cli/quantize.c  weights to bf16 / fp8 / int8 / int4
int cmd_pretrain(int argc, char **argv);   // cli/pretrain.c  pre-training with checkpoints and bit-exact resume
int cmd_speedrun(int argc, char **argv);   // cli/speedrun.c  the whole chain on this machine, with a report
int cmd_chat(int argc, char **argv);       // cli/chat.c      interactive chat, cache kept between turns
