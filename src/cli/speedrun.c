// speedrun.c — `deepc speedrun`: the whole chain on a fresh machine with nothing
// downloaded: gather text and code already on the machine, curate, train a
// tokenizer, tokenize, pre-train a small MLA + MoE model for about --minutes, and
// write report.md with charts, figures and samples. Each stage runs as its own
// process (this binary's subcommands via /proc/self/exe), so stages are isolated.
#include "base/args.h"
#include "base/check.h"
#include "base/io.h"
#include "base/progress.h"
#include "cli/cli.h"
#include "model/config.h"
#include "model/model.h"
#include "train/checkpoint.h"
#include "train/corpus.h"
#include "train/report.h"
#include "data/shard.h"
#include "data/tokenizer.h"
#include <dirent.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *usage =
    "usage: deepc speedrun [--preset tiny | --depth N] [--minutes M] [--out DIR]\n"
    "\n"
    "The whole pipeline on this machine, nothing downloaded: gathers Python standard-library sources,\n"
    "C headers, package documentation and man pages; curates them (`deepc curate`), trains a BPE tokenizer\n"
    "(`deepc tokenizer train`), tokenizes (`deepc tokenize`), pre-trains an MLA + MoE model for about M\n"
    "minutes (`deepc pretrain`) and writes DIR/report.md with loss and expert-load charts, validation bits\n"
    "per byte, parameter counts, throughput and sample completions. A stage whose output exists is reused,\n"
    "so running the same command again after an interruption continues.";

static char self_exe[4096];

typedef struct { const char *name; double seconds; int reused; } StageTime;
static StageTime stages[8];
static int n_stages;

// argv for exec: this binary followed by args (NULL-terminated); *n = number of args.
static char **self_argv(char *const *args, int *n) {
    int k = 0;
    while (args[k]) k++;
    char **argv = xmalloc((size_t)(k + 2) * sizeof(char *));
    argv[0] = self_exe;
    for (int i = 0; i < k; i++) argv[i + 1] = args[i];
    argv[k + 1] = NULL;
    *n = k;
    return argv;
}

