#!/usr/bin/env python3
"""Tokenizer benchmark: deepc vs Hugging Face tokenizers, same machine, same run.

  python3 bench/tokenizer.py [--vocab 8000] [--mb 4]

Corpus: documents from ../shared/data (GSM8K, MATH, MBPP, HumanEval, tinyshakespeare in 8 KB
pieces), about --mb megabytes. Measures
  - training time: `deepc tokenizer train` (process, 2 threads) vs HF BpeTrainer
    (train_from_iterator, same documents, DeepSeek-V3 pre-tokenizer, same vocabulary; 2 threads);
    the merges are compared too;
  - encode throughput (MB/s) on the same documents with the same tokenizer.json, 1 and 2 threads:
    deepc (build/bench/tokenizer, OpenMP over documents) vs HF encode_batch (RAYON_NUM_THREADS).
Prints ratios deepc/HF (> 1 means deepc is faster). Build first: make deepc build/bench/tokenizer
"""
import argparse, json, os, struct, subprocess, sys, tempfile, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DATA = os.path.join(ROOT, "..", "shared", "data")

def corpus(mb):
    docs = []
    for f, keys in [("gsm8k/train.jsonl", ["question", "answer"]), ("math/test.json", ["problem", "solution"]),
                    ("mbpp/mbpp.jsonl", ["text", "code"]), ("humaneval/HumanEval.jsonl", ["prompt", "canonical_solution"])]:
        for line in open(os.path.join(DATA, f)):
            if line.strip():
                o = json.loads(line); docs.append("\n".join(str(o.get(k, "")) for k in keys))
    s = open(os.path.join(DATA, "tinyshakespeare", "input.txt")).read()
    docs += [s[i:i + 8192] for i in range(0, len(s), 8192)]
    # interleave sources, stop at the size asked
    docs = docs[::2] + docs[1::2]
    out, n = [], 0
    for d in docs:
        out.append(d); n += len(d.encode())
        if n > mb * 1e6: break
    return out

HF_ENCODE = r'''
import sys, time, struct
from tokenizers import Tokenizer
t = Tokenizer.from_file(sys.argv[1])
buf = open(sys.argv[2], "rb").read(); docs = []; p = 0
while p < len(buf):
    n, = struct.unpack_from("<I", buf, p); p += 4; docs.append(buf[p:p+n].decode()); p += n
best = 1e30
for r in range(int(sys.argv[3])):
    t = Tokenizer.from_file(sys.argv[1])   # fresh cache each repeat
    t0 = time.perf_counter(); enc = t.encode_batch(docs, add_special_tokens=False); dt = time.perf_counter() - t0
    best = min(best, dt)
print(sum(len(e.ids) for e in enc), best)
'''

HF_TRAIN = r'''
import sys, json, time
from tokenizers import Tokenizer, models, trainers, pre_tokenizers, decoders, Regex
dc = json.load(open(sys.argv[1])); docs = [json.loads(l)["text"] for l in open(sys.argv[2])]
specials = [a["content"] for a in sorted(dc["added_tokens"], key=lambda a: a["id"])]
splits = [pre_tokenizers.Split(Regex(p["pattern"]["Regex"]), "isolated") for p in dc["pre_tokenizer"]["pretokenizers"][:-1]]
t = Tokenizer(models.BPE()); t.decoder = decoders.ByteLevel()
t.pre_tokenizer = pre_tokenizers.Sequence(splits + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
tr = trainers.BpeTrainer(vocab_size=int(sys.argv[3]), special_tokens=specials, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
t0 = time.perf_counter(); t.train_from_iterator(docs, tr); dt = time.perf_counter() - t0
hf = json.loads(t.to_str())
hm = [list(m) if isinstance(m, list) else m.split(" ") for m in hf["model"]["merges"]]
print(dt, int(hm == dc["model"]["merges"]))
'''

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--mb", type=float, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    docs = corpus(a.mb)
    nbytes = sum(len(d.encode()) for d in docs)
    print("# corpus: %d documents, %.2f MB; vocabulary %d; %d CPU cores" % (len(docs), nbytes / 1e6, a.vocab, os.cpu_count()))
    with tempfile.TemporaryDirectory() as tmp:
        jl = os.path.join(tmp, "docs.jsonl")
        with open(jl, "w") as f:
            for d in docs: f.write(json.dumps({"text": d}) + "\n")
        binp = os.path.join(tmp, "docs.bin")
        with open(binp, "wb") as f:
            for d in docs: b = d.encode(); f.write(struct.pack("<I", len(b)) + b)
        out = os.path.join(tmp, "tok")
        env2 = dict(os.environ, OMP_NUM_THREADS="2", RAYON_NUM_THREADS="2", TOKENIZERS_PARALLELISM="true")
        t0 = time.perf_counter()
        subprocess.run([os.path.join(ROOT, "deepc"), "tokenizer", "train", "--input", jl, "--vocab-size", str(a.vocab), "--out", out, "--quiet"], check=True, env=env2)
        t_dc = time.perf_counter() - t0
        r = subprocess.run([sys.executable, "-c", HF_TRAIN, os.path.join(out, "tokenizer.json"), jl, str(a.vocab)], capture_output=True, text=True, env=env2, check=True)
        t_hf, same = float(r.stdout.split()[0]), r.stdout.split()[1] == "1"
        print("train   deepc %.2f s (whole process)   HF %.2f s (train call only)   ratio HF/deepc %.2fx   merges equal: %s" % (t_dc, t_hf, t_hf / t_dc, same))
        tj = os.path.join(out, "tokenizer.json")
        for th in (1, 2):
            env = dict(os.environ, OMP_NUM_THREADS=str(th), RAYON_NUM_THREADS=str(th), TOKENIZERS_PARALLELISM="true")
            r = subprocess.run([os.path.join(ROOT, "build", "bench", "tokenizer"), out, binp, str(a.repeats)], capture_output=True, text=True, env=env, check=True)
            kv = dict(x.split("=") for x in r.stdout.split()[1:])
            dc_mbps, dc_tok = float(kv["MBps"]), int(kv["tokens"])
            r = subprocess.run([sys.executable, "-c", HF_ENCODE, tj, binp, str(a.repeats)], capture_output=True, text=True, env=env, check=True)
            hf_tok, hf_s = int(r.stdout.split()[0]), float(r.stdout.split()[1])
            hf_mbps = nbytes / 1e6 / hf_s
            print("encode  %d thread%s  deepc %.2f MB/s   HF %.2f MB/s   ratio deepc/HF %.2fx   same token count: %s" %
                  (th, "s" if th > 1 else " ", dc_mbps, hf_mbps, dc_mbps / hf_mbps, dc_tok == hf_tok))

if __name__ == "__main__":
    main()
