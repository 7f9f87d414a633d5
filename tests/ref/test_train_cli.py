"""deepc pretrain on real CLI stages: shards tokenized with one tokenizer are refused
with another tokenizer's file (fingerprint mismatch), a missing data folder and a bad
option fail with clear messages and a non-zero exit, and a short run writes metrics,
a checkpoint and report.md. Uses ./deepc tokenizer train / tokenize / pretrain."""
import json, os, random

from harness import deepc, finish, report, seed, temp_dir

rnd = random.Random(seed())

def run(*args):
    return deepc(*args, env={"OMP_WAIT_POLICY": "passive"})

words = ["alpha", "beta", "gamma", "delta", "def", "return", "self", "int", "char", "the", "of", "and", "value", "(", ")", ":", "\n"]
with temp_dir("deepc_train_cli_") as d:
    for name, k in (("a", 0), ("b", 7)):
        with open(os.path.join(d, f"docs_{name}.jsonl"), "w") as f:
            for i in range(60):
                text = " ".join(rnd.choice(words[k:] + words[:k]) + ("s" * (k > 0)) for _ in range(rnd.randint(20, 200)))
                f.write(json.dumps({"text": text}) + "\n")
        r = run("tokenizer", "train", "--input", os.path.join(d, f"docs_{name}.jsonl"), "--vocab-size", "300",
                "--out", os.path.join(d, f"tok_{name}"), "--quiet")
        if r.returncode:
            report("setup_tokenizer", False, r.stderr[-500:]); finish()
    r = run("tokenize", "--tokenizer", os.path.join(d, "tok_a"), "--input", os.path.join(d, "docs_a.jsonl"),
            "--out", os.path.join(d, "shards"), "--val-fraction", "0.1")
    if r.returncode:
        report("setup_tokenize", False, r.stderr[-500:]); finish()
    common = ["--preset", "tiny", "--data", os.path.join(d, "shards"), "--steps", "3", "--batch", "2", "--seq", "32",
              "--threads", "1", "--samples", "1", "--quiet"]
    r = run("pretrain", *common, "--out", os.path.join(d, "run_b"), "--tokenizer", os.path.join(d, "tok_b", "tokenizer.json"))
    report("other_tokenizer_refused", r.returncode != 0 and "different tokenizer" in r.stderr, r.stderr[-300:])
    r = run("pretrain", "--preset", "tiny", "--data", os.path.join(d, "nothing"), "--out", os.path.join(d, "run_x"))
    report("missing_data_refused", r.returncode != 0 and "not a folder" in r.stderr, r.stderr[-300:])
    r = run("pretrain", *common, "--out", os.path.join(d, "run_y"), "--schedule", "linear")
    report("bad_schedule_refused", r.returncode != 0 and "cosine" in r.stderr, r.stderr[-300:])
    r = run("pretrain", *common, "--out", os.path.join(d, "run_a"), "--tokenizer", os.path.join(d, "tok_a", "tokenizer.json"),
            "--eval-every", "3")
    ok = r.returncode == 0
    lines = []
    if ok:
        lines = [json.loads(l) for l in open(os.path.join(d, "run_a", "metrics.jsonl"))]
        files = os.listdir(os.path.join(d, "run_a"))
        ck = os.path.join(d, "run_a", "ckpt-00000003")
        ok = (len(lines) == 3 and all(k in lines[-1] for k in ("loss", "mtp_loss", "balance_loss", "grad_norm", "lr",
              "tok_per_s", "mfu", "maxvio", "val_loss", "val_bpb")) and lines[-1]["val_bpb"] is not None and
              "report.md" in files and "samples.md" in files and os.path.exists(os.path.join(ck, "tokenizer.json")))
    report("short_run_writes_metrics_checkpoint_report", ok, r.stderr[-400:] + str(lines[-1:] if lines else ""))
finish()
