"""Inference engine vs transformers: random tiny DeepseekV3 / DeepseekV2 models
(fresh seed each run) saved as folders; our logits after a prompt (all
positions) and after several cached decode steps must match transformers' full
forward (rel err <= 1e-4, FP32). Also BF16 folders and DeepSeek-V3-style FP8
folders (F8_E4M3 + weight_scale_inv + quantization_config), compared with
transformers running the dequantized weights.

Group masking: transformers releases before 2025 masked non-selected V3 expert
groups with 0.0 instead of -inf (spec §11 #2). Configs with a non-zero
correction bias are only run when the installed transformers uses -inf; the
others use a zero bias, where sigmoid scores are positive so 0.0 and -inf
select the same experts."""
import inspect, json, os

from harness import (need_program, quiet_transformers, randomize_weights, report, run, run_script,
                     seed, temp_dir, tool_path)

import numpy as np
import torch
transformers = quiet_transformers()
from transformers import DeepseekV2Config, DeepseekV2ForCausalLM, DeepseekV3Config, DeepseekV3ForCausalLM

TOOL = tool_path("infer")
SEED = seed()


def yarn(mscale):
    return {"type": "yarn", "rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32,
            "beta_fast": 32, "beta_slow": 1, "mscale": mscale, "mscale_all_dim": mscale, "rope_theta": 10000.0}


def make(version, q_lora, use_yarn, shared, n_group, topk_group, topk_method=None, scale=None, bias=False):
    common = dict(vocab_size=101, hidden_size=64, intermediate_size=96, moe_intermediate_size=32, num_hidden_layers=3,
                  num_attention_heads=4, num_key_value_heads=4, q_lora_rank=48 if q_lora else None, kv_lora_rank=32,
                  qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16, n_routed_experts=8, n_shared_experts=shared,
                  num_experts_per_tok=2, n_group=n_group, topk_group=topk_group, first_k_dense_replace=1,
                  max_position_embeddings=128, rms_norm_eps=1e-6, tie_word_embeddings=False)
    if use_yarn:
        common["rope_scaling"] = yarn(1.0 if version == 3 else 0.707)
    if version == 3:
        cfg = DeepseekV3Config(**common, routed_scaling_factor=2.5 if scale is None else scale, norm_topk_prob=True)
        model = DeepseekV3ForCausalLM(cfg)
    else:
        cfg = DeepseekV2Config(**common, topk_method=topk_method or "greedy",
                               routed_scaling_factor=1.0 if scale is None else scale, norm_topk_prob=False)
        model = DeepseekV2ForCausalLM(cfg)
    randomize_weights(model, std=0.15, bias_std=0.3 if bias else 0.0)
    return model.float().eval()


def run_tool(folder, attn, prompt, decode):
    out = os.path.join(folder, "logits.f32")
    run([TOOL, folder, out, attn, ",".join(map(str, prompt)), ",".join(map(str, decode)) or "-"],
        timeout=120, check=True)
    return np.fromfile(out, dtype=np.float32)


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def check(name, model, folder, tol=1e-4, attn_modes=("absorbed", "naive", "auto")):
    g = torch.Generator().manual_seed(SEED + len(name))
    V = model.config.vocab_size
    ids = torch.randint(0, V, (1, 14), generator=g)
    P = 9
    with torch.no_grad():
        ref = model(ids).logits[0].float().numpy()          # [14, V], no cache
    for attn in attn_modes:
        try:
            got = run_tool(folder, attn, ids[0, :P].tolist(), ids[0, P:].tolist()).reshape(-1, V)
        except Exception as e:   # noqa: BLE001
            report(f"{name}_{attn}", False, str(e))
            continue
        err = rel(got, ref)
        print(f"# {name}_{attn}: rel err {err:.3g}", flush=True)
        report(f"{name}_{attn}", got.shape == ref.shape and err <= tol, f"rel err {err:.3g} (tol {tol:g})")


