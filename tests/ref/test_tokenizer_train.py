#!/usr/bin/env python3
"""`deepc tokenizer train` against Hugging Face tokenizers' BpeTrainer, the chat template
against transformers' apply_chat_template, and the CLI's encode/decode and bad-input paths.

- training parity: same documents (random sample, fresh seed), same vocabulary size, same
  pre-tokenizer (DeepSeek-V3 rules, read back from deepc's tokenizer.json), same special
  tokens and byte alphabet: the merges and the vocabulary must be equal; the held-out
  compression (bytes per token) is printed and must agree within 0.5%.
- the folder deepc writes loads in transformers' AutoTokenizer; apply_chat_template(tokenize=True)
  equals deepc's chat_encode ids, and deepc's loss mask covers exactly the assistant contents + EOS.
- CLI: encode/decode agree with HF, read stdin with '-'; an id beyond the vocabulary, a corrupt
  and an unsupported tokenizer.json give a clear message (file, byte offset) and a non-zero exit.
"""
import json, os, random, time

from harness import DATA, deepc, report, run, run_script, seed, temp_dir, tool_path

from tokenizers import Tokenizer, models, trainers, pre_tokenizers, decoders, Regex

TOOL = tool_path("tokenizer")

def jsonl(path):
    return [json.loads(l) for l in open(path) if l.strip()]

