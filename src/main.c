// main.c — `deepc <command> [options]`: dispatch to src/cli/.
#include "cli/cli.h"
#include <stdio.h>
#include <string.h>

typedef struct { const char *name; int (*fn)(int, char **); const char *help; } Command;

// A NULL function is a command of the pipeline that has not been built yet.
static const Command commands[] = {
    {"curate",    cmd_curate,       "clean, deduplicate, filter, audit and mix raw text and code"},
    {"tokenizer", cmd_tokenizer, "train / use a byte-level BPE tokenizer (tokenizer.json)"},
    {"tokenize",  cmd_tokenize, "turn documents into token shards"},
    {"init",      cmd_init,   "write a randomly initialized model folder from a preset or config"},
    {"info",      cmd_info,   "parameter counts, layer layout, KV-cache bytes, memory of a model"},
    {"score",     cmd_score,  "per-token log-probabilities and perplexity of text under a model"},
    {"pretrain",  cmd_pretrain,      "pre-train an MLA + MoE model on token shards"},
    {"sft",       NULL,       "supervised fine-tuning on chat data"},
    {"grpo",      NULL,       "reinforcement learning with group-relative policy optimization"},
    {"reward",    NULL,       "train / apply a learned reward model"},
    {"quantize",  cmd_quantize,       "convert weights to bf16 / fp8 / int8 / int4"},
    {"convert",   NULL,       "convert between model folder layouts"},
    {"generate",  cmd_generate,       "generate text from a prompt"},
    {"chat",      cmd_chat,       "interactive chat with a model"},
    {"eval",      NULL,       "evaluate a model on GSM8K, MATH, HumanEval, MBPP"},
    {"serve",     NULL,       "HTTP server with a web page"},
    {"bench",     NULL,       "measure kernel and model speed on this machine"},
    {"speedrun",  cmd_speedrun,      "the whole chain at a chosen size, with a report"},
};

static void usage(void) {
    fprintf(stderr, "usage: deepc <command> [options]   (deepc <command> --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(stderr, "  %-10s %s%s\n", commands[i].name, commands[i].help, commands[i].fn ? "" : " (not built yet)");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        if (strcmp(argv[1], commands[i].name)) continue;
        if (!commands[i].fn) {
            fprintf(stderr, "deepc: error: `deepc %s` is not built yet in this version\n", argv[1]);
            return 2;
        }
        return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "deepc: error: unknown command \"%s\"\n\n", argv[1]);
    usage();
    return 2;
}