def fp8_quantize_folder(model, folder):
    """Write `model` as DeepSeek-V3 ships FP8: every 2-D projection weight (not embedding, head, router, norms) as
    F8_E4M3 with weight_scale_inv [ceil(out/128), ceil(in/128)] = amax/448 per block; return the dequantized model."""
    from safetensors.torch import save_file
    sd, deq = {}, {}
    for name, p in model.state_dict().items():
        t = p.detach().float().contiguous()
        if t.ndim == 2 and "embed" not in name and "lm_head" not in name and not name.endswith("mlp.gate.weight"):
            R, C = t.shape
            br, bc = (R + 127) // 128, (C + 127) // 128
            pad = torch.zeros(br * 128, bc * 128)
            pad[:R, :C] = t
            blocks = pad.view(br, 128, bc, 128)
            amax = blocks.abs().amax(dim=(1, 3)).clamp(min=1e-4)
            s = amax / 448.0
            q = (blocks / s[:, None, :, None]).view(br * 128, bc * 128)[:R, :C].to(torch.float8_e4m3fn)
            sd[name] = q.contiguous()
            sd[name + "_scale_inv"] = s.contiguous()
            deq[name] = (q.float().view(R, C) * s.repeat_interleave(128, 0).repeat_interleave(128, 1)[:R, :C])
        else:
            sd[name] = t
    save_file(sd, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    cfgp = os.path.join(folder, "config.json")
    cfg = json.load(open(cfgp))
    cfg["quantization_config"] = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                  "weight_block_size": [128, 128]}
    json.dump(cfg, open(cfgp, "w"), indent=2)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in deq:
                p.copy_(deq[name])
    return model


def main():
    torch.manual_seed(SEED)
    print(f"# transformers {transformers.__version__}", flush=True)
    if not need_program(TOOL, "tool_infer_built"):
        return
    v3_inf = 'float("-inf")' in inspect.getsource(transformers.models.deepseek_v3.modeling_deepseek_v3.DeepseekV3TopkRouter.forward)
    cases = [
        ("v3_qlora_yarn_groups_1shared", dict(version=3, q_lora=True, use_yarn=True, shared=1, n_group=4, topk_group=2)),
        ("v3_noqlora_noyarn_0shared", dict(version=3, q_lora=False, use_yarn=False, shared=0, n_group=1, topk_group=1)),
        ("v2_lite_like_yarn_2shared", dict(version=2, q_lora=False, use_yarn=True, shared=2, n_group=1, topk_group=1)),
        ("v2_qlora_group_limited", dict(version=2, q_lora=True, use_yarn=True, shared=1, n_group=4, topk_group=2,
                                        topk_method="group_limited_greedy", scale=16.0)),
    ]
    if v3_inf:
        cases.append(("v3_bias_groups", dict(version=3, q_lora=True, use_yarn=True, shared=1, n_group=4, topk_group=2,
                                             bias=True)))
    else:
        print("# transformers masks V3 groups with 0.0: skipping the non-zero correction-bias case", flush=True)
    with temp_dir("deepc_infer_") as tmp:
        for name, kw in cases:
            model = make(**kw)
            folder = os.path.join(tmp, name)
            model.save_pretrained(folder)
            check(name, model, folder)
        # BF16 folder: transformers runs the same bf16-rounded weights in FP32.
        model = make(version=3, q_lora=True, use_yarn=True, shared=1, n_group=2, topk_group=1)
        folder = os.path.join(tmp, "bf16")
        model.to(torch.bfloat16).save_pretrained(folder)
        # (reload in FP32: casting the live model would also round its RoPE frequency buffer to bf16)
        model = DeepseekV3ForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        check("v3_bf16_folder", model, folder, attn_modes=("auto",))
        # FP8 folder as DeepSeek-V3 ships it.
        model = make(version=3, q_lora=True, use_yarn=True, shared=1, n_group=2, topk_group=1)
        folder = os.path.join(tmp, "fp8")
        model.save_pretrained(folder)
        model = fp8_quantize_folder(model, folder)
        check("v3_fp8_folder", model, folder, attn_modes=("auto",))


if __name__ == "__main__":
    run_script(main)
