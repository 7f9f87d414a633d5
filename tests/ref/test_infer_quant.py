"""`deepc quantize` formats and their effect on the model.
* fp8 folders are DeepSeek-V3's format, checked against torch: F8_E4M3 codes equal
  torch's float8_e4m3fn cast of w / s, weight_scale_inv = max(amax, 1e-4) / 448 per 128x128
  block, shape [ceil(R/128), ceil(C/128)], quantization_config as shipped; embedding, head,
  router and norms untouched.
* int8 / int4 folders: dequantized weights within half a quantization step (int4: one step
  at the clipped +8 side) of the originals, F16 scales [R, C/32].
* Every format loads in the engine; quality vs FP32 on a random DeepseekV3 (fresh seed,
  weights N(0, 0.7²/fan_in)): mean KL(fp32 || q) of next-token distributions and the
  perplexity change on a random token sequence (reported only: no trained model exists yet,
  so the issue's goals — fp8/int8 <= 1%, int4 <= 5% perplexity on held-out text — cannot be
  measured here; see docs/inference.md). Asserted: KL bounds calibrated on this family, int4
  worse than int8."""
import json, os

from harness import (deepc, quiet_transformers, randomize_weights, report, run, run_script, seed,
                     temp_dir, tool_path)

import numpy as np
import torch
from safetensors import safe_open
quiet_transformers()
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

TOOL = tool_path("infer")
SCALE = float(os.environ.get("SCALE", "0.7"))
SEED = seed()


def make(d):
    torch.manual_seed(SEED)
    cfg = DeepseekV3Config(vocab_size=512, hidden_size=128, intermediate_size=256, moe_intermediate_size=64,
                           num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4, q_lora_rank=96,
                           kv_lora_rank=128, qk_nope_head_dim=32, qk_rope_head_dim=16, v_head_dim=32, n_routed_experts=8,
                           n_shared_experts=1, num_experts_per_tok=2, n_group=2, topk_group=1, first_k_dense_replace=1,
                           max_position_embeddings=512)
    model = DeepseekV3ForCausalLM(cfg)
    randomize_weights(model, std=lambda p: SCALE / p.shape[-1] ** 0.5)   # trained-like: N(0, SCALE²/fan_in)
    model.save_pretrained(d)
    return model.eval()


def tool_logits(folder, ids, env=None, decode=()):
    """Logits [len(ids) + len(decode), V]: a prefill of ids, then decode steps with the cache."""
    out = os.path.join(folder, "logits.f32")
    run([TOOL, folder, out, "auto", ",".join(map(str, ids)), ",".join(map(str, decode)) or "-"], timeout=300, check=True, env=env)
    return np.fromfile(out, dtype=np.float32).reshape(len(ids) + len(decode), -1).astype(np.float64)


def logsoftmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def check_fp8_format(src, dst):
    fs, fq = safe_open(os.path.join(src, "model.safetensors"), "pt"), safe_open(os.path.join(dst, "model.safetensors"), "pt")
    cfg = json.load(open(os.path.join(dst, "config.json")))
    qc = cfg.get("quantization_config", {})
    ok = qc == {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8", "weight_block_size": [128, 128]}
    msg = "" if ok else f"quantization_config {qc}"
    n_proj = 0
    for k in fs.keys():
        w = fs.get_tensor(k).float()
        proj = w.ndim == 2 and k.endswith(".weight") and "embed" not in k and "lm_head" not in k and not k.endswith("mlp.gate.weight")
        q = fq.get_tensor(k)
        if not proj:
            if not torch.equal(q.float(), w):
                ok, msg = False, f"{k} changed"
            continue
        n_proj += 1
        R, C = w.shape
        s = fq.get_tensor(k + "_scale_inv")
        br, bc = (R + 127) // 128, (C + 127) // 128
        if q.dtype != torch.float8_e4m3fn or tuple(s.shape) != (br, bc) or s.dtype != torch.float32:
            ok, msg = False, f"{k}: dtype {q.dtype}, scale {tuple(s.shape)} {s.dtype}"
            continue
        pad = torch.zeros(br * 128, bc * 128)
        pad[:R, :C] = w
        amax = pad.view(br, 128, bc, 128).abs().amax(dim=(1, 3)).clamp(min=1e-4)
        ref_s = amax / 448.0
        if not torch.allclose(s, ref_s, rtol=1e-6, atol=0):
            ok, msg = False, f"{k}: scales differ from amax/448 by {float((s - ref_s).abs().max()):.3g}"
        sfull = s.repeat_interleave(128, 0).repeat_interleave(128, 1)[:R, :C]
        ref_q = (w / sfull).to(torch.float8_e4m3fn)
        same = (q.view(torch.uint8) == ref_q.view(torch.uint8)).float().mean().item()
        if same < 0.999:
            ok, msg = False, f"{k}: only {same:.4%} of FP8 codes equal torch's cast"
    report("quantize_fp8_is_deepseek_v3_format", ok and n_proj > 0, msg)


def rows8_to_plain(q, d):
    """docs/formats.md "int4 decode layout": group g of 8 rows, block b = 128 bytes, chunk c (32 bytes) = bytes
    4c..4c+3 of block b of rows 8g..8g+7 (row k at byte 4k); scales [R/8][C/32][8]. Back to the plain [R, C/2] and
    [R, C/32]."""
    R, H = q.shape
    nb = H // 16
    qp = q.view(R // 8, nb, 4, 8, 4).permute(0, 3, 1, 2, 4).reshape(R, H)      # [g, b, c, k, 4] -> [g, k, b, c, 4]
    dp = d.view(R // 8, nb, 8).permute(0, 2, 1).reshape(R, nb)                 # [g, b, k] -> [g, k, b]
    return qp, dp


def check_int_format(src, dst, bits):
    fs, fq = safe_open(os.path.join(src, "model.safetensors"), "pt"), safe_open(os.path.join(dst, "model.safetensors"), "pt")
    ok, msg, worst = True, "", 0.0
    qc = json.load(open(os.path.join(dst, "config.json"))).get("quantization_config", {})
    rows8 = qc.get("layout") == "rows8"
    if bits == 4:
        report("quantize_int4_writes_decode_layout", rows8, f"quantization_config {qc}")
    for k in fs.keys():
        w = fs.get_tensor(k).float()
        if not (w.ndim == 2 and k.endswith(".weight") and "embed" not in k and "lm_head" not in k and not k.endswith("mlp.gate.weight")):
            continue
        R, C = w.shape
        q, d = fq.get_tensor(k), fq.get_tensor(k + "_scale")
        if bits == 4 and rows8 and R % 8 == 0 and not k.endswith("kv_b_proj.weight") and q.shape == (R, C // 2) and d.shape == (R, C // 32):
            q, d = rows8_to_plain(q, d)               # the rule of infer/quantize.h quant_i4_rows8
        if d.dtype != torch.float16 or tuple(d.shape) != (R, C // 32):
            ok, msg = False, f"{k}: scale {d.dtype} {tuple(d.shape)}"
            continue
        dd = d.float().repeat_interleave(32, 1)
        if bits == 8:
            if q.dtype != torch.int8 or tuple(q.shape) != (R, C):
                ok, msg = False, f"{k}: {q.dtype} {tuple(q.shape)}"
                continue
            deq, step = q.float() * dd, 0.5 * dd.abs()
        else:
            if q.dtype != torch.uint8 or tuple(q.shape) != (R, C // 2):
                ok, msg = False, f"{k}: {q.dtype} {tuple(q.shape)}"
                continue
            b = q.view(R, C // 32, 16).int()
            nib = torch.cat([b & 15, b >> 4], dim=2).view(R, C)   # byte j: value j (low), j+16 (high)
            deq, step = (nib.float() - 8) * dd, dd.abs() * 1.01   # clipped +8 side: one step (+ fp16 rounding of d)
        excess = float(((deq - w).abs() - step * (1 + 1e-3) - 1e-7).max())
        worst = max(worst, float(((deq - w).abs() / (dd.abs() + 1e-30)).max()))
        if excess > 0:
            ok, msg = False, f"{k}: dequantized error above the bound by {excess:.3g}"
    report(f"quantize_int{bits}_format_and_error_bound", ok, msg)
    print(f"# int{bits}: worst |dequant - w| = {worst:.3f} steps", flush=True)


def main():
    with temp_dir("deepc_quant_") as tmp:
        src = os.path.join(tmp, "f32")
        model = make(src)
        g = torch.Generator().manual_seed(SEED)
        ids = torch.randint(0, 512, (64,), generator=g).tolist()
        ref = tool_logits(src, ids)
        lref = logsoftmax(ref)
        nll = lambda lp: -np.mean([lp[i, ids[i + 1]] for i in range(len(ids) - 1)])
        ppl_ref = float(np.exp(nll(lref)))
        goals = {"bf16": 0.005, "fp8": 0.01, "int8": 0.01, "int4": 0.05}
        kl_max = {"bf16": 5e-3, "fp8": 1.5e-2, "int8": 5e-3, "int4": 6e-2}   # calibrated on this model family
        kls = {}
        for t, goal in goals.items():
            dst = os.path.join(tmp, t)
            r = deepc("quantize", "--model", src, "--to", t, "--out", dst)
            if r.returncode != 0:
                report(f"quantize_{t}_runs", False, r.stderr[-300:])
                continue
            if t == "fp8":
                check_fp8_format(src, dst)
            if t in ("int8", "int4"):
                check_int_format(src, dst, 8 if t == "int8" else 4)
            lq = logsoftmax(tool_logits(dst, ids))
            kl = float(np.mean(np.sum(np.exp(lref) * (lref - lq), -1)))
            ppl = float(np.exp(nll(lq)))
            change = ppl / ppl_ref - 1
            print(f"# {t}: perplexity {ppl:.3f} ({change:+.3%} vs fp32), mean KL {kl:.2e}", flush=True)
            kls[t] = kl
            # Perplexity of a random model on random tokens is noise-dominated: reported, not asserted.
            report(f"quantize_{t}_quality_within_bound", kl <= kl_max[t], f"KL {kl:.2e} (max {kl_max[t]:.0e})")
        if "int8" in kls and "int4" in kls:
            report("quantize_int4_worse_than_int8", kls["int4"] > kls["int8"], f"{kls}")
        # int4 layouts: a plain folder (written with DEEPC_I4_INTERLEAVE=0, as before "layout": "rows8" existed) is
        # re-laid at load, so its logits equal the rows8 folder's bit for bit; read as plain (the setting off) they
        # are close (up to routing flips, below); an unknown layout is refused.
        plain = os.path.join(tmp, "int4plain")
        r = deepc("quantize", "--model", src, "--to", "int4", "--out", plain, env={"DEEPC_I4_INTERLEAVE": "0"})
        qc = json.load(open(os.path.join(plain, "config.json"))).get("quantization_config", {}) if r.returncode == 0 else {}
        if r.returncode == 0 and "layout" not in qc and os.path.isdir(os.path.join(tmp, "int4")):
            # a 3-token prefill and 6 decode steps: the matvec kernels (a long prefill runs the lane GEMM, which
            # unpacks either layout into the same panels)
            a, b = tool_logits(plain, ids[:3], decode=ids[3:9]), tool_logits(os.path.join(tmp, "int4"), ids[:3], decode=ids[3:9])
            c = tool_logits(plain, ids[:3], env={"DEEPC_I4_INTERLEAVE": "0"}, decode=ids[3:9])
            # The plain kernels round differently (last bits), and on a MoE model that can flip an expert choice where
            # two router scores nearly tie; the tokens after such a flip move by O(1) (seen: seed 1965212376, rows
            # 5-8 of 9 at 7e-3, 0.43, 0.24, 0.02 while rows 0-4 agree to 3e-7). A broken kernel puts every row off:
            # asserted, the prefill rows and at least 6 of the 9 rows within 5e-2.
            row_rel = np.abs(c - b).max(axis=1) / np.abs(b).max()
            rel = float(row_rel.max())
            close = bool((row_rel[:3] < 5e-2).all()) and int((row_rel < 5e-2).sum()) >= 6
            per_row = " ".join(f"{float(v):.1e}" for v in row_rel)
            report("int4_plain_folder_equals_decode_layout", bool((a == b).all()) and close,
                   f"re-laid equal: {bool((a == b).all())}; plain kernels rel per row, 3 prefill then 6 decode steps: "
                   f"{per_row}")
            print(f"# int4 plain folder through the plain kernels vs the decode layout: logits rel {rel:.2e}", flush=True)
            # re-quantizing int4 to int4 is lossless (same codes and scales), from either layout
            same = []
            for k, srcf in enumerate((plain, os.path.join(tmp, "int4"))):
                re4 = os.path.join(tmp, f"re4_{k}")
                rr = deepc("quantize", "--model", srcf, "--to", "int4", "--out", re4)
                same.append(rr.returncode == 0 and bool((tool_logits(re4, ids[:3], decode=ids[3:9]) == b).all()))
                if rr.returncode != 0:
                    print(f"# re-quantize failed: {rr.stderr[-300:]}", flush=True)
            report("int4_requantize_is_lossless", all(same), f"plain, rows8: {same}")
            rs = deepc("score", "--model", os.path.join(tmp, "int4"), "--tokens", json.dumps(ids[:16]))
            last = json.loads(rs.stdout.strip().splitlines()[-1]) if rs.returncode == 0 and rs.stdout.strip() else {}
            report("score_quantized_folder_uses_engine", last.get("engine") == "infer" and last.get("tokens") == 15,
                   f"rc {rs.returncode} {rs.stderr[-300:]} {last}")
            ri = deepc("info", os.path.join(tmp, "int4"))
            report("info_describes_int4_folder", ri.returncode == 0 and "weights: deepc int4" in ri.stdout and "rows8" in ri.stdout,
                   f"rc {ri.returncode} {ri.stdout[-300:]} {ri.stderr[-300:]}")
            cfgp = os.path.join(plain, "config.json")
            cfg = json.load(open(cfgp))
            cfg["quantization_config"]["layout"] = "cols4"
            json.dump(cfg, open(cfgp, "w"))
            r2 = run([TOOL, plain, os.path.join(plain, "x.f32"), "auto", "1,2", "-"], timeout=300)
            report("int4_unknown_layout_fails", r2.returncode not in (0,) and r2.returncode < 128 and "layout" in r2.stderr,
                   r2.stderr[-300:])
        else:
            report("int4_plain_folder_equals_decode_layout", False, f"rc {r.returncode} {r.stderr[-300:]} config {qc}")
        # Bad input: unknown target, missing folder -> clear errors, nothing written.
        r = deepc("quantize", "--model", src, "--to", "int3", "--out", os.path.join(tmp, "x"))
        report("quantize_bad_target_fails", r.returncode != 0 and "int3" in r.stderr and not os.path.exists(os.path.join(tmp, "x")), r.stderr)
        r = deepc("quantize", "--model", os.path.join(tmp, "none"), "--to", "int8", "--out", os.path.join(tmp, "y"))
        report("quantize_missing_folder_fails", r.returncode != 0 and r.returncode < 128 and not os.path.exists(os.path.join(tmp, "y")), r.stderr)


if __name__ == "__main__":
    run_script(main)
