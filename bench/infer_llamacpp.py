#!/usr/bin/env python3
"""bench/infer_llamacpp.py — the llama.cpp peer of build/bench/infer (issue 5's benchmark).

    python3 bench/infer_llamacpp.py --gguf F16.gguf[,Q8_0.gguf,...] [--threads 1,2] [--pp 512] [--tg 128]
                                    [--tg-runs 3] [--deepc DEEPC_TABLE]
    python3 bench/infer_llamacpp.py --quantize IN.gguf OUT.gguf q4_0|q8_0
    python3 bench/infer_llamacpp.py --pair-rounds DIR [--pp 512] [--tg 128]

--pair-rounds reads the alternated runs of `ROUNDS=R bench/infer.sh` (DIR/deepc_<round>_<format>.txt and
DIR/llama_<round>_<format>.txt) and prints, per format and thread count, each round's deepc / llama.cpp
ratio and their median.

With --deepc (the saved output of build/bench/infer) it ends with a table pairing deepc's formats with
llama.cpp's (bf16 with F16, int8 with Q8_0, int4 with Q4_0) and the speed ratios.

For each GGUF and thread count: one pp-token prefill from an empty cache (one llama_decode call,
n_batch = n_ubatch = pp), then tg greedy decode steps of one token each, the best of --tg-runs (3) runs from the
same cache position — the same protocol and
the same clock (wall time around the decode calls, argmax included) as build/bench/infer. Token
ids are random (seed 42) as in deepc's benchmark; one untimed prefill first warms llama.cpp up. Also prints llama.cpp's KV-cache bytes per
token, measured as the growth of the sequence state over one more token.

Prints rows `| GGUF type | threads | pp tok/s | tg tok/s |` that bench/infer.sh pairs with deepc's.
Needs the `llama-cpp-python` package (llama.cpp's C API through ctypes).
"""
import argparse
import os
import random
import sys
import time

import numpy as np

try:
    import llama_cpp as L
except ImportError:
    L = None   # --pair-rounds only reads tables; the other modes need it (checked in main)


def load(path, threads, n_ctx, n_batch):
    mp = L.llama_model_default_params()
    mp.use_mmap = False   # weights read into memory, as deepc's benchmark holds them
    model = L.llama_model_load_from_file(path.encode(), mp)
    if not model:
        sys.exit(f"infer_llamacpp: llama.cpp could not load {path}")
    cp = L.llama_context_default_params()
    cp.n_ctx = n_ctx
    cp.n_batch = n_batch
    cp.n_ubatch = n_batch
    cp.n_threads = threads
    cp.n_threads_batch = threads
    cp.no_perf = False
    ctx = L.llama_init_from_model(model, cp)
    if not ctx:
        sys.exit(f"infer_llamacpp: llama.cpp could not create a context for {path}")
    return model, ctx


def decode(ctx, toks):
    arr = (L.llama_token * len(toks))(*toks)
    rc = L.llama_decode(ctx, L.llama_batch_get_one(arr, len(toks)))
    if rc != 0:
        sys.exit(f"infer_llamacpp: llama_decode returned {rc}")


def argmax_last(ctx, V):
    p = L.llama_get_logits_ith(ctx, -1)
    return int(np.argmax(np.ctypeslib.as_array(p, shape=(V,))))


def kv_bytes_per_token(ctx, n):
    """Growth of sequence 0's saved state over one more token (the KV rows of every layer)."""
    a = L.llama_state_seq_get_size(ctx, 0)
    decode(ctx, [1])
    b = L.llama_state_seq_get_size(ctx, 0)
    return b - a


def quantize(src, dst, kind):
    ftype = {"q4_0": L.LLAMA_FTYPE_MOSTLY_Q4_0, "q8_0": L.LLAMA_FTYPE_MOSTLY_Q8_0}[kind]
    p = L.llama_model_quantize_default_params()
    p.ftype = ftype
    p.nthread = os.cpu_count() or 1
    tmp = dst + ".tmp"
    if L.llama_model_quantize(src.encode(), tmp.encode(), p) != 0:
        sys.exit(f"infer_llamacpp: llama.cpp could not quantize {src} to {kind}")
    os.replace(tmp, dst)


PAIRS = {"bf16": "f16", "int8": "q8_0", "int4": "q4_0"}


def pair_table(deepc_file, ours, pp, tg):
    """Rows of deepc's table (format, threads, pp, tg, ...) against llama.cpp's at the same threads."""
    rows = []
    for line in open(deepc_file):
        f = [x.strip() for x in line.strip().strip("|").split("|")]
        if len(f) >= 4 and f[0] in PAIRS:
            try:
                rows.append((f[0], int(f[1]), float(f[2]), float(f[3])))
            except ValueError:
                pass
    print(f"\n| deepc format vs llama.cpp type | threads | pp{pp}: deepc / llama.cpp tok/s | ratio "
          f"| tg{tg}: deepc / llama.cpp tok/s | ratio |")
    print("|---|---|---|---|---|---|")
    for fmt, th, dpp, dtg in rows:
        peer = ours.get((PAIRS[fmt], th))
        if peer is None:
            continue
        lpp, ltg = peer
        print(f"| {fmt} vs {PAIRS[fmt].upper()} | {th} | {dpp:.1f} / {lpp:.1f} | **{dpp / lpp:.2f}x** "
              f"| {dtg:.2f} / {ltg:.2f} | **{dtg / ltg:.2f}x** |")


