// chat.c — `deepc chat`: interactive chat in the model's chat format, streamed
// replies, the conversation's cache kept between turns (only new tokens are fed),
// /reset, /system TEXT, /exit; Ctrl-D exits, Ctrl-C stops a reply or exits at the prompt.
#include <errno.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/args.h"
#include "base/check.h"
#include "cli/cli.h"
#include "cli/sampling.h"
#include "data/chat.h"
#include "infer/generate.h"
#include "infer/session.h"

static volatile sig_atomic_t interrupted = 0;
static void on_sigint(int sig) { (void)sig; interrupted = 1; }

typedef struct { char *buf; size_t len, cap; } Text;
static void text_out(const char *b, size_t n, void *ctx) {
    Text *t = ctx;
    fwrite(b, 1, n, stdout);
    fflush(stdout);
    if (t->len + n + 1 > t->cap) { t->cap = (t->len + n + 1) * 2; t->buf = xrealloc(t->buf, t->cap); }
    memcpy(t->buf + t->len, b, n);
    t->len += n;
    t->buf[t->len] = 0;
}

typedef struct { ChatMsg *m; int n, cap; } Conv;
static void conv_add(Conv *c, const char *role, const char *content) {
    if (c->n == c->cap) { c->cap = c->cap ? 2 * c->cap : 16; c->m = xrealloc(c->m, sizeof(ChatMsg) * c->cap); }
    c->m[c->n++] = (ChatMsg){role, xstrdup(content)};
}
static void conv_clear(Conv *c, int keep_system) {
    int k = 0;
    for (int i = 0; i < c->n; i++) {
        if (keep_system && !strcmp(c->m[i].role, "system")) c->m[k++] = c->m[i];
        else free((char *)c->m[i].content);
    }
    c->n = k;
}
// Drop the oldest user/assistant pair (system messages stay). Returns 0 if nothing to drop.
static int conv_drop_oldest(Conv *c) {
    for (int i = 0; i < c->n; i++) {
        if (!strcmp(c->m[i].role, "system")) continue;
        int j = i + 1 < c->n && !strcmp(c->m[i + 1].role, "assistant") ? i + 2 : i + 1;
        if (j >= c->n) return 0;   // never drop the message being answered
        for (int k = i; k < j; k++) free((char *)c->m[k].content);
        memmove(c->m + i, c->m + j, sizeof(ChatMsg) * (c->n - j));
        c->n -= j - i;
        return 1;
    }
    return 0;
}

