"""`deepc generate` and `deepc chat` end to end against transformers + tokenizers: a random tiny
DeepseekV3 folder (fresh seed) with a byte-level BPE tokenizer.json trained by
HF tokenizers; greedy output text must equal transformers' greedy `generate`
decoded by the HF tokenizer; sampling is reproducible per seed; --stop cuts the
text; bad input (no tokenizer, prompt longer than the context, another
architecture, unsupported quantization, missing tensors) gives a clear message
and a non-zero exit, never a crash."""
import json, os, shutil, subprocess, time

from harness import (DATA, DEEPC, quiet_transformers, randomize_weights, report, run_script, seed,
                     temp_dir)
from harness import deepc as run_deepc

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
quiet_transformers()
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

SHAKESPEARE = os.path.join(DATA, "tinyshakespeare", "input.txt")
SEED = seed()
SPECIALS = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<｜System｜>"]


def corpus():
    if os.path.exists(SHAKESPEARE):
        return open(SHAKESPEARE, encoding="utf-8").read()[:100000]
    words = "the king shall speak of love and war upon this stage tonight my lord good sir".split()
    g = torch.Generator().manual_seed(SEED)
    return " ".join(words[int(i)] for i in torch.randint(0, len(words), (20000,), generator=g))


def make_folder(d):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([corpus()], tr)
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"))
    json.dump({"bos_token": SPECIALS[0], "eos_token": SPECIALS[1], "add_bos_token": True},
              open(os.path.join(d, "tokenizer_config.json"), "w"))
    torch.manual_seed(SEED)
    cfg = DeepseekV3Config(vocab_size=tok.get_vocab_size(), hidden_size=64, intermediate_size=96, moe_intermediate_size=32,
                           num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4, q_lora_rank=48,
                           kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16, n_routed_experts=8,
                           n_shared_experts=1, num_experts_per_tok=2, n_group=2, topk_group=1, first_k_dense_replace=1,
                           max_position_embeddings=96, bos_token_id=0, eos_token_id=1)
    model = DeepseekV3ForCausalLM(cfg)
    randomize_weights(model, std=0.2)
    model.save_pretrained(d)
    return tok, model.eval()


def deepc(*args, stdin=None):
    return run_deepc(*args, input=stdin, text=False, timeout=120)


