// generate.c — `deepc generate`: text from a prompt, streamed to stdout.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/args.h"
#include "base/check.h"
#include "cli/cli.h"
#include "cli/sampling.h"
#include "infer/generate.h"
#include "infer/session.h"
#include "infer/speculative.h"

static void out_stdout(const char *b, size_t n, void *ctx) {
    (void)ctx;
    fwrite(b, 1, n, stdout);
    fflush(stdout);
}

static int attn_mode(const char *s) {
    if (!strcmp(s, "auto")) return ATTN_AUTO;
    if (!strcmp(s, "absorbed")) return ATTN_ABSORBED;
    if (!strcmp(s, "naive")) return ATTN_NAIVE;
    fatal("--attn must be auto, absorbed or naive, not \"%s\"", s);
}

int cmd_generate(int argc, char **argv) {
    Opt o[] = {
        {"--model", "DIR", "model folder (config.json, safetensors, tokenizer.json)", NULL, NULL, 0},
        {"--prompt", "TEXT", "the prompt", NULL, NULL, 0},
        {"--max-tokens", "N", "tokens to generate at most", "256", NULL, 0},
        {"--temperature", "T", "0 = greedy (deterministic)", "0", NULL, 0},
        {"--top-k", "K", "keep the K most likely tokens (0 = off)", "0", NULL, 0},
        {"--top-p", "P", "nucleus sampling mass (1 = off)", "1", NULL, 0},
        {"--min-p", "P", "drop tokens below P x the top probability (0 = off)", "0", NULL, 0},
        {"--repetition-penalty", "R", "penalty for tokens already seen (1 = off)", "1", NULL, 0},
        {"--seed", "N", "random seed for sampling", "0", NULL, 0},
        {"--stop", "TEXT", "stop when this text appears (not printed)", NULL, NULL, 0},
        {"--ctx", "N", "context length (default: the model's max_position_embeddings)", NULL, NULL, 0},
        {"--truncate", NULL, "if the prompt is longer than the context, keep its end instead of failing", NULL, NULL, 0},
        {"--no-bos", NULL, "do not start the prompt with the tokenizer's BOS token", NULL, NULL, 0},
        {"--dtype", "T", "weights: native (as in the folder), f32, bf16, fp8, int8, int4", "native", NULL, 0},
        {"--attn", "MODE", "attention: auto, absorbed, naive", "auto", NULL, 0},
        {"--kv-cache", "T", "latent cache: f32, bf16 (half the bytes), fp8 (c_kv E4M3 + per-128 scales, k_pe BF16: about a quarter), fp8-rope", "f32", NULL, 0},
        {"--threads", "N", "threads (default: all cores)", NULL, NULL, 0},
        {"--stats", NULL, "print load time, memory and tokens/s to stderr", NULL, NULL, 0},
        {"--speculative", NULL, "greedy MTP self-speculation (needs --temperature 0 and a model with MTP layers); "
                                "with --stats also times plain greedy for the speed-up", NULL, NULL, 0},
    };
    int n = sizeof o / sizeof *o;
    args_parse(argc, argv, o, n, "usage: deepc generate --model DIR --prompt TEXT [options]", NULL, NULL);
    const char *dir = opt_str(o, n, "--model"), *prompt = opt_str(o, n, "--prompt");
    if (!dir) fatal("--model DIR is required");
    if (!prompt) fatal("--prompt TEXT is required");
    if (opt_str(o, n, "--threads")) omp_set_num_threads((int)opt_int(o, n, "--threads"));
    SamplerOpts so = cli_sampler_opts(o, n);
    int max_tokens = (int)opt_int(o, n, "--max-tokens");
    if (max_tokens < 0) fatal("--max-tokens must be >= 0");
    int mode = attn_mode(opt_str(o, n, "--attn"));

    Session s;
    if (session_open(dir, opt_str(o, n, "--dtype"), &s) < 0) fatal_last();
    int ctx = opt_str(o, n, "--ctx") ? (int)opt_int(o, n, "--ctx") : s.m.c.max_position_embeddings;
    if (ctx <= 1) fatal("--ctx must be at least 2");
    int32_t *ids = NULL;
    size_t nid = 0;
    if (tok_encode(s.tok, prompt, strlen(prompt), 0, &ids, &nid) < 0) fatal("encoding the prompt: %s", last_error());
    int32_t bos = tok_bos(s.tok);
    if (!opt_flag(o, n, "--no-bos") && bos >= 0) {
        ids = xrealloc(ids, sizeof(int32_t) * (nid + 1));
        memmove(ids + 1, ids, sizeof(int32_t) * nid);
        ids[0] = bos;
        nid++;
    }
    if (nid == 0) fatal("the prompt is empty (and the tokenizer has no BOS token to start from)");
    int32_t *feed = ids;
    if ((int)nid >= ctx) {
        if (!opt_flag(o, n, "--truncate"))
            fatal("the prompt is %zu tokens but the context holds %d (generation needs room for at least one more): "
                  "shorten it, raise --ctx, or pass --truncate to keep its last %d tokens", nid, ctx, ctx - 1);
        feed = ids + (nid - (ctx - 1));
        fprintf(stderr, "deepc: warning: prompt truncated from %zu to its last %d tokens\n", nid, ctx - 1);
        nid = ctx - 1;
    }
    Engine e;
    engine_init(&e, &s.m);
    const char *kvt = opt_str(o, n, "--kv-cache");
    if (kv_dtype_parse(kvt, &e.kv_dtype) < 0) fatal("--kv-cache: %s", last_error());
    e.attn_mode = mode;
    KVCache kv;
    engine_kv_init(&e, &kv, ctx);
    const char *stop = opt_str(o, n, "--stop");
    GenOpts go = {.max_tokens = max_tokens, .sampler = so, .stops = stop ? &stop : NULL, .nstops = stop ? 1 : 0,
                  .eos = tok_eos(s.tok), .out = out_stdout};
    TokHist h = {0};
    GenStats st;
    if (opt_flag(o, n, "--speculative")) {
        if (so.temperature != 0) fatal("--speculative is greedy only: use --temperature 0");
        if (s.m.n_mtp < 1) fatal("--speculative needs MTP layers, and %s has none (num_nextn_predict_layers = %d, "
                                 "MTP tensors present: 0)", dir, s.m.c.num_nextn_predict_layers);
        int cap = max_tokens < ctx - (int)nid ? max_tokens : ctx - (int)nid;
        int32_t *out = xmalloc(sizeof(int32_t) * (size_t)(cap > 0 ? cap : 1));
        int nout = 0;
        SpecStats ss;
        if (spec_greedy(&e, &kv, feed, (int)nid, cap, tok_eos(s.tok), out, &nout, &ss) < 0) fatal_last();
        TextStream ts;
        stream_init(&ts, go.stops, go.nstops, out_stdout, NULL);
        for (int i = 0; i < nout && out[i] != tok_eos(s.tok); i++) {
            const char *b; size_t bl;
            if (tok_token_bytes(s.tok, out[i], &b, &bl) < 0) continue;
            if (stream_push(&ts, b, bl)) break;
        }
        stream_finish(&ts);
        stream_free(&ts);
        printf("\n");
        if (opt_flag(o, n, "--stats")) {
            KVCache k2;
            engine_kv_init(&e, &k2, ctx);
            int32_t *ref = xmalloc(sizeof(int32_t) * (size_t)(cap > 0 ? cap : 1));
            int nref = 0;
            double tp;
            if (plain_greedy(&e, &k2, feed, (int)nid, cap, tok_eos(s.tok), ref, &nref, &tp) < 0) fatal_last();
            int same = nref == nout;
            for (int i = 0; same && i < nout; i++) same = ref[i] == out[i];
            fprintf(stderr, "speculative: %d tokens, %d/%d drafts accepted (%.0f%%), %d main steps, %.1f tok/s; plain greedy "
                    "%.1f tok/s; speed-up %.2fx; outputs %s\n", nout, ss.accepted, ss.drafted,
                    ss.drafted ? 100.0 * ss.accepted / ss.drafted : 0, ss.main_steps, ss.seconds > 0 ? nout / ss.seconds : 0,
                    tp > 0 ? nref / tp : 0, ss.seconds > 0 && tp > 0 ? (nout / ss.seconds) / (nref / tp) : 0,
                    same ? "identical" : "DIFFER");
            kv_free(&k2);
            free(ref);
        }
        free(out);
        kv_free(&kv);
        free(ids);
        session_close(&s);
        return 0;
    }
    if (gen_run(&e, s.tok, &kv, &h, feed, (int)nid, &go, &st) < 0) fatal_last();
    printf("\n");
    if (st.reason == GEN_STOP_CONTEXT) fprintf(stderr, "deepc: note: stopped, the context (%d tokens) is full\n", ctx);
    if (opt_flag(o, n, "--stats")) {
        size_t rss, peak;
        proc_memory(&rss, &peak);
        fprintf(stderr, "load %.2f s (resident %.1f MiB after load); prompt %d tokens %.1f tok/s; generated %d tokens "
                "%.1f tok/s; KV cache %.1f KiB/token; peak resident %.1f MiB\n", s.t_load, s.rss / 1048576.0, st.n_fed,
                st.t_fed > 0 ? st.n_fed / st.t_fed : 0, st.n_gen, st.t_gen > 0 ? st.n_gen / st.t_gen : 0,
                kv_bytes_per_token(&kv) / 1024.0, peak / 1048576.0);
    }
    hist_free(&h);
    kv_free(&kv);
    free(ids);
    session_close(&s);
    return 0;
}