int cmd_chat(int argc, char **argv) {
    Opt o[] = {
        {"--model", "DIR", "model folder (config.json, safetensors, tokenizer.json)", NULL, NULL, 0},
        {"--system", "TEXT", "system message", NULL, NULL, 0},
        {"--max-tokens", "N", "longest reply in tokens", "512", NULL, 0},
        {"--temperature", "T", "0 = greedy", "0.7", NULL, 0},
        {"--top-k", "K", "0 = off", "0", NULL, 0},
        {"--top-p", "P", "1 = off", "0.95", NULL, 0},
        {"--min-p", "P", "0 = off", "0", NULL, 0},
        {"--repetition-penalty", "R", "1 = off", "1", NULL, 0},
        {"--seed", "N", "random seed", "0", NULL, 0},
        {"--ctx", "N", "context length (default: the model's max_position_embeddings)", NULL, NULL, 0},
        {"--dtype", "T", "weights: native, f32, bf16, fp8, int8, int4", "native", NULL, 0},
        {"--kv-cache", "T", "latent cache: f32, bf16 (half the bytes), fp8 (c_kv E4M3 + per-128 scales, k_pe BF16: about a quarter), fp8-rope, int8 (per-128 scales: 26 % of f32; attended with integer products on VNNI CPUs)", "f32", NULL, 0},
        {"--threads", "N", "threads (default: all cores)", NULL, NULL, 0},
        {"--stats", NULL, "after each reply print tokens fed / reused and tokens/s to stderr", NULL, NULL, 0},
    };
    int n = sizeof o / sizeof *o;
    args_parse(argc, argv, o, n, "usage: deepc chat --model DIR [options]\n"
               "  in the chat: /reset (new conversation), /system TEXT (new conversation with a system message),\n"
               "  /exit; Ctrl-D exits; Ctrl-C stops a reply (at the prompt: exits)", NULL, NULL);
    const char *dir = opt_str(o, n, "--model");
    if (!dir) fatal("--model DIR is required");
    if (opt_str(o, n, "--threads")) omp_set_num_threads((int)opt_int(o, n, "--threads"));
    SamplerOpts so = cli_sampler_opts(o, n);
    int max_tokens = (int)opt_int(o, n, "--max-tokens");
    if (max_tokens < 1) fatal("--max-tokens must be >= 1");
    int stats = opt_flag(o, n, "--stats"), tty = isatty(0);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;            // no SA_RESTART: a Ctrl-C at the prompt interrupts the read
    sigaction(SIGINT, &sa, NULL);
    Session s;
    if (session_open(dir, opt_str(o, n, "--dtype"), &s) < 0) fatal_last();
    if (interrupted) { session_close(&s); return 0; }   // Ctrl-C while loading
    int ctx = opt_str(o, n, "--ctx") ? (int)opt_int(o, n, "--ctx") : s.m.c.max_position_embeddings;
    if (ctx < 8) fatal("--ctx must be at least 8");
    Engine e;
    engine_init(&e, &s.m);
    const char *kvt = opt_str(o, n, "--kv-cache");
    if (kv_dtype_parse(kvt, &e.kv_dtype) < 0) fatal("--kv-cache: %s", last_error());
    KVCache kv;
    engine_kv_init(&e, &kv, ctx);
    TokHist h = {0};
    Conv conv = {0};
    if (opt_str(o, n, "--system")) conv_add(&conv, "system", opt_str(o, n, "--system"));

    if (tty) fprintf(stderr, "deepc chat — /reset, /system TEXT, /exit, Ctrl-D to quit\n");
    char *line = NULL;
    size_t lcap = 0;
    int turn = 0;
    for (;;) {
        if (interrupted) break;                              // Ctrl-C before the prompt appeared
        if (tty) { fprintf(stderr, "> "); fflush(stderr); }
        errno = 0;
        ssize_t len = getline(&line, &lcap, stdin);
        if (len < 0) break;                                  // Ctrl-D / end of input / Ctrl-C at the prompt
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) continue;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) break;
        if (!strcmp(line, "/reset")) { conv_clear(&conv, 1); fprintf(stderr, "(new conversation)\n"); continue; }
        if (!strncmp(line, "/system", 7) && (line[7] == ' ' || line[7] == 0)) {
            conv_clear(&conv, 0);
            if (line[7]) conv_add(&conv, "system", line + 8);
            fprintf(stderr, "(new conversation%s)\n", line[7] ? " with that system message" : "");
            continue;
        }
        interrupted = 0;
        if (line[0] == '/') { fprintf(stderr, "unknown command %s (known: /reset, /system TEXT, /exit)\n", line); continue; }
        conv_add(&conv, "user", line);
        int32_t *ids = NULL; uint8_t *mask = NULL; size_t nid = 0;
        for (;;) {
            if (chat_encode(s.tok, conv.m, conv.n, 1, &ids, &mask, &nid) < 0) fatal("chat template: %s", last_error());
            free(mask);
            if ((int)nid + 1 <= ctx) break;
            free(ids); ids = NULL;
            if (!conv_drop_oldest(&conv)) break;
            fprintf(stderr, "(context full: dropped the oldest exchange)\n");
        }
        if (!ids || (int)nid + 1 > ctx) {
            fprintf(stderr, "deepc: error: that message is %zu tokens, more than the context (%d) holds; try a shorter one\n",
                    nid, ctx);
            free(ids);
            free((char *)conv.m[--conv.n].content);
            continue;
        }
        Text reply = {0};
        SamplerOpts sot = so;
        sot.seed = so.seed + (uint64_t)turn++;
        GenOpts go = {.max_tokens = max_tokens, .sampler = sot, .eos = tok_eos(s.tok), .out = text_out, .ctx = &reply,
                      .interrupt = &interrupted};
        GenStats st;
        if (gen_run(&e, s.tok, &kv, &h, ids, (int)nid, &go, &st) < 0) fatal_last();
        printf("\n");
        fflush(stdout);
        conv_add(&conv, "assistant", reply.buf ? reply.buf : "");
        if (st.reason == GEN_STOP_INTERRUPT) fprintf(stderr, "(stopped)\n");
        interrupted = 0;                                     // that Ctrl-C only stopped the reply
        if (stats)
            fprintf(stderr, "[prompt %zu tokens: %d fed, %zu reused from the cache; reply %d tokens, %.1f tok/s]\n", nid,
                    st.n_fed, nid - st.n_fed, st.n_gen, st.t_gen > 0 ? st.n_gen / st.t_gen : 0);
        free(reply.buf);
        free(ids);
    }
    free(line);
    conv_clear(&conv, 0);
    free(conv.m);
    hist_free(&h);
    kv_free(&kv);
    session_close(&s);
    if (tty) fprintf(stderr, "\n");
    return 0;
}
