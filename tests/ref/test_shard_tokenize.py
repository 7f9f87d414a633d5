#!/usr/bin/env python3
"""End-to-end check of `deepc tokenize` against Hugging Face `tokenizers`.

The shards are parsed here from the byte layout in docs/formats.md (not with
deepc code); every document is decoded and re-encoded with HF tokenizers:
  * each input document appears exactly once (train or val), in input order,
    as BOS + HF ids + EOS, or, for FIM documents, as
    BOS FIM_BEGIN prefix FIM_HOLE suffix FIM_END middle EOS where each piece is
    HF's encoding of its text and prefix+middle+suffix is the original text;
  * the val fraction and FIM rate are close to what was asked; scores carried;
  * the same command twice gives identical bytes; bad input exits non-zero,
    names the file and line, and leaves an existing output folder untouched.
Prints PASS/FAIL lines; exits non-zero on failure.
"""
import json, os, random, shutil, struct, subprocess

from harness import DATA, DEEPC, deepc, need_program, report, run_script, seed, temp_dir


def run(*args):
    return deepc(*args, env={"DEEPC_QUIET": "1"})


def read_shard(path):
    b = open(path, "rb").read()
    assert b[:8] == b"DEEPCTOK", "magic"
    version, width, ntok, ndoc, vocab, flags, fp, _csum, reserved = struct.unpack_from("<IIQQIIQQQ", b, 8)
    assert version == 1 and width in (2, 4) and reserved == 0
    off_tok = 64
    tok_bytes = ntok * width
    off_off = off_tok + ((tok_bytes + 7) & ~7)
    off_sc = off_off + 8 * (ndoc + 1)
    size = off_sc + (4 * ndoc if flags & 1 else 0)
    assert len(b) == size, f"size {len(b)} != {size}"
    toks = struct.unpack_from(f"<{ntok}{'H' if width == 2 else 'I'}", b, off_tok)
    offs = struct.unpack_from(f"<{ndoc + 1}Q", b, off_off)
    scores = struct.unpack_from(f"<{ndoc}f", b, off_sc) if flags & 1 else [0.0] * ndoc
    assert offs[0] == 0 and offs[-1] == ntok and all(offs[i] <= offs[i + 1] for i in range(ndoc))
    docs = [list(toks[offs[i]:offs[i + 1]]) for i in range(ndoc)]
    return dict(vocab=vocab, fp=fp, width=width, docs=docs, scores=list(scores))