// Run `deepc <args...>` as a child process; 0 on exit status 0.
static int run_stage(const char *name, char *const *args) {
    // is the command built? `deepc X --help` exits 0 for a built command, 2 for "not built yet"
    char *probe[] = {self_exe, args[0], "--help", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", 1, 0);
    pid_t pid;
    int st = 0;
    if (posix_spawn(&pid, self_exe, &fa, NULL, probe, environ) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return fail("cannot run %s: stage %s", self_exe, name);
    }
    posix_spawn_file_actions_destroy(&fa);
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return fail("stage \"%s\" needs `deepc %s`, which is not built in this version of deepc", name, args[0]);
    int n;
    char **argv = self_argv(args, &n);
    fprintf(stderr, "\nspeedrun: stage %s: deepc", name);
    for (int i = 0; i < n; i++) fprintf(stderr, " %s", args[i]);
    fprintf(stderr, "\n");
    double t0 = now_seconds();
    int rc = posix_spawn(&pid, self_exe, NULL, NULL, argv, environ);
    free(argv);
    if (rc != 0) return fail("cannot start stage %s", name);
    waitpid(pid, &st, 0);
    stages[n_stages++] = (StageTime){name, now_seconds() - t0, 0};
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return fail("stage \"%s\" (`deepc %s`) failed (%s %d); see its messages above", name, args[0],
                    WIFEXITED(st) ? "exit code" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    return 0;
}

typedef struct { char *s; size_t len, cap; } Buf;
static void bput(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void bput(Buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    while (b->len + (size_t)need + 1 > b->cap) { b->cap = b->cap ? 2 * b->cap : 8192; b->s = xrealloc(b->s, b->cap); }
    va_start(ap, fmt);
    b->len += (size_t)vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
}

// Run `deepc <args...>` and return its stdout (heap), or NULL on failure.
static char *capture(char *const *args) {
    int n;
    char **argv = self_argv(args, &n);
    int fd[2];
    if (pipe(fd) != 0) { free(argv); return NULL; }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", 1, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, self_exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    free(argv);
    close(fd[1]);
    if (rc != 0) { close(fd[0]); return NULL; }
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    ssize_t r;
    while ((r = read(fd[0], buf + len, cap - len - 1)) > 0) {
        len += (size_t)r;
        if (len + 1 == cap) { cap *= 2; buf = xrealloc(buf, cap); }
    }
    close(fd[0]);
    buf[len] = 0;
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { free(buf); return NULL; }
    return buf;
}

static const char *code_prompts[] = {
    "def fibonacci(n):\n",
    "#include <stdio.h>\n\nint main(int argc, char **argv)\n{\n",
    "import os\nimport sys\n\n",
    "class Config:\n    def __init__(self",
    "/* Copyright (C)",
    "The purpose of this package is",
};

// Sample completions with `deepc generate` (KV cache) into Markdown.
static char *generate_samples(const char *model_dir, const char *threads) {
    Buf b = {0};
    bput(&b, "Each prompt continued by `deepc generate --temperature 0.8 --top-k 40 --max-tokens 64` (the prompt is the first lines of each block).\n\n");
    for (size_t i = 0; i < sizeof code_prompts / sizeof *code_prompts; i++) {
        char *a[] = {"generate", "--model", (char *)model_dir, "--prompt", (char *)code_prompts[i], "--max-tokens", "64",
                     "--temperature", "0.8", "--top-k", "40", "--seed", "1", "--threads", (char *)threads, NULL};
        char *out = capture(a);
        if (!out) {
            free(b.s);
            return NULL;
        }
        bput(&b, "````\n%s%s\n````\n\n", code_prompts[i], out);
        free(out);
    }
    return b.s;
}

static void reused(const char *name) {
    stages[n_stages++] = (StageTime){name, 0, 1};
    fprintf(stderr, "speedrun: stage %s: output exists, reused\n", name);
}

// The first max_bytes of a JSONL file (whole lines) for tokenizer training.
static int head_jsonl(const char *from, const char *to, size_t max_bytes) {
    char *buf; size_t n;
    TRY(io_read_all(from, &buf, &n));
    size_t cut = n;
    if (n > max_bytes) {
        cut = max_bytes;
        while (cut > 0 && buf[cut - 1] != '\n') cut--;
    }
    int rc = io_write_file(to, buf, cut);
    free(buf);
    return rc;
}

static char *read_text(const char *path) {
    char *b; size_t n;
    return io_read_all(path, &b, &n) == 0 ? b : NULL;
}


// Bits per byte on the val split of a unigram model of the train split (add-one
// smoothing; special tokens, which have no bytes, are not scored): the baseline
// a model that knows only token frequencies reaches.
static double unigram_bpb(const char *shards, const char *tokfile) {
    Tokenizer *tok;
    if (tok_load(tokfile, &tok) < 0) return NAN;
    int V = tok_vocab_size(tok);
    double *cnt = xcalloc((size_t)V, sizeof(double)), tot = V, bits = 0, bytes = 0;
    for (int pass = 0; pass < 2; pass++) {
        DIR *d = opendir(shards);
        if (!d) break;
        struct dirent *e;
        const char *pre = pass == 0 ? "train_" : "val_";
        while ((e = readdir(d))) {
            if (strncmp(e->d_name, pre, strlen(pre))) continue;
            char *p = path_join(shards, e->d_name);
            Shard sh;
            if (shard_open(&sh, p, 0, 0) == 0) {
                for (uint64_t i = 0; i < sh.n_tokens; i++) {
                    uint32_t t = shard_token(&sh, i);
                    if ((int)t >= V) continue;
                    if (pass == 0) { cnt[t] += 1; tot += 1; continue; }
                    const char *bp; size_t bl;
                    if (tok_token_bytes(tok, (int32_t)t, &bp, &bl) < 0 || bl == 0 || t == (uint32_t)tok_bos(tok) ||
                        t == (uint32_t)tok_eos(tok)) continue;
                    bits += -log2((cnt[t] + 1) / tot);
                    bytes += (double)bl;
                }
                shard_close(&sh);
            }
            free(p);
        }
        closedir(d);
    }
    free(cnt);
    tok_free(tok);
    return bytes > 0 ? bits / bytes : NAN;
}

static int write_report(const char *out, const char *run, const char *model_desc, const CorpusStats *cs, int have_cs,
                        double minutes, double total_s, int vocab, const char *threads, double uni_bpb) {
    char *mp = path_join(run, "metrics.jsonl");
    MetricsSummary s;
    if (report_summarize(mp, &s) < 0) { free(mp); return -1; }
    int lp = 0, ep = 0;
    if (report_charts(mp, out, &lp, &ep) < 0) { free(mp); return -1; }
    free(mp);
    char *ck = checkpoint_latest(run);
    size_t total = 0, active = 0;
    Config c;
    memset(&c, 0, sizeof c);
    if (ck) {
        char *cp = path_join(ck, "config.json");
        if (config_load(cp, &c) == 0) model_param_counts(&c, &total, &active);
        free(cp);
    }
    Buf b = {0};
    bput(&b, "# deepc speedrun report\n\n");
    bput(&b, "A %s model trained from scratch on this machine's own text and code for about %.0f minutes "
             "(all stages before this report: %.1f minutes). Everything below was measured in this run.\n\n", model_desc, minutes, total_s / 60);
    bput(&b, "## Result\n\n| | |\n|---|---|\n");
    bput(&b, "| parameters (total / active per token) | %.2fM / %.2fM |\n", total / 1e6, active / 1e6);
    if (ck) bput(&b, "| shape | %d layers (+%d MTP), hidden %d, %d heads, MLA kv rank %d, %d routed experts (top-%d) + %d shared, vocab %d |\n",
                 c.num_hidden_layers, c.num_nextn_predict_layers, c.hidden_size, c.num_attention_heads, c.kv_lora_rank,
                 c.n_routed_experts, c.num_experts_per_tok, c.n_shared_experts, c.vocab_size);
    bput(&b, "| training steps / tokens | %lld / %.2fM |\n", (long long)s.steps, s.tokens / 1e6);
    bput(&b, "| training loss, first 10 → last 10 steps | %.3f → %.3f nats |\n", s.first_loss, s.last_loss);
    if (isfinite(s.last_val_loss)) {
        bput(&b, "| validation loss | %.3f nats |\n", s.last_val_loss);
        bput(&b, "| **validation bits per byte** (last / best) | **%.3f** / %.3f |\n", s.last_val_bpb, s.best_val_bpb);
        bput(&b, "| unigram baseline on the same validation split | %.3f bits per byte |\n", uni_bpb);
    } else {
        bput(&b, "| validation loss | not measured: the corpus was too small for a validation split |\n");
    }
    bput(&b, "| throughput (median) | %.0f tokens/s |\n| MFU vs this machine's measured sgemm peak | %.1f%% |\n", s.tok_per_s, 100 * s.mfu);
    if (s.n_moe_layers) bput(&b, "| expert-load imbalance MaxVio (mean over MoE layers, last 10 steps) | %.3f |\n", s.last_maxvio);
    bput(&b, "| model folder (Hugging Face layout) | `%s` |\n\n", ck ? ck : "(none)");
    if (lp) bput(&b, "## Loss\n\n![loss](loss.png)\n\n");
    if (ep) bput(&b, "## Expert load\n\nMaxVio = (max load − mean load) / mean load per MoE layer; 0 is perfect balance. "
                     "The auxiliary-loss-free bias rule pushes it down during training.\n\n![expert load](expert_load.png)\n\n");
    if (!lp) bput(&b, "(No charts: gnuplot is not installed. `apt-get install gnuplot-nox` and rerun.)\n\n");
    bput(&b, "## Data\n\n");
    if (have_cs) {
        bput(&b, "| source | files | MB |\n|---|---|---|\n");
        for (int i = 0; i < CORPUS_NSRC; i++)
            bput(&b, "| %s | %llu | %.1f |\n", cs->names[i], (unsigned long long)cs->files[i], cs->bytes[i] / 1e6);
        bput(&b, "\n");
    } else {
        bput(&b, "The gathered corpus was reused from an earlier run (raw/corpus.jsonl).\n\n");
    }
    char *cr = path_join(out, "curated/report.md");
    if (io_exists(cr)) bput(&b, "Curation report: `curated/report.md`. ");
    free(cr);
    bput(&b, "Tokenizer: byte-level BPE, %d tokens (`tokenizer/tokenizer.json`).\n\n", vocab);
    bput(&b, "## Stages\n\n| stage | seconds |\n|---|---|\n");
    for (int i = 0; i < n_stages; i++)
        bput(&b, "| %s | %s%.0f |\n", stages[i].name, stages[i].reused ? "reused " : "", stages[i].seconds);
    bput(&b, "\n## Samples\n\n");
    char *samples = ck ? generate_samples(ck, threads) : NULL;
    if (samples) {
        bput(&b, "%s", samples);
        free(samples);
    } else {
        char *sp = path_join(run, "samples.md");
        char *own = read_text(sp);
        free(sp);
        if (own) {
            const char *body = strstr(own, "\n\n");
            bput(&b, "%s\n", body ? body + 2 : own);
            free(own);
        } else {
            bput(&b, "(no samples: `deepc generate` is not built or failed, and the run wrote no samples.md)\n\n");
        }
    }
    bput(&b, "## What a %.0f-minute model can and cannot do\n\n", minutes);
    bput(&b, "In this run the model saw %.2fM tokens (%lld steps at %.0f tokens/s on this machine). Its validation "
             "loss is %.2f bits per byte; raw bytes are 8, and a model that knows only how often each token "
             "occurs (a unigram model of the training split, measured on the same validation split) gets %.2f. ",
             s.tokens / 1e6, (long long)s.steps, s.tok_per_s, s.last_val_bpb, uni_bpb);
    if (!(s.last_val_bpb < uni_bpb - 0.3))
        bput(&b, "At this point it has learned little more than which tokens are frequent: the samples are "
                 "mostly a shuffle of common tokens (keywords, identifiers, whitespace runs). The machine was "
                 "too slow or too busy for the budget; a longer `--minutes` or an idle machine gets further. ");
    else
        bput(&b, "It has started to learn which tokens follow which, beyond their frequencies: the samples "
                 "mix fragments that look like its corpus (indentation, `def`, `self`, `#define`, identifiers "
                 "from the C headers, comment phrasing) but are not coherent code or prose. ");
    bput(&b, "It cannot write correct programs, keep a variable's meaning across lines, follow an instruction, "
             "answer a question or stay on one topic: with %.1fM active parameters and %.2fM tokens it is "
             "several orders of magnitude short of the compute at which such abilities appear. What the run "
             "is good for: checking the whole pipeline end to end on any machine, and comparing ablations on "
             "equal compute (`deepc pretrain --ffn dense`, `--attn mha`, `--balance aux-loss|none`, `--mtp off`, "
             "`--curriculum on`).\n", active / 1e6, s.tokens / 1e6);
    char *rp = path_join(out, "report.md");
    int rc = io_write_file(rp, b.s, b.len);
    fprintf(stderr, "\nspeedrun: report: %s\n", rp);
    free(rp); free(b.s); free(ck);
    return rc;
}

int cmd_speedrun(int argc, char **argv) {
    Opt opts[] = {
        {"--preset", "NAME", "model preset (tiny, small, ...)", "tiny", NULL, 0},
        {"--depth", "N", "instead of a preset: the size knob (width 64N, N heads)", NULL, NULL, 0},
        {"--minutes", "M", "pre-training time budget", "10", NULL, 0},
        {"--out", "DIR", "output folder", "speedrun", NULL, 0},
        {"--threads", "N", "threads for every stage", "2", NULL, 0},
        {"--corpus-mb", "MB", "text and code to gather from this machine", "24", NULL, 0},
        {"--vocab", "N", "tokenizer vocabulary size", "4096", NULL, 0},
        {"--seed", "S", "random seed", "1234", NULL, 0},
    };
    int n = (int)(sizeof opts / sizeof *opts);
    args_parse(argc, argv, opts, n, usage, NULL, NULL);
    double minutes = opt_num(opts, n, "--minutes");
    if (!(minutes > 0) || minutes > 10000) fatal("--minutes %g must be in (0, 10000]", minutes);
    const char *out = opt_str(opts, n, "--out"), *preset = opt_str(opts, n, "--preset");
    long long threads = opt_int(opts, n, "--threads"), corpus_mb = opt_int(opts, n, "--corpus-mb"), vocab = opt_int(opts, n, "--vocab");
    if (threads < 1) fatal("--threads must be at least 1");
    if (corpus_mb < 1) fatal("--corpus-mb must be at least 1");
    if (vocab < 300 || vocab > 65536) fatal("--vocab %lld must be in [300, 65536]", vocab);
    int depth = opt_flag(opts, n, "--depth") ? (int)opt_int(opts, n, "--depth") : 0;
    if (opt_flag(opts, n, "--depth") && depth < 1) fatal("--depth must be at least 1");
    if (depth && opt_flag(opts, n, "--preset")) fatal("give --preset or --depth, not both");
    if (!depth) { Config c; if (config_preset(preset, &c) < 0) fatal_last(); }
    ssize_t sl = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (sl <= 0) fatal("cannot find this program's path (/proc/self/exe)");
    self_exe[sl] = 0;
    if (io_mkdir_p(out) < 0) fatal_last();
    // Stages sleep instead of spinning at OpenMP barriers: on a machine shared with other work,
    // spinning threads that wait for a descheduled partner made training steps up to 70x slower
    // (measured: tiny preset, 2 threads, load average 11). Costs little on an idle machine.
    setenv("OMP_WAIT_POLICY", "passive", 0);
    double t0 = now_seconds();
    char th[24], vs[24], mins[32], seed[32], dep[16];
    snprintf(th, sizeof th, "%lld", threads);
    snprintf(vs, sizeof vs, "%lld", vocab);
    snprintf(mins, sizeof mins, "%g", minutes);
    snprintf(seed, sizeof seed, "%s", opt_str(opts, n, "--seed"));
    snprintf(dep, sizeof dep, "%d", depth);
    char *raw = path_join(out, "raw"), *rawf = path_join(raw, "corpus.jsonl"), *cur = path_join(out, "curated"),
         *curf = path_join(cur, "data.jsonl"), *toks = path_join(out, "tok_sample.jsonl"), *tokd = path_join(out, "tokenizer"),
         *tokf = path_join(tokd, "tokenizer.json"), *shards = path_join(out, "shards"), *man = path_join(shards, "manifest.json"),
         *run = path_join(out, "run");

    // 1. corpus
    CorpusStats cs;
    memset(&cs, 0, sizeof cs);
    int have_cs = 0;
    if (io_exists(rawf)) reused("gather");
    else {
        fprintf(stderr, "speedrun: stage gather: reading up to %lld MB of text and code from this machine\n", corpus_mb);
        double ts = now_seconds();
        if (io_mkdir_p(raw) < 0 || corpus_gather(rawf, (uint64_t)corpus_mb << 20, &cs) < 0) fatal_last();
        have_cs = 1;
        stages[n_stages++] = (StageTime){"gather", now_seconds() - ts, 0};
        for (int i = 0; i < CORPUS_NSRC; i++)
            fprintf(stderr, "speedrun:   %-42s %6llu files %7.1f MB\n", cs.names[i], (unsigned long long)cs.files[i], cs.bytes[i] / 1e6);
    }
    // 2. curate
    if (io_exists(curf)) reused("curate");
    else {
        char *a[] = {"curate", "--input", raw, "--out", cur, "--threads", th, "--seed", seed, NULL};
        if (run_stage("curate", a) < 0) fatal_last();
        if (!io_exists(curf)) fatal("stage curate wrote no %s", curf);
    }
    // 3. tokenizer (trained on the first 6 MB of the curated data: enough for a 4K vocabulary)
    if (io_exists(tokf)) reused("tokenizer");
    else {
        if (head_jsonl(curf, toks, 6u << 20) < 0) fatal_last();
        char *a[] = {"tokenizer", "train", "--input", toks, "--vocab-size", vs, "--out", tokd, NULL};
        if (run_stage("tokenizer", a) < 0) fatal_last();
    }
    // 4. tokenize
    if (io_exists(man)) reused("tokenize");
    else {
        // 5% for validation: document lengths are heavy-tailed, so with 2% (28 documents) the python share
        // of the val split's tokens varied with sd 0.16 between hash seeds (5%: 0.10); see docs/training.md
        char *a[] = {"tokenize", "--tokenizer", tokd, "--input", curf, "--out", shards, "--val-fraction", "0.05",
                     "--threads", th, "--seed", seed, NULL};
        if (run_stage("tokenize", a) < 0) fatal_last();
    }
    // 5. pretrain (continues a run an interruption left behind)
    char *latest_state = NULL;
    if (io_is_dir(run)) {
        char *l = checkpoint_latest(run);
        if (l) latest_state = l;
    }
    char *mpath = path_join(run, "metrics.jsonl");
    if (latest_state) {
        char *a[] = {"pretrain", "--resume", run, "--data", shards, "--tokenizer", tokf, "--threads", th, NULL};
        if (run_stage("pretrain", a) < 0) fatal_last();
    } else {
        if (io_exists(mpath)) io_rm_rf(run);   // a run killed before its first checkpoint: start over
        char *model_flag = depth ? "--depth" : "--preset", *model_val = depth ? dep : (char *)preset;
        char *a[] = {"pretrain", model_flag, model_val, "--data", shards, "--tokenizer", tokf, "--out", run,
                     // 16 validation batches (32k tokens): the first 4 varied with sd 0.14 nats between val orders
                     "--minutes", mins, "--threads", th, "--seed", seed, "--eval-every", "100", "--eval-batches", "16",
                     "--save-every", "200",
                     "--keep", "2", "--samples", "0", NULL};
        if (run_stage("pretrain", a) < 0) fatal_last();
    }
    free(latest_state); free(mpath);
    // 6. report
    char desc[96];
    if (depth) snprintf(desc, sizeof desc, "depth-%d MLA + MoE", depth);
    else snprintf(desc, sizeof desc, "`%s` MLA + MoE", preset);
    fprintf(stderr, "\nspeedrun: stage report: charts, figures and samples (deepc generate)\n");
    double uni = unigram_bpb(shards, tokf);
    if (write_report(out, run, desc, &cs, have_cs, minutes, now_seconds() - t0, (int)vocab, th, uni) < 0) fatal_last();
    free(raw); free(rawf); free(cur); free(curf); free(toks); free(tokd); free(tokf); free(shards); free(man); free(run);
    return 0;
}
