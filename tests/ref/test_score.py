"""`deepc score` vs transformers: a random tiny DeepseekV3 (fresh seed each run) saved as a folder;
the per-token log-probabilities deepc prints, window by window (--window: each window scored from
an empty context), must equal torch's log_softmax of transformers' logits on the same windows,
for the inference engine (FP32 weights and cache) and the training forward; the closing line's
perplexity must be exp(-mean). The FP8 KV cache and int8 weights must stay close (not equal)."""
import json, math, os

from harness import (DEEPC, deepc, quiet_transformers, randomize_weights, report, run_script, seed,
                     temp_dir)

import numpy as np
import torch
quiet_transformers()
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM


def make():
    cfg = DeepseekV3Config(vocab_size=131, hidden_size=64, intermediate_size=96, moe_intermediate_size=32,
                           num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4, q_lora_rank=64,
                           kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16, n_routed_experts=8,
                           n_shared_experts=1, num_experts_per_tok=2, n_group=1, topk_group=1, first_k_dense_replace=1,
                           max_position_embeddings=128, rms_norm_eps=1e-6, tie_word_embeddings=False,
                           routed_scaling_factor=2.5, norm_topk_prob=True, num_nextn_predict_layers=0)
    model = DeepseekV3ForCausalLM(cfg)
    randomize_weights(model, std=0.15, bias_std=0.0)   # far from uniform predictions: a wrong log-prob shows
    return model.float().eval()


def score(folder, ids, window, *extra):
    r = deepc("score", "--model", folder, "--tokens", json.dumps(ids), "--window", window, "--threads", "1", *extra,
              timeout=120)
    if r.returncode != 0:
        raise RuntimeError("deepc score %s failed: %s" % (" ".join(extra), r.stderr.strip()))
    lines = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    return lines[:-1], lines[-1]


def main():
    if not os.path.exists(DEEPC):
        print("# ./deepc not built; skipped")
        return
    SEED = seed()
    torch.manual_seed(SEED)
    rnd = np.random.default_rng(SEED)
    model = make()
    V, W, N = 131, 40, 100   # windows of 40: 40 + 40 + 20 tokens
    ids = [int(x) for x in rnd.integers(0, V, N)]
    ref = []   # (position, log-prob) per predicted token
    with torch.no_grad():
        for w0 in range(0, N, W):
            win = ids[w0:w0 + W]
            lp = torch.log_softmax(model(torch.tensor([win])).logits[0].double(), -1)
            ref += [(w0 + i + 1, lp[i, win[i + 1]].item()) for i in range(len(win) - 1)]
    with temp_dir("deepc_score_") as d:
        folder = os.path.join(d, "m")
        model.save_pretrained(folder, safe_serialization=True)
        results = {}
        for name, extra in (("infer", ("--engine", "infer")), ("train", ("--engine", "train")),
                            ("infer_kv_fp8", ("--kv-cache", "fp8")), ("infer_int8", ("--dtype", "int8"))):
            try:
                results[name] = score(folder, ids, W, *extra)
            except Exception as e:   # noqa: BLE001 — reported as a failure below
                report("score_" + name, False, str(e))
        for name in ("infer", "train"):
            if name not in results:
                continue
            toks, summ = results[name]
            pos_ok = [t["position"] for t in toks] == [p for p, _ in ref] and \
                [t["token"] for t in toks] == [ids[p] for p, _ in ref]
            err = max(abs(t["logprob"] - lp) for t, (_, lp) in zip(toks, ref)) if pos_ok else float("inf")
            mean = sum(lp for _, lp in ref) / len(ref)
            ppl_ok = abs(summ["perplexity"] / math.exp(-mean) - 1) < 1e-4 and summ["tokens"] == len(ref)
            print(f"# {name}: max |logprob - torch| {err:.2e}; perplexity {summ['perplexity']:.4f} vs torch "
                  f"{math.exp(-mean):.4f}")
            report("score_" + name + "_equals_transformers", pos_ok and err < 2e-4 and ppl_ok,
                   f"positions ok {pos_ok}, max err {err:.3g}, summary {summ}")
        for name in ("infer_kv_fp8", "infer_int8"):
            if name not in results or "infer" not in results:
                continue
            a = np.array([t["logprob"] for t in results[name][0]])
            b = np.array([t["logprob"] for t in results["infer"][0]])
            diff = np.abs(a - b).mean()
            print(f"# {name}: mean |logprob - fp32| {diff:.3g} nats")
            report("score_" + name + "_close", 0 < diff < 0.3, f"mean |Δ logprob| {diff:.3g}")


if __name__ == "__main__":
    run_script(main)