def main():
    try:
        from tokenizers import Tokenizer
    except ImportError:
        report("tokenize_setup", False, "python tokenizers is not installed (scripts/setup.sh installs it)")
        return
    if not need_program(DEEPC, "tokenize_setup"):
        return
    rnd = random.Random(seed())
    with temp_dir("deepc_tokenize_") as tmp:
        # a tokenizer deepc trained (HF tokenizers loads the same tokenizer.json as the reference)
        corpus = os.path.join(tmp, "corpus.txt")
        shakes = os.path.join(DATA, "tinyshakespeare", "input.txt")
        text = open(shakes, encoding="utf-8").read()[:300000] if os.path.exists(shakes) else "hello world " * 5000
        text += "\n".join(["naïve café — 東京 😀 👩‍👩‍👧 مرحبا def f(x):\n    return x ** 2"] * 50)
        open(corpus, "w", encoding="utf-8").write(text)
        tok = os.path.join(tmp, "tok")
        r = run("tokenizer", "train", "--input", corpus, "--vocab-size", "800", "--out", tok)
        if r.returncode != 0:
            report("tokenize_setup", False, "deepc tokenizer train failed: " + r.stderr[-500:])
            return
        hf = Tokenizer.from_file(os.path.join(tok, "tokenizer.json"))
        bos, eos = hf.token_to_id("<｜begin▁of▁sentence｜>"), hf.token_to_id("<｜end▁of▁sentence｜>")
        fb, fh, fe = (hf.token_to_id(t) for t in ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"))

        # documents: real code and math text, adversarial unicode, some random bytes as text
        docs = []
        he = os.path.join(DATA, "humaneval", "HumanEval.jsonl")
        if os.path.exists(he):
            for line in open(he, encoding="utf-8"):
                o = json.loads(line)
                docs.append(o["prompt"] + o["canonical_solution"])
        pieces = ["e\u0301", "👍🏽", "🇯🇵", "中文字符", "שלום", " \t ", "\n\n", "1234567", "ﬁ", "\u200d", "x"]
        for _ in range(300):
            docs.append("".join(rnd.choice(pieces) for _ in range(rnd.randrange(1, 40))))
        rnd.shuffle(docs)
        docs = list(dict.fromkeys(docs))  # unique texts, so each can be traced
        scores = [round(rnd.uniform(-3, 3), 3) for _ in docs]
        inp = os.path.join(tmp, "docs.jsonl")
        with open(inp, "w", encoding="utf-8") as f:
            for t, s in zip(docs, scores):
                f.write(json.dumps({"text": t, "score": s}) + "\n")
        out = os.path.join(tmp, "shards")
        args = ["tokenize", "--tokenizer", tok, "--input", inp, "--out", out, "--val-fraction", "0.2",
                "--fim-rate", "0.5", "--score-field", "score", "--shard-tokens", "5000", "--seed", str(seed())]
        r = run(*args)
        report("tokenize_runs", r.returncode == 0, r.stderr[-800:])
        if r.returncode != 0:
            return
        man = json.load(open(os.path.join(out, "manifest.json")))
        report("tokenize_tokenizer_copied", open(os.path.join(out, "tokenizer.json"), "rb").read() ==
               open(os.path.join(tok, "tokenizer.json"), "rb").read(), "SHARDS/tokenizer.json differs or is missing")
        index = {t: i for i, t in enumerate(docs)}
        seen = {}
        bad_ids, bad_fim, bad_score, bad_order, n_fim = [], [], [], 0, 0
        nshards = 0
        for split in ("train", "val"):
            last = -1
            for sh in man[split]["shards"]:
                nshards += 1
                s = read_shard(os.path.join(out, sh["file"]))
                assert s["vocab"] == man["vocab_size"] and "%016x" % s["fp"] == man["tokenizer_fingerprint"]
                assert len(s["docs"]) == sh["docs"]
                for ids, sc in zip(s["docs"], s["scores"]):
                    if ids[0] != bos or ids[-1] != eos:
                        bad_ids.append("no BOS/EOS")
                        continue
                    body = ids[1:-1]
                    if body and body[0] == fb:
                        n_fim += 1
                        h, e = body.index(fh), body.index(fe)
                        pre, suf, mid = body[1:h], body[h + 1:e], body[e + 1:]
                        tp, ts, tm = (hf.decode(x, skip_special_tokens=False) for x in (pre, suf, mid))
                        t = tp + tm + ts
                        if any(hf.encode(x, add_special_tokens=False).ids != y for x, y in ((tp, pre), (ts, suf), (tm, mid))):
                            bad_fim.append(t[:40])
                    else:
                        t = hf.decode(body, skip_special_tokens=False)
                        if hf.encode(t, add_special_tokens=False).ids != body:
                            bad_ids.append(t[:40])
                    if t not in index:
                        bad_ids.append("unknown text " + repr(t[:40]))
                        continue
                    i = index[t]
                    seen[i] = seen.get(i, 0) + 1
                    if abs(sc - scores[i]) > 1e-3:
                        bad_score.append((sc, scores[i]))
                    bad_order += i < last
                    last = i
        n = len(docs)
        report("tokenize_every_document_once", len(seen) == n and all(v == 1 for v in seen.values()),
               f"{len(seen)} of {n} documents found, {sum(v > 1 for v in seen.values())} more than once")
        report("tokenize_ids_equal_hf", not bad_ids, f"{len(bad_ids)} documents differ, e.g. {bad_ids[:3]}")
        report("tokenize_fim_pieces_equal_hf", not bad_fim and n_fim > 0, f"{len(bad_fim)} FIM documents differ; {n_fim} FIM")
        report("tokenize_scores_and_order", not bad_score and bad_order == 0,
               f"{len(bad_score)} scores differ {bad_score[:3]}, {bad_order} out of order")
        nval = man["val"]["docs"]
        sd = (0.2 * 0.8 / n) ** 0.5
        report("tokenize_val_fraction", abs(nval / n - 0.2) < 4 * sd, f"val {nval}/{n}")
        sd = (0.25 / n) ** 0.5
        report("tokenize_fim_rate", abs(n_fim / n - 0.5) < 4 * sd and man["fim_documents"] == n_fim, f"FIM {n_fim}/{n}")
        report("tokenize_several_shards", nshards >= 3 and man["train"]["tokens"] + man["val"]["tokens"] ==
               sum(len(d) for sp in ("train", "val") for sh in man[sp]["shards"]
                   for d in read_shard(os.path.join(out, sh["file"]))["docs"]), f"{nshards} shards")

        # same command, same bytes (also with one thread)
        out2 = os.path.join(tmp, "shards2")
        a2 = [x if x != out else out2 for x in args] + ["--threads", "1"]
        r = run(*a2)
        same = r.returncode == 0 and sorted(os.listdir(out)) == sorted(os.listdir(out2)) and all(
            open(os.path.join(out, f), "rb").read() == open(os.path.join(out2, f), "rb").read() for f in os.listdir(out))
        report("tokenize_deterministic", same, r.stderr[-300:])

        # bad input: message with file:line, non-zero exit, old output untouched, no partial folder left
        bad = os.path.join(tmp, "bad.jsonl")
        open(bad, "w").write('{"text": "fine"}\n{"text": 12}\n')
        before = {f: open(os.path.join(out, f), "rb").read() for f in os.listdir(out)}
        r = run("tokenize", "--tokenizer", tok, "--input", bad, "--out", out)
        after = {f: open(os.path.join(out, f), "rb").read() for f in os.listdir(out)}
        leftovers = [f for f in os.listdir(tmp) if ".partial." in f or ".old." in f]
        report("tokenize_bad_jsonl", r.returncode != 0 and "bad.jsonl:2" in r.stderr and before == after and not leftovers,
               f"rc {r.returncode}, stderr {r.stderr.strip()[-200:]!r}, unchanged {before == after}, leftovers {leftovers}")
        r = run("tokenize", "--tokenizer", os.path.join(tmp, "nope"), "--input", inp, "--out", os.path.join(tmp, "o3"))
        report("tokenize_missing_tokenizer", r.returncode != 0 and "nope" in r.stderr and not os.path.exists(os.path.join(tmp, "o3")),
               r.stderr[-200:])
        # zstd-compressed input gives the same shards (when the zstd tool is here)
        if shutil.which("zstd"):
            subprocess.run(["zstd", "-q", "-f", inp, "-o", inp + ".zst"], check=True)
            out4 = os.path.join(tmp, "shards4")
            r = run(*[x if x != inp else inp + ".zst" for x in [y if y != out else out4 for y in args]])
            same = r.returncode == 0 and all(open(os.path.join(out, f), "rb").read() == open(os.path.join(out4, f), "rb").read()
                                             for f in os.listdir(out) if f.endswith(".bin"))
            report("tokenize_zstd_input", same, r.stderr[-300:])
        # speed, side by side on the same machine: deepc tokenize vs HF tokenizers encode_batch + numpy write
        gsm = os.path.join(DATA, "gsm8k", "train.jsonl")
        if os.path.exists(gsm):
            import time
            import numpy as np
            lines = open(gsm, encoding="utf-8").readlines()[:2000]
            gsm = os.path.join(tmp, "gsm_part.jsonl")
            open(gsm, "w", encoding="utf-8").writelines(lines)
            texts = [o["question"] + "\n" + o["answer"] for o in map(json.loads, lines)]
            mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
            t0 = time.perf_counter()
            r = run("tokenize", "--tokenizer", tok, "--input", gsm, "--text-field", "question,answer", "--out",
                    os.path.join(tmp, "speed"))
            t_deepc = time.perf_counter() - t0
            t0 = time.perf_counter()
            enc = hf.encode_batch(texts, add_special_tokens=False)
            arr = np.concatenate([np.array([bos] + e.ids + [eos], dtype=np.uint16) for e in enc])
            arr.tofile(os.path.join(tmp, "speed_hf.bin"))
            t_hf = time.perf_counter() - t0
            print(f"# tokenize GSM8K train, first 2000 ({mb:.1f} MB, {len(texts)} docs): deepc tokenize {mb / t_deepc:.1f} MB/s "
                  f"(whole command), HF tokenizers encode_batch + numpy {mb / t_hf:.1f} MB/s; "
                  f"deepc/HF = {t_hf / t_deepc:.2f}x", flush=True)
            report("tokenize_speed_run", r.returncode == 0, r.stderr[-300:])


if __name__ == "__main__":
    run_script(main, crash_name="tokenize_crashed")