def table_rows(path, names):
    """{(name, threads): (pp tok/s, tg tok/s)} from the markdown rows of a deepc or llama.cpp table."""
    out = {}
    for line in open(path):
        f = [x.strip() for x in line.strip().strip("|").split("|")]
        if len(f) >= 4 and f[0] in names:
            try:
                out[(f[0], int(f[1]))] = (float(f[2]), float(f[3]))
            except ValueError:
                pass
    return out


def pair_rounds(folder, pp, tg):
    """Per (format, threads): each round's paired ratios and their median."""
    cells = {}   # (fmt, threads) -> list of (deepc pp, tg, llama pp, tg)
    rounds = sorted({int(n.split("_")[1]) for n in os.listdir(folder) if n.startswith("deepc_")})
    for r in rounds:
        for fmt, peer in PAIRS.items():
            dp, lp = os.path.join(folder, f"deepc_{r}_{fmt}.txt"), os.path.join(folder, f"llama_{r}_{fmt}.txt")
            if not (os.path.exists(dp) and os.path.exists(lp)):
                continue
            d, l = table_rows(dp, {fmt}), table_rows(lp, {peer})
            for (name, th), (dpp, dtg) in d.items():
                if (peer, th) in l:
                    cells.setdefault((fmt, th), []).append((dpp, dtg) + l[(peer, th)])
    if not cells:
        sys.exit(f"infer_llamacpp: no paired rounds in {folder}")
    print(f"\n| deepc format vs llama.cpp type | threads | rounds | pp{pp} ratio per round | **median** "
          f"| tg{tg} ratio per round | **median** | deepc / llama.cpp tok/s, median round (pp; tg) |")
    print("|---|---|---|---|---|---|---|---|")
    for (fmt, th), v in sorted(cells.items(), key=lambda kv: (list(PAIRS).index(kv[0][0]), kv[0][1])):
        rp = [a / c for a, b, c, d in v]
        rt = [b / d for a, b, c, d in v]
        mp, mt = float(np.median(rp)), float(np.median(rt))
        ip = int(np.argsort(rp)[len(rp) // 2]); it = int(np.argsort(rt)[len(rt) // 2])
        print(f"| {fmt} vs {PAIRS[fmt].upper()} | {th} | {len(v)} | {' / '.join(f'{x:.2f}' for x in rp)} | **{mp:.2f}x** "
              f"| {' / '.join(f'{x:.2f}' for x in rt)} | **{mt:.2f}x** | {v[ip][0]:.1f} / {v[ip][2]:.1f}; "
              f"{v[it][1]:.2f} / {v[it][3]:.2f} |")


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--pair-rounds":
        ap = argparse.ArgumentParser()
        ap.add_argument("--pair-rounds", required=True)
        ap.add_argument("--pp", type=int, default=512)
        ap.add_argument("--tg", type=int, default=128)
        a = ap.parse_args()
        pair_rounds(a.pair_rounds, a.pp, a.tg)
        return
    if L is None:
        sys.exit("infer_llamacpp: the Python package llama-cpp-python is not installed")
    if len(sys.argv) == 5 and sys.argv[1] == "--quantize":
        L.llama_backend_init()
        quantize(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", required=True, help="comma-separated GGUF files")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--pp", type=int, default=512)
    ap.add_argument("--tg", type=int, default=128)
    ap.add_argument("--tg-runs", type=int, default=3, help="tg: best of this many runs (as build/bench/infer)")
    ap.add_argument("--deepc", help="build/bench/infer's output, to pair with")
    a = ap.parse_args()
    ours = {}
    L.llama_backend_init()
    print(f"# llama.cpp (llama-cpp-python {L.__version__}), system: {L.llama_print_system_info().decode().strip()}")
    print(f"| llama.cpp type | threads | pp{a.pp} tok/s | tg{a.tg} tok/s |")
    print("|---|---|---|---|")
    sys.stdout.flush()
    for path in a.gguf.split(","):
        name = os.path.basename(path).rsplit(".", 1)[0]
        for th in [int(t) for t in a.threads.split(",")]:
            model, ctx = load(path, th, a.pp + a.tg + 16, a.pp)
            vocab = L.llama_model_get_vocab(model)
            V = L.llama_vocab_n_tokens(vocab)
            rng = random.Random(42)
            prompt = [rng.randrange(V) for _ in range(a.pp)]
            decode(ctx, prompt)   # warm-up (compute buffers, every expert touched); not timed
            L.llama_memory_clear(L.llama_get_memory(ctx), True)
            t0 = time.perf_counter()
            decode(ctx, prompt)
            tpp = time.perf_counter() - t0
            tok0 = argmax_last(ctx, V)
            ttg = float("inf")
            for _ in range(a.tg_runs):   # best of tg_runs runs from the same cache position, as build/bench/infer
                L.llama_memory_seq_rm(L.llama_get_memory(ctx), 0, a.pp, -1)
                tok = tok0
                t0 = time.perf_counter()
                for _ in range(a.tg):
                    decode(ctx, [tok])
                    tok = argmax_last(ctx, V)
                ttg = min(ttg, time.perf_counter() - t0)
            print(f"| {name} | {th} | {a.pp / tpp:.1f} | {a.tg / ttg:.2f} |")
            ours[(name.lower(), th)] = (a.pp / tpp, a.tg / ttg)
            if th == int(a.threads.split(",")[0]):
                print(f"# {name}: KV cache {kv_bytes_per_token(ctx, a.pp + a.tg)} B per token "
                      f"(state growth over one token)")
            sys.stdout.flush()
            L.llama_free(ctx)
            L.llama_model_free(model)
    L.llama_backend_free()
    if a.deepc:
        pair_table(a.deepc, ours, a.pp, a.tg)


if __name__ == "__main__":
    main()
