// generate.c — `deepc generate`: text from a prompt, streamed to stdout.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/args.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
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

// Token ids of a prompt: BOS unless no_bos, the context rule (fail, or keep the end with truncate).
// Returns the ids (malloc'd) and their count in *n, or NULL after fail().
static int32_t *prompt_ids(const Tokenizer *tok, const char *prompt, int no_bos, int ctx, int truncate, const char *what,
                           int *n) {
    int32_t *ids = NULL;
    size_t nid = 0;
    if (tok_encode(tok, prompt, strlen(prompt), 0, &ids, &nid) < 0) { fail_ctx("encoding %s: ", what); return NULL; }
    int32_t bos = tok_bos(tok);
    if (!no_bos && bos >= 0) {
        ids = xrealloc(ids, sizeof(int32_t) * (nid + 1));
        memmove(ids + 1, ids, sizeof(int32_t) * nid);
        ids[0] = bos;
        nid++;
    }
    if (nid == 0) { free(ids); fail("%s is empty (and the tokenizer has no BOS token to start from)", what); return NULL; }
    if ((int)nid >= ctx) {
        if (!truncate) {
            fail("%s is %zu tokens but the context holds %d (generation needs room for at least one more): "
                 "shorten it, raise --ctx, or pass --truncate to keep its last %d tokens", what, nid, ctx, ctx - 1);
            free(ids);
            return NULL;
        }
        memmove(ids, ids + (nid - (ctx - 1)), sizeof(int32_t) * (size_t)(ctx - 1));
        fprintf(stderr, "deepc: warning: %s truncated from %zu to its last %d tokens\n", what, nid, ctx - 1);
        nid = ctx - 1;
    }
    *n = (int)nid;
    return ids;
}

// A JSON string literal of b[0..n) (valid UTF-8, possibly with NUL bytes): quotes, backslashes and control
// characters escaped, everything else as is.
static void json_put_bytes(FILE *f, const char *b, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static const char *stop_name(int r) {
    switch (r) {
    case GEN_STOP_EOS: return "eos";
    case GEN_STOP_STRING: return "stop";
    case GEN_STOP_MAX: return "max_tokens";
    case GEN_STOP_CONTEXT: return "context";
    default: return "interrupt";
    }
}

// --prompts FILE: one JSON object {"prompt": "..."} (or a JSON string) per line; prompts decoded together in
// batches of `batch` sequences (gen_batch); one JSON line per prompt on stdout, in the file's order.
static int run_prompts_file(const Engine *e, const Tokenizer *tok, const char *path, int batch, int ctx, int no_bos,
                            int truncate, const GenOpts *go, int stats) {
    char *buf;
    size_t len;
    TRY(io_read_all(path, &buf, &len));
    char **prompts = NULL;
    int np = 0, cap = 0, line = 0, rc = 0;
    for (char *p = buf; p < buf + len && rc == 0; line++) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p)), *end = nl ? nl : buf + len;
        size_t ll = (size_t)(end - p);
        int blank = 1;
        for (size_t i = 0; i < ll; i++) blank &= p[i] == ' ' || p[i] == '\t' || p[i] == '\r';
        if (!blank) {
            char what[64];
            snprintf(what, sizeof what, "%s line %d", path, line + 1);
            cJSON *j = NULL;
            const char *pr = NULL;
            if (json_parse(p, ll, what, &j) < 0) rc = -1;
            else if (cJSON_IsString(j)) pr = j->valuestring;
            else if (cJSON_IsObject(j)) { if (json_str_req(j, "prompt", what, &pr) < 0) rc = -1; }
            else rc = fail("%s: expected a JSON object with a \"prompt\" string (or a JSON string)", what);
            if (pr) {
                if (np == cap) { cap = cap ? 2 * cap : 64; prompts = xrealloc(prompts, sizeof(char *) * cap); }
                prompts[np++] = xstrdup(pr);
            }
            cJSON_Delete(j);
        }
        p = nl ? nl + 1 : buf + len;
    }
    free(buf);
    if (rc == 0 && np == 0) rc = fail("%s has no prompts (one JSON object {\"prompt\": ...} per line)", path);
    int32_t **ids = xcalloc((size_t)(np > 0 ? np : 1), sizeof(int32_t *));
    int *n = xcalloc((size_t)(np > 0 ? np : 1), sizeof(int));
    for (int i = 0; i < np && rc == 0; i++) {            // all prompts checked before anything is generated
        char what[64];
        snprintf(what, sizeof what, "prompt %d", i + 1);
        if (!(ids[i] = prompt_ids(tok, prompts[i], no_bos, ctx, truncate, what, &n[i]))) rc = -1;
    }
    double t_fed = 0, t_gen = 0;
    long fed = 0, gen = 0;
    for (int b0 = 0; b0 < np && rc == 0; b0 += batch) {
        int nb = np - b0 < batch ? np - b0 : batch;
        char **text = xcalloc((size_t)nb, sizeof(char *));
        size_t *tl = xcalloc((size_t)nb, sizeof(size_t));
        GenStats *st = xcalloc((size_t)nb, sizeof(GenStats));
        GenOpts o = *go;
        o.sampler.seed += (uint64_t)b0;                   // prompt i samples with seed + i, whatever the batch size
        rc = gen_batch(e, tok, ctx, (const int32_t *const *)(ids + b0), n + b0, nb, &o, text, tl, st);
        for (int i = 0; i < nb; i++) {
            if (rc == 0) {
                // the completion is written by hand: it may hold NUL bytes (a token's bytes), which cJSON strings
                // cannot; invalid UTF-8 becomes U+FFFD first (JSON text is UTF-8)
                size_t cl;
                char *comp = utf8_lossy(text[i], tl[i], &cl);
                cJSON *jp = cJSON_CreateString(prompts[b0 + i]);
                char *pj = cJSON_PrintUnformatted(jp);
                printf("{\"prompt\":%s,\"completion\":", pj);
                json_put_bytes(stdout, comp, cl);
                printf(",\"prompt_tokens\":%d,\"tokens\":%d,\"stop\":\"%s\"}\n", n[b0 + i], st[i].n_gen,
                       stop_name(st[i].reason));
                free(pj);
                cJSON_Delete(jp);
                free(comp);
                fed += st[i].n_fed; gen += st[i].n_gen;
            }
            free(text[i]);
        }
        fflush(stdout);
        if (nb > 0) { t_fed += st[0].t_fed; t_gen += st[0].t_gen; }
        free(text); free(tl); free(st);
    }
    if (rc == 0 && stats)
        fprintf(stderr, "%d prompts in batches of %d: prompts %ld tokens %.1f tok/s; generated %ld tokens %.1f tok/s "
                "(all sequences together)\n", np, batch, fed, t_fed > 0 ? fed / t_fed : 0, gen, t_gen > 0 ? gen / t_gen : 0);
    for (int i = 0; i < np; i++) { free(prompts[i]); free(ids[i]); }
    free(prompts); free(ids); free(n);
    return rc;
}

