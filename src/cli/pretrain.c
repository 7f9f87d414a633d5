// pretrain.c — `deepc pretrain`: options, then the training loop (train/trainer.h).
#include "base/args.h"
#include "base/check.h"
#include "cli/cli.h"
#include "train/dist.h"
#include "train/schedule.h"
#include "train/trainer.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *usage =
    "usage: deepc pretrain (--model DIR | --preset NAME | --depth N | --resume RUN) --data SHARDS --out RUN [options]\n"
    "\n"
    "Pre-trains an MLA + DeepSeekMoE model on token shards (from `deepc tokenize`). One JSON line per step\n"
    "goes to RUN/metrics.jsonl; checkpoints are RUN/ckpt-NNNNNNNN (Hugging Face model folders plus optimizer\n"
    "and trainer state); --resume RUN continues bit-exactly. Unset hyper-parameters follow from the model's\n"
    "width by the size knob (see docs/training.md).";

int cmd_pretrain(int argc, char **argv) {
    Opt opts[] = {
        {"--model", "DIR", "start from this model folder (config.json + weights)", NULL, NULL, 0},
        {"--preset", "NAME", "start from a random model of a preset shape (tiny, small, base, bench-train)", NULL, NULL, 0},
        {"--depth", "N", "start from a random model of depth N (the size knob: width 64N, N heads)", NULL, NULL, 0},
        {"--data", "SHARDS", "folder of token shards (train_*.bin, val_*.bin)", NULL, NULL, 0},
        {"--tokenizer", "FILE", "tokenizer.json for bits per byte and samples", "SHARDS/tokenizer.json", NULL, 0},
        {"--out", "RUN", "run folder: metrics.jsonl, checkpoints, samples.md", NULL, NULL, 0},
        {"--resume", "RUN", "continue the newest checkpoint of a run folder (or a checkpoint folder)", NULL, NULL, 0},
        {"--steps", "N", "optimizer steps (default: 20 tokens per active parameter)", NULL, NULL, 0},
        {"--minutes", "M", "without --steps: choose the horizon to fit M minutes (re-timed every 50 steps from the speed of the last max(100, --eval-every) steps)", NULL, NULL, 0},
        {"--stop-after", "N", "stop (with a checkpoint) after N steps of this invocation; resume later", NULL, NULL, 0},
        {"--batch", "B", "sequences per optimizer step, per process under mpirun (default: from the size knob)", NULL, NULL, 0},
        {"--seq", "T", "tokens per sequence (default: from the size knob)", NULL, NULL, 0},
        {"--accum", "N", "gradient accumulation: micro-batches per step", "1", NULL, 0},
        {"--lr", "LR", "peak learning rate (default: 3e-3 * sqrt(128 / width))", NULL, NULL, 0},
        {"--schedule", "S", "cosine | wsd | multistep | constant", "cosine", NULL, 0},
        {"--warmup", "N", "warm-up steps (default: 5% of the steps, at most 1000)", NULL, NULL, 0},
        {"--mtp", "on|off", "multi-token prediction loss", "on", NULL, 0},
        {"--mtp-lambda", "L", "MTP loss weight for the first 68% of steps (then L/3)", "0.3", NULL, 0},
        {"--balance", "MODE", "aux-free (bias rule) | aux-loss (sequence-wise loss) | none", "aux-free", NULL, 0},
        {"--bias-gamma", "G", "aux-free bias update speed", "0.001", NULL, 0},
        {"--alpha", "A", "sequence-wise balance loss weight (aux-free: 1e-4, aux-loss: 1e-3)", NULL, NULL, 0},
        {"--ffn", "moe|dense", "dense: SwiGLU of the same active FLOPs instead of MoE (ablation)", "moe", NULL, 0},
        {"--attn", "mla|mha", "attention: mla, or mha (plain multi-head attention of the same width, ablation)", "mla", NULL, 0},
        {"--curriculum", "on|off", "sequence-length stages and easy-to-hard document pacing", "off", NULL, 0},
        {"--fim-rate", "R", "fill-in-the-middle rate (applied by `deepc tokenize`; recorded here)", "0", NULL, 0},
        {"--eval-every", "N", "validation loss and bits per byte every N steps", "100", NULL, 0},
        {"--eval-batches", "N", "validation batches per evaluation", "4", NULL, 0},
        {"--save-every", "N", "checkpoint every N steps (and at the end)", "500", NULL, 0},
        {"--keep", "K", "keep the newest K checkpoints", "3", NULL, 0},
        {"--nan", "stop|skip", "on a NaN/Inf loss or gradient: stop, or skip the step", "stop", NULL, 0},
        {"--seed", "S", "random seed (weights, data order)", "1234", NULL, 0},
        {"--threads", "N", "OpenMP threads (default: all cores)", NULL, NULL, 0},
        {"--zero", "0|1", "under mpirun: 1 shards the AdamW moments over the ranks (ZeRO-1) (default: 0, or the resumed run's)", NULL, NULL, 0},
        {"--samples", "N", "sampled continuations at the end", "4", NULL, 0},
        {"--quiet", NULL, "no progress bar", NULL, NULL, 0},
    };
    int n = (int)(sizeof opts / sizeof *opts);
    if (dist_init(&argc, &argv) < 0) fatal_last();   // MPI builds: one process per rank (mpirun -np N)
    args_parse(argc, argv, opts, n, usage, NULL, NULL);
    TrainOptions o;
    train_options_default(&o);
    o.model_dir = opt_str(opts, n, "--model");
    o.preset = opt_str(opts, n, "--preset");
    if (opt_flag(opts, n, "--depth")) o.depth = (int)opt_int(opts, n, "--depth");
    if (opt_flag(opts, n, "--depth") && o.depth < 1) fatal("--depth must be at least 1");
    o.data_dir = opt_str(opts, n, "--data");
    o.tokenizer = opt_flag(opts, n, "--tokenizer") ? opt_str(opts, n, "--tokenizer") : NULL;
    o.out_dir = opt_str(opts, n, "--out");
    o.resume = opt_str(opts, n, "--resume");
    if (o.resume && !o.out_dir) o.out_dir = o.resume;
    if (opt_flag(opts, n, "--steps") && (o.steps = opt_int(opts, n, "--steps")) < 1) fatal("--steps must be at least 1");
    if (opt_flag(opts, n, "--minutes") && !((o.minutes = opt_num(opts, n, "--minutes")) > 0)) fatal("--minutes must be positive");
    if (opt_flag(opts, n, "--stop-after") && (o.stop_after = opt_int(opts, n, "--stop-after")) < 1) fatal("--stop-after must be at least 1");
    if (opt_flag(opts, n, "--batch") && (o.batch = (int)opt_int(opts, n, "--batch")) < 1) fatal("--batch must be at least 1");
    if (opt_flag(opts, n, "--seq") && (o.seq = (int)opt_int(opts, n, "--seq")) < 2) fatal("--seq must be at least 2");
    if (opt_flag(opts, n, "--accum") && (o.accum = (int)opt_int(opts, n, "--accum")) < 1) fatal("--accum must be at least 1");
    if (opt_flag(opts, n, "--lr") && !((o.lr = opt_num(opts, n, "--lr")) > 0)) fatal("--lr must be positive");
    if (opt_flag(opts, n, "--schedule")) {
        SchedKind k;
        if (schedule_parse(opt_str(opts, n, "--schedule"), &k) < 0) fatal_last();
        o.sched = k;
    }
    if (opt_flag(opts, n, "--warmup") && (o.warmup = opt_int(opts, n, "--warmup")) < 0) fatal("--warmup must be >= 0");
    if (opt_flag(opts, n, "--mtp")) {
        const char *v = opt_str(opts, n, "--mtp");
        if (!strcmp(v, "on")) o.mtp = 1; else if (!strcmp(v, "off")) o.mtp = 0;
        else fatal("--mtp \"%s\": use on or off", v);
    }
    if (opt_flag(opts, n, "--mtp-lambda") && (o.mtp_lambda = opt_num(opts, n, "--mtp-lambda")) < 0) fatal("--mtp-lambda must be >= 0");
    if (opt_flag(opts, n, "--balance")) {
        const char *v = opt_str(opts, n, "--balance");
        if (!strcmp(v, "aux-free")) o.balance = BAL_AUX_FREE;
        else if (!strcmp(v, "aux-loss")) o.balance = BAL_AUX_LOSS;
        else if (!strcmp(v, "none")) o.balance = BAL_NONE;
        else fatal("--balance \"%s\": use aux-free, aux-loss or none", v);
    }
    if (opt_flag(opts, n, "--bias-gamma") && (o.bias_gamma = opt_num(opts, n, "--bias-gamma")) < 0) fatal("--bias-gamma must be >= 0");
    if (opt_flag(opts, n, "--alpha") && (o.alpha = opt_num(opts, n, "--alpha")) < 0) fatal("--alpha must be >= 0");
    if (opt_flag(opts, n, "--ffn")) {
        const char *v = opt_str(opts, n, "--ffn");
        if (!strcmp(v, "moe")) o.ffn_dense = 0; else if (!strcmp(v, "dense")) o.ffn_dense = 1;
        else fatal("--ffn \"%s\": use moe or dense", v);
    }
    const char *attn = opt_str(opts, n, "--attn");
    if (!strcmp(attn, "mha")) o.attn_mha = 1;
    else if (strcmp(attn, "mla")) fatal("--attn \"%s\": use mla or mha", attn);
    if (opt_flag(opts, n, "--curriculum")) {
        const char *v = opt_str(opts, n, "--curriculum");
        if (!strcmp(v, "on")) o.curriculum = 1; else if (!strcmp(v, "off")) o.curriculum = 0;
        else fatal("--curriculum \"%s\": use on or off", v);
    }
    o.fim_rate = opt_num(opts, n, "--fim-rate");
    o.eval_every = (int)opt_int(opts, n, "--eval-every");
    o.eval_batches = (int)opt_int(opts, n, "--eval-batches");
    o.save_every = (int)opt_int(opts, n, "--save-every");
    o.keep = (int)opt_int(opts, n, "--keep");
    if (o.eval_every < 1 || o.eval_batches < 1 || o.save_every < 1 || o.keep < 1)
        fatal("--eval-every, --eval-batches, --save-every and --keep must be at least 1");
    const char *nan = opt_str(opts, n, "--nan");
    if (!strcmp(nan, "stop")) o.nan_stop = 1; else if (!strcmp(nan, "skip")) o.nan_stop = 0;
    else fatal("--nan \"%s\": use stop or skip", nan);
    if (opt_flag(opts, n, "--seed")) { o.seed = opt_int(opts, n, "--seed"); o.has_seed = 1; }
    if (opt_flag(opts, n, "--threads") && (o.threads = (int)opt_int(opts, n, "--threads")) < 1) fatal("--threads must be at least 1");
    if (opt_flag(opts, n, "--zero")) {
        const char *v = opt_str(opts, n, "--zero");
        if (!strcmp(v, "0")) o.zero = 0; else if (!strcmp(v, "1")) o.zero = 1;
        else fatal("--zero \"%s\": use 0 (every rank holds all AdamW moments) or 1 (ZeRO-1: each rank holds its shard)", v);
    }
    o.samples = (int)opt_int(opts, n, "--samples");
    o.quiet = opt_flag(opts, n, "--quiet");
    const char *dbg = getenv("DEEPC_DEBUG_NAN_STEP");   // test hook: poison the gradient at this step
    if (dbg) o.debug_nan_step = strtoll(dbg, NULL, 10);
    if (!o.data_dir) fatal("--data is required (a folder of token shards from `deepc tokenize`)\n\n%s", usage);
    if (!o.out_dir) fatal("--out is required (the run folder)");

    TrainResult r;
    int rank = dist_rank();
    if (trainer_run(&o, &r) < 0) {
        if (dist_world() > 1) fatal("rank %d of %d: %s", rank, dist_world(), last_error());   // mpirun aborts the others
        fatal_last();
    }
    dist_finalize();
    if (rank != 0) return 0;
    char val[96];                                       // NaN: the data has no validation split (or it was empty)
    if (isnan(r.val_loss)) snprintf(val, sizeof val, "no validation split");
    else snprintf(val, sizeof val, "val loss %.4f, val %.4f bits per byte", r.val_loss, r.val_bpb);
    fprintf(stderr, "pretrain: done: %lld steps, loss %.4f, %s, %.0f tokens/s, MFU %.1f%% of %.1f GFLOP/s sgemm%s\n",
            (long long)r.steps_done, r.last_loss, val, r.tok_per_s, 100 * r.mfu, r.sgemm_peak / 1e9,
            r.skipped ? " (some steps skipped for NaN/Inf)" : "");
    return 0;
}