def main():
    rng = random.Random(seed())
    gsm = jsonl(os.path.join(DATA, "gsm8k", "train.jsonl"))
    mbpp = jsonl(os.path.join(DATA, "mbpp", "mbpp.jsonl"))
    shak = open(os.path.join(DATA, "tinyshakespeare", "input.txt")).read()
    docs = [g["question"] + "\n" + g["answer"] for g in rng.sample(gsm, 1500)]
    docs += [m["text"] + "\n" + m["code"] for m in rng.sample(mbpp, 300)]
    start = rng.randrange(len(shak) - 400000)
    docs += [shak[start:start + 400000]]
    held = [g["question"] + "\n" + g["answer"] for g in jsonl(os.path.join(DATA, "gsm8k", "test.jsonl"))[:400]]
    vocab = rng.choice([2000, 3000, 5000])
    with temp_dir("deepc_tokenizer_train_") as tmp:
        jl = os.path.join(tmp, "train.jsonl")
        with open(jl, "w") as f:
            for d in docs: f.write(json.dumps({"text": d}) + "\n")
        out = os.path.join(tmp, "tok")
        t0 = time.time()
        r = deepc("tokenizer", "train", "--input", jl, "--vocab-size", vocab, "--out", out, "--quiet")
        t_deepc = time.time() - t0
        if not report("train_runs", r.returncode == 0, r.stderr):
            return
        dc = json.load(open(os.path.join(out, "tokenizer.json")))
        specials = [a["content"] for a in sorted(dc["added_tokens"], key=lambda a: a["id"])]
        splits = [pre_tokenizers.Split(Regex(p["pattern"]["Regex"]), "isolated") for p in dc["pre_tokenizer"]["pretokenizers"][:-1]]
        t = Tokenizer(models.BPE())
        t.pre_tokenizer = pre_tokenizers.Sequence(splits + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        t.decoder = decoders.ByteLevel()
        t0 = time.time()
        t.train_from_iterator(docs, trainers.BpeTrainer(vocab_size=vocab, special_tokens=specials, show_progress=False,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        t_hf = time.time() - t0
        hf = json.loads(t.to_str())
        hm = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in hf["model"]["merges"]]
        dm = [tuple(m) for m in dc["model"]["merges"]]
        first = next((i for i in range(min(len(hm), len(dm))) if hm[i] != dm[i]), None)
        report("train_merges_equal_hf", hm == dm, "len %d vs %d, first difference at %s" % (len(dm), len(hm), first))
        report("train_vocab_equal_hf", hf["model"]["vocab"] == dc["model"]["vocab"])
        ours = Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
        nb = sum(len(h.encode()) for h in held)
        bpt_d = nb / sum(len(e.ids) for e in ours.encode_batch(held, add_special_tokens=False))
        bpt_h = nb / sum(len(e.ids) for e in t.encode_batch(held, add_special_tokens=False))
        print("#  vocab %d: held-out bytes/token deepc %.4f, HF %.4f; training %.2fs deepc (process) vs %.2fs HF" % (vocab, bpt_d, bpt_h, t_deepc, t_hf))
        report("train_compression_within_0.5pct", abs(bpt_d / bpt_h - 1) < 0.005, "%.4f vs %.4f" % (bpt_d, bpt_h))

        # chat template: transformers renders and tokenizes; deepc's chat_encode must agree
        from transformers import AutoTokenizer
        at = AutoTokenizer.from_pretrained(out)
        convs = []
        for i in range(40):
            msgs = []
            if rng.random() < 0.5: msgs.append({"role": "system", "content": rng.choice(["You are helpful.", "Réponds en français.", " be terse \n"])})
            for _ in range(rng.randint(1, 3)):
                g = rng.choice(gsm)
                msgs.append({"role": "user", "content": g["question"]})
                msgs.append({"role": "assistant", "content": g["answer"]})
            gen = rng.random() < 0.5
            if gen: msgs.pop()
            convs.append({"messages": msgs, "add_generation_prompt": gen})
        cj = os.path.join(tmp, "chat.json"); co = os.path.join(tmp, "chat.out")
        json.dump(convs, open(cj, "w"))
        run([TOOL, "--chat", out, cj, co], check=True)
        bad_ids = bad_mask = 0; detail = ""
        eos = at.convert_tokens_to_ids(at.eos_token)
        for c, line in zip(convs, open(co)):
            got = json.loads(line)
            ref = at.apply_chat_template(c["messages"], tokenize=True, add_generation_prompt=c["add_generation_prompt"])
            if not isinstance(ref, list): ref = ref["input_ids"]
            if got.get("ids") != ref:
                bad_ids += 1; detail = "deepc %s vs transformers %s" % (got.get("ids", got)[:20], ref[:20]); continue
            # mask: the masked tokens are the assistant contents, each closed by EOS
            want = []
            for m in c["messages"]:
                if m["role"] == "assistant": want += at(m["content"], add_special_tokens=False)["input_ids"] + [eos]
            masked = [i for i, k in zip(got["ids"], got["mask"]) if k]
            if masked != want: bad_mask += 1
        report("chat_ids_equal_transformers", bad_ids == 0, "%d of %d differ: %s" % (bad_ids, len(convs), detail))
        report("chat_mask_is_assistant_content", bad_mask == 0, "%d of %d masks wrong" % (bad_mask, len(convs)))

        # CLI encode / decode (with stdin) against HF
        text = rng.choice(held) + " 中文 👍🏽<｜User｜>"
        r = deepc("tokenizer", "encode", "--tokenizer", out, "--text", "-", input=text.encode(), text=False)
        ids = json.loads(r.stdout) if r.returncode == 0 else None
        report("cli_encode_equals_hf", ids == ours.encode(text, add_special_tokens=False).ids, r.stderr.decode()[-300:])
        r = deepc("tokenizer", "decode", "--tokenizer", out, "--ids", "-", input=json.dumps(ids).encode(), text=False)
        report("cli_decode_roundtrip", r.returncode == 0 and r.stdout == text.encode(), r.stderr.decode()[-300:])
        # bad input
        r = deepc("tokenizer", "decode", "--tokenizer", out, "--ids", "[5, %d]" % (vocab + 7))
        report("cli_decode_id_beyond_vocab", r.returncode != 0 and str(vocab + 7) in r.stderr and "position 1" in r.stderr and "Traceback" not in r.stderr, r.stderr)
        raw = open(os.path.join(out, "tokenizer.json"), "rb").read()
        cut = rng.randrange(100, len(raw) - 100)
        bad_dir = os.path.join(tmp, "bad"); os.makedirs(bad_dir)
        open(os.path.join(bad_dir, "tokenizer.json"), "wb").write(raw[:cut])
        r = deepc("tokenizer", "encode", "--tokenizer", bad_dir, "--text", "x")
        report("cli_truncated_json_names_file_and_offset", r.returncode == 1 and "tokenizer.json" in r.stderr and "byte" in r.stderr, r.stderr)
        js = json.loads(raw); js["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
        open(os.path.join(bad_dir, "tokenizer.json"), "w").write(json.dumps(js, ensure_ascii=False))
        r = deepc("tokenizer", "encode", "--tokenizer", bad_dir, "--text", "x")
        report("cli_unsupported_pretokenizer_refused", r.returncode == 1 and "Metaspace" in r.stderr and "supported:" in r.stderr and "byte" in r.stderr, r.stderr)
        js = json.loads(raw); js["model"]["type"] = "WordPiece"
        open(os.path.join(bad_dir, "tokenizer.json"), "w").write(json.dumps(js, ensure_ascii=False))
        r = deepc("tokenizer", "encode", "--tokenizer", bad_dir, "--text", "x")
        report("cli_unsupported_model_refused", r.returncode == 1 and "WordPiece" in r.stderr, r.stderr)
        # training input: .jsonl.zst gives the same tokenizer; a truncated one and a line without "text" are refused
        import shutil
        if shutil.which("zstd"):
            run(["zstd", "-q", "-f", jl, "-o", jl + ".zst"], check=True)
            out2 = os.path.join(tmp, "tok_zst")
            r = deepc("tokenizer", "train", "--input", jl + ".zst", "--vocab-size", str(vocab), "--out", out2, "--quiet")
            same = r.returncode == 0 and open(os.path.join(out2, "tokenizer.json"), "rb").read() == open(os.path.join(out, "tokenizer.json"), "rb").read()
            report("train_jsonl_zst_same_result", same, r.stderr)
            z = open(jl + ".zst", "rb").read()
            open(os.path.join(tmp, "cut.jsonl.zst"), "wb").write(z[:len(z) // 2])
            r = deepc("tokenizer", "train", "--input", os.path.join(tmp, "cut.jsonl.zst"), "--vocab-size", "500", "--out", out2, "--quiet")
            report("train_truncated_zst_refused", r.returncode == 1 and "cut.jsonl.zst" in r.stderr, r.stderr)
        open(os.path.join(tmp, "bad.jsonl"), "w").write('{"text": "a"}\n{"body": "b"}\n')
        r = deepc("tokenizer", "train", "--input", os.path.join(tmp, "bad.jsonl"), "--vocab-size", "500", "--out", os.path.join(tmp, "t3"), "--quiet")
        report("train_jsonl_without_text_refused", r.returncode == 1 and "line 2" in r.stderr and "text" in r.stderr, r.stderr)

if __name__ == "__main__":
    run_script(main)