int cmd_generate(int argc, char **argv) {
    Opt o[] = {
        {"--model", "DIR", "model folder (config.json, safetensors, tokenizer.json)", NULL, NULL, 0},
        {"--prompt", "TEXT", "the prompt", NULL, NULL, 0},
        {"--prompts", "FILE", "many prompts, one JSON object {\"prompt\": ...} per line, decoded together; "
                              "JSON lines with the completions on stdout", NULL, NULL, 0},
        {"--batch", "N", "with --prompts: sequences decoded together", "8", NULL, 0},
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
        {"--kv-cache", "T", "latent cache: f32, bf16 (half the bytes), fp8 (c_kv E4M3 + per-128 scales, k_pe BF16: about a quarter), fp8-rope, int8 (per-128 scales: 26 % of f32; attended with integer products on VNNI CPUs)", "f32", NULL, 0},
        {"--threads", "N", "threads (default: all cores)", NULL, NULL, 0},
        {"--stats", NULL, "print load time, memory and tokens/s to stderr", NULL, NULL, 0},
        {"--speculative", NULL, "greedy MTP self-speculation (needs --temperature 0 and a model with MTP layers); "
                                "with --stats also times plain greedy for the speed-up", NULL, NULL, 0},
    };
    int n = sizeof o / sizeof *o;
    args_parse(argc, argv, o, n, "usage: deepc generate --model DIR (--prompt TEXT | --prompts FILE) [options]", NULL, NULL);
    const char *dir = opt_str(o, n, "--model"), *prompt = opt_str(o, n, "--prompt"), *pfile = opt_str(o, n, "--prompts");
    if (!dir) fatal("--model DIR is required");
    if (!prompt && !pfile) fatal("--prompt TEXT (or --prompts FILE) is required");
    if (prompt && pfile) fatal("give either --prompt or --prompts, not both");
    if (pfile && opt_flag(o, n, "--speculative")) fatal("--speculative works on one --prompt, not with --prompts");
    int batch = (int)opt_int(o, n, "--batch");
    if (batch < 1 || batch > 1024) fatal("--batch must be in 1..1024, not %d", batch);
    if (opt_str(o, n, "--threads")) omp_set_num_threads((int)opt_int(o, n, "--threads"));
    SamplerOpts so = cli_sampler_opts(o, n);
    int max_tokens = (int)opt_int(o, n, "--max-tokens");
    if (max_tokens < 0) fatal("--max-tokens must be >= 0");
    int mode = attn_mode(opt_str(o, n, "--attn"));

    Session s;
    if (session_open(dir, opt_str(o, n, "--dtype"), &s) < 0) fatal_last();
    int ctx = opt_str(o, n, "--ctx") ? (int)opt_int(o, n, "--ctx") : s.m.c.max_position_embeddings;
    if (ctx <= 1) fatal("--ctx must be at least 2");
    int32_t *ids = NULL, *feed = NULL;
    size_t nid = 0;
    if (prompt) {
        int ni;
        if (!(ids = prompt_ids(s.tok, prompt, opt_flag(o, n, "--no-bos"), ctx, opt_flag(o, n, "--truncate"), "the prompt", &ni)))
            fatal_last();
        feed = ids;
        nid = (size_t)ni;
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
    if (pfile) {
        go.out = NULL;
        if (run_prompts_file(&e, s.tok, pfile, batch, ctx, opt_flag(o, n, "--no-bos"), opt_flag(o, n, "--truncate"), &go,
                             opt_flag(o, n, "--stats")) < 0)
            fatal_last();
        kv_free(&kv);
        session_close(&s);
        return 0;
    }
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