def main():
    with temp_dir("deepc_cli_") as tmp:
        d = os.path.join(tmp, "model")
        tok, model = make_folder(d)
        prompt = "ROMEO: what light"
        ids = [0] + tok.encode(prompt).ids
        N = 24
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), max_new_tokens=N, do_sample=False, eos_token_id=1,
                                 pad_token_id=1)[0, len(ids):].tolist()
        gen = out[:out.index(1)] if 1 in out else out
        want = tok.decode(gen, skip_special_tokens=False)
        r = deepc("generate", "--model", d, "--prompt", prompt, "--max-tokens", str(N), "--temperature", "0")
        got = r.stdout.decode("utf-8", "replace")
        if got.endswith("\n"):
            got = got[:-1]
        report("generate_greedy_matches_transformers", r.returncode == 0 and got == want,
               f"rc {r.returncode} stderr {r.stderr.decode()[-300:]!r}\n  got  {got!r}\n  want {want!r}")
        r2 = deepc("generate", "--model", d, "--prompt", prompt, "--max-tokens", str(N), "--attn", "naive")
        report("generate_greedy_deterministic_any_attention", r2.stdout == r.stdout)
        # Sampling: same seed, same text; --top-k 1 == greedy.
        a = deepc("generate", "--model", d, "--prompt", prompt, "--max-tokens", "16", "--temperature", "1", "--seed", "7")
        b = deepc("generate", "--model", d, "--prompt", prompt, "--max-tokens", "16", "--temperature", "1", "--seed", "7")
        k1 = deepc("generate", "--model", d, "--prompt", prompt, "--max-tokens", str(N), "--temperature", "1.5", "--top-k", "1",
                   "--seed", "3")
        report("generate_seeded_sampling_reproducible", a.returncode == 0 and a.stdout == b.stdout)
        report("generate_top_k_1_is_greedy", k1.stdout == r.stdout, f"{k1.stdout!r} vs {r.stdout!r}")
        # --stop: text before the first occurrence of a piece of the greedy output.
        print(f"# greedy text {got!r}", flush=True)
        cands = [i for i in range(1, len(got) - 2) if "\ufffd" not in got[i:i + 2] and "\x00" not in got[i:i + 2]]   # argv: no NUL
        if cands:
            i = cands[len(cands) // 2]
            stop = got[i:i + 2]
            s = deepc("generate", "--model", d, "--prompt", prompt, "--max-tokens", str(N), "--stop", stop)
            sg = s.stdout.decode("utf-8", "replace")
            sg = sg[:-1] if sg.endswith("\n") else sg   # one newline follows the text, which may end in its own
            report("generate_stop_string", s.returncode == 0 and sg == got[:got.index(stop)], f"{sg!r} vs {got!r} stop {stop!r}")
        else:
            print("# --stop check skipped: the greedy text has no two adjacent valid characters", flush=True)
        # --prompts: several prompts decoded together (batched decode, batches of 3 so there are two waves); each
        # completion equals transformers' greedy generate on that prompt alone; sampled lines equal single runs
        # with seed + index; a broken line fails with its line number.
        prompts = [prompt, "JULIET: o", "the king", "Enter a messenger, who speaks of war and love"]
        pf = os.path.join(tmp, "prompts.jsonl")
        with open(pf, "w", encoding="utf-8") as f:
            for i, p in enumerate(prompts):
                f.write(json.dumps({"prompt": p} if i % 2 == 0 else p) + "\n")
                if i == 1:
                    f.write("\n")   # blank lines are skipped
        bt = deepc("generate", "--model", d, "--prompts", pf, "--max-tokens", str(N), "--temperature", "0", "--batch", "3")
        lines = [json.loads(x) for x in bt.stdout.decode("utf-8").splitlines()] if bt.returncode == 0 else []
        ok, why = bt.returncode == 0 and len(lines) == len(prompts), f"rc {bt.returncode} {bt.stderr.decode()[-300:]!r}"
        for p, ln in zip(prompts, lines):
            pids = [0] + tok.encode(p).ids
            with torch.no_grad():
                o = model.generate(torch.tensor([pids]), max_new_tokens=N, do_sample=False, eos_token_id=1,
                                   pad_token_id=1)[0, len(pids):].tolist()
            w = tok.decode(o[:o.index(1)] if 1 in o else o, skip_special_tokens=False)
            if ln["prompt"] != p or ln["completion"] != w or ln["prompt_tokens"] != len(pids):
                ok, why = False, f"prompt {p!r}: got {ln!r}, want completion {w!r} ({len(pids)} prompt tokens)"
        report("generate_prompts_batched_matches_transformers", ok, why)
        sp = deepc("generate", "--model", d, "--prompts", pf, "--max-tokens", "12", "--temperature", "1", "--seed", "5",
                   "--batch", "4")
        slines = [json.loads(x)["completion"] for x in sp.stdout.decode("utf-8").splitlines()] if sp.returncode == 0 else []
        singles = []
        for i, p in enumerate(prompts):
            r1 = deepc("generate", "--model", d, "--prompt", p, "--max-tokens", "12", "--temperature", "1", "--seed", str(5 + i))
            o1 = r1.stdout.decode("utf-8", "replace")   # the completion, then exactly one newline (it may end in its own)
            singles.append(o1[:-1] if o1.endswith("\n") else o1)
        report("generate_prompts_sampled_equals_single_runs", slines == singles, f"{slines!r} vs {singles!r}")
        with open(pf, "a", encoding="utf-8") as f:
            f.write('{"prompt": "unterminated\n')
        bad = deepc("generate", "--model", d, "--prompts", pf, "--max-tokens", "2")
        report("generate_prompts_bad_line_fails_clearly", bad.returncode == 1 and b"line 6" in bad.stderr and not bad.stdout,
               bad.stderr.decode()[-300:])
        # chat: the first reply equals transformers' greedy continuation of the rendered template; after /reset
        # the same message gives the same reply with the cached prefix reused; end of input exits cleanly.
        msg = "good morrow"
        cids = tok.encode(SPECIALS[0] + SPECIALS[2] + msg + SPECIALS[3]).ids
        with torch.no_grad():
            out = model.generate(torch.tensor([cids]), max_new_tokens=12, do_sample=False, eos_token_id=1,
                                 pad_token_id=1)[0, len(cids):].tolist()
        cwant = tok.decode(out[:out.index(1)] if 1 in out else out, skip_special_tokens=False)
        c = deepc("chat", "--model", d, "--temperature", "0", "--max-tokens", "12", "--stats",
                  stdin=f"{msg}\nand then?\n/reset\n{msg}\n/system be brief\n{msg}\n".encode())
        # Replies are printed one after the other, each followed by a newline; a reply may itself contain newlines,
        # so the checks find the expected text instead of splitting into lines.
        out = c.stdout.decode("utf-8", "replace")
        err = c.stderr.decode("utf-8", "replace")
        first_ok = out.startswith(cwant + "\n")
        report("chat_reply_matches_transformers", c.returncode == 0 and first_ok,
               f"rc {c.returncode} {err[-300:]!r} got {out[:len(cwant) + 40]!r} want {cwant!r}")
        rest = out[len(cwant) + 1:] if first_ok else ""
        # the third reply (same message after /reset) starts a line of its own after the second reply
        again = any(rest[i:].startswith(cwant + "\n") for i in range(1, len(rest)) if rest[i - 1] == "\n")
        reused = [int(x.split(" reused")[0].split()[-1]) for x in err.splitlines() if "reused" in x]
        report("chat_keeps_cache_between_turns", len(reused) == 4 and reused[1] > 0 and reused[2] > 0 and first_ok and again,
               f"reused {reused}, output {out[:300]!r}")
        import signal as _sig
        p = subprocess.Popen([DEEPC, "chat", "--model", d], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        time.sleep(1)   # the handler is installed first thing; a Ctrl-C while loading also exits cleanly
        p.send_signal(_sig.SIGINT)
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = -999
        report("chat_ctrl_c_at_prompt_exits_cleanly", rc == 0, f"exit code {rc}")
        # Bad input.
        long_prompt = "the king " * 80
        e1 = deepc("generate", "--model", d, "--prompt", long_prompt, "--max-tokens", "4")
        report("generate_prompt_too_long_fails", e1.returncode != 0 and b"context" in e1.stderr, e1.stderr.decode()[-200:])
        e2 = deepc("generate", "--model", d, "--prompt", long_prompt, "--max-tokens", "4", "--truncate")
        report("generate_truncate_flag_works", e2.returncode == 0, e2.stderr.decode()[-200:])
        nt = os.path.join(tmp, "notok")
        shutil.copytree(d, nt)
        os.remove(os.path.join(nt, "tokenizer.json"))
        e3 = deepc("generate", "--model", nt, "--prompt", "hi")
        report("generate_missing_tokenizer_fails", e3.returncode != 0 and b"tokenizer" in e3.stderr, e3.stderr.decode()[-200:])
        bad = os.path.join(tmp, "badtok")
        shutil.copytree(d, bad)
        open(os.path.join(bad, "tokenizer.json"), "w").write('{"model": {"type": "Unigram", "vocab": []}}')
        e4 = deepc("generate", "--model", bad, "--prompt", "hi")
        report("generate_unknown_tokenizer_fails", e4.returncode != 0 and e4.returncode < 128 and e4.stderr, e4.stderr.decode()[-200:])
        arch = os.path.join(tmp, "llama")
        shutil.copytree(d, arch)
        c = json.load(open(os.path.join(arch, "config.json")))
        c["model_type"] = "llama"
        json.dump(c, open(os.path.join(arch, "config.json"), "w"))
        e5 = deepc("generate", "--model", arch, "--prompt", "hi")
        report("generate_other_architecture_fails", e5.returncode != 0 and b"llama" in e5.stderr, e5.stderr.decode()[-200:])
        q = os.path.join(tmp, "gptq")
        shutil.copytree(d, q)
        c = json.load(open(os.path.join(q, "config.json")))
        c["quantization_config"] = {"quant_method": "gptq", "bits": 4}
        json.dump(c, open(os.path.join(q, "config.json"), "w"))
        e6 = deepc("generate", "--model", q, "--prompt", "hi")
        report("generate_unsupported_quantization_fails", e6.returncode != 0 and b"gptq" in e6.stderr, e6.stderr.decode()[-200:])
        from safetensors.torch import load_file, save_file
        sd = load_file(os.path.join(d, "model.safetensors"))
        for case, edit in (("missing_tensor", lambda t: t.pop("model.layers.1.self_attn.kv_b_proj.weight")),
                           ("wrong_shape", lambda t: t.__setitem__("model.layers.0.self_attn.o_proj.weight",
                                                                   t["model.layers.0.self_attn.o_proj.weight"][:, :-1].contiguous())),
                           ("fp8_without_scale", lambda t: t.__setitem__("model.layers.0.mlp.up_proj.weight",
                                                                         t["model.layers.0.mlp.up_proj.weight"].to(torch.float8_e4m3fn)))):
            bd = os.path.join(tmp, case)
            shutil.copytree(d, bd)
            t = dict(sd)
            edit(t)
            save_file(t, os.path.join(bd, "model.safetensors"), metadata={"format": "pt"})
            eb = deepc("generate", "--model", bd, "--prompt", "hi")
            report(f"generate_{case}_fails_clearly", eb.returncode == 1 and b"model.layers." in eb.stderr,
                   f"rc {eb.returncode} {eb.stderr.decode()[-300:]!r}")
        # MTP: add a module (layer L = 2, random, as DeepSeek-V3 ships it) that transformers ignores; greedy
        # self-speculation must print exactly the plain greedy text.
        mt = os.path.join(tmp, "mtp")
        shutil.copytree(d, mt)
        t = dict(sd)
        g = torch.Generator().manual_seed(SEED + 5)
        for k, v in sd.items():
            if k.startswith("model.layers.1."):
                t[k.replace("model.layers.1.", "model.layers.2.")] = v + 0.05 * torch.randn(v.shape, generator=g)
        D = sd["model.norm.weight"].shape[0]
        t["model.layers.2.enorm.weight"] = torch.ones(D)
        t["model.layers.2.hnorm.weight"] = torch.ones(D)
        t["model.layers.2.shared_head.norm.weight"] = torch.ones(D)
        t["model.layers.2.eh_proj.weight"] = 0.2 * torch.randn(D, 2 * D, generator=g)
        t["model.layers.2.shared_head.head.weight"] = sd["lm_head.weight"].clone()
        t["model.layers.2.embed_tokens.weight"] = sd["model.embed_tokens.weight"].clone()
        save_file(t, os.path.join(mt, "model.safetensors"), metadata={"format": "pt"})
        sp = deepc("generate", "--model", mt, "--prompt", prompt, "--max-tokens", str(N), "--temperature", "0",
                   "--speculative", "--stats")
        spe = sp.stderr.decode()
        print("# " + (spe.strip().splitlines() or ["?"])[-1], flush=True)
        report("generate_speculative_equals_greedy", sp.returncode == 0 and sp.stdout == r.stdout and "identical" in spe,
               f"rc {sp.returncode} {spe[-300:]!r} {sp.stdout!r} vs {r.stdout!r}")
        # A truncated safetensors file.
        tr = os.path.join(tmp, "truncated")
        shutil.copytree(d, tr)
        sz = os.path.getsize(os.path.join(tr, "model.safetensors"))
        with open(os.path.join(tr, "model.safetensors"), "r+b") as fh:
            fh.truncate(sz // 2)
        et = deepc("generate", "--model", tr, "--prompt", "hi")
        report("generate_truncated_weights_fail_clearly", et.returncode == 1 and et.stderr, et.stderr.decode()[-300:])
        e7 = deepc("generate", "--model", os.path.join(tmp, "nope"), "--prompt", "hi")
        report("generate_missing_folder_fails", e7.returncode != 0 and e7.returncode < 128, e7.stderr.decode()[-200:])


if __name__ == "__main__":
    run_script(main)
