#!/usr/bin/env python3
"""Reference test for deepc's model-folder formats, against packages nobody here wrote.

safetensors: files deepc writes load in the Python `safetensors` package with identical
values (bf16/f16 encodings equal torch's round-to-nearest-even casts); files `safetensors`
(and huggingface_hub's sharded writer) write, including torch.float8_e4m3fn, load in deepc
with identical values.
config.json: every deepc preset loads in transformers' AutoConfig with the same values
(softmax scale and YaRN cos/sin factor equal to what transformers' DeepSeek modules compute);
configs written by transformers' DeepseekV3Config / DeepseekV2Config (defaults and random
custom ones, fresh seed each run) read in deepc with the same values, and deepc's rewrite of
them loads back in transformers unchanged; unsupported values are refused naming the key.

C is driven through build/tests/tool_formats (tests/tool_formats.c).
Prints "PASS name" / "FAIL name"; exits non-zero on any failure.
"""
import json
import math
import os
import random
import sys
import tempfile
import time
import warnings

from harness import ROOT, finish, quiet_transformers, report, run, seed, tool_path

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import safetensors.torch as st  # noqa: E402
from safetensors import safe_open  # noqa: E402
transformers = quiet_transformers()
from transformers import AutoConfig, DeepseekV2Config, DeepseekV3Config  # noqa: E402

TOOL = tool_path("formats")   # $DEEPC_TOOL_FORMATS names another binary
SEED = seed()
print(f"# transformers {transformers.__version__}, "
      f"safetensors {__import__('safetensors').__version__}, torch {torch.__version__}")
rng = random.Random(SEED)
torch.manual_seed(SEED)


def run_test(fn):
    """fn() returns a list of problems (empty: PASS); they are printed indented above FAIL fn."""
    try:
        errs = fn()
    except Exception as e:  # a crash in the test is a failure, with the reason
        import traceback
        errs = ["exception: " + "".join(traceback.format_exception_only(type(e), e)).strip()]
        traceback.print_exc(file=sys.stdout)
    for e in errs[:20]:
        print("  " + str(e))
    report(fn.__name__, not errs, f"{len(errs)} problem(s), listed above")


def tool(*args, check=True):
    return run([TOOL, *args], check=check)


def ensure_tool():
    if os.access(TOOL, os.X_OK):
        return
    r = run(["make", "-C", ROOT, "build/tests/tool_formats"])
    if r.returncode != 0:
        print(r.stdout[-2000:] + r.stderr[-2000:])
        report("build_tool_formats", False, "make build/tests/tool_formats failed (output above)")
        finish()


def dump(path, tmp):
    out = os.path.join(tmp, "dump.json")
    tool("dump", path, out)
    with open(out) as f:
        return json.load(f)


DT = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "F8_E4M3": torch.float8_e4m3fn,
      "I32": torch.int32, "I64": torch.int64, "U8": torch.uint8, "I8": torch.int8}
DT_NAME = {v: k for k, v in DT.items()}


def same_values(name, ours, theirs):
    """ours: our dump entry; theirs: a torch tensor. Exact equality (NaN == NaN)."""
    errs = []
    if ours["dtype"] != DT_NAME[theirs.dtype]:
        errs.append(f"{name}: dtype {ours['dtype']} vs {theirs.dtype}")
    if list(ours["shape"]) != list(theirs.shape):
        errs.append(f"{name}: shape {ours['shape']} vs {list(theirs.shape)}")
        return errs
    if theirs.dtype in (torch.int32, torch.int64, torch.uint8, torch.int8):
        ref = theirs.reshape(-1).tolist()
        if ours["values"] != ref:
            errs.append(f"{name}: integer values differ")
        return errs
    ref = theirs.to(torch.float32).reshape(-1).numpy()
    got = np.array(ours["values"], dtype=np.float64).astype(np.float32)
    if got.shape != ref.shape:
        return errs + [f"{name}: {got.size} values vs {ref.size}"]
    bad = ~((got == ref) | (np.isnan(got) & np.isnan(ref)))
    if bad.any():
        i = int(np.argmax(bad))
        errs.append(f"{name}: {int(bad.sum())} values differ, first at {i}: ours {got[i]!r} vs {ref[i]!r}")
    return errs


# ------------------------------------------------------------------ safetensors

def st_ours_load_in_python():
    errs = []
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, "ours.safetensors")
        tool("write", p, rng.getrandbits(62))
        theirs = st.load_file(p)                     # the reference parser validates the whole file
        ours = dump(p, tmp)["tensors"]
        if set(ours) != set(theirs):
            errs.append(f"names differ: {sorted(set(ours) ^ set(theirs))}")
        for k, t in theirs.items():
            if k in ours:
                errs += same_values(k, ours[k], t)
        with safe_open(p, "pt") as f:
            if f.metadata() != {"format": "pt"}:
                errs.append(f"metadata {f.metadata()}")
        with open(p, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
        if (8 + n) % 8:
            errs.append(f"header length {n}: data section not 8-byte aligned")
        # our f32 -> bf16 / f16 encoders equal torch's round-to-nearest-even casts, bit for bit
        src = theirs["conv.src"]
        for key, dt in (("conv.bf16", torch.bfloat16), ("conv.f16", torch.float16)):
            want = src.to(dt).view(torch.int16)
            got = theirs[key].view(torch.int16)
            nan = torch.isnan(src)
            diff = (want != got) & ~nan
            if diff.any():
                i = int(diff.nonzero()[0])
                errs.append(f"{key}: {int(diff.sum())} encodings differ from torch, first: {src[i].item()!r} -> "
                            f"ours {got[i].item() & 0xffff:04x}, torch {want[i].item() & 0xffff:04x}")
            if not torch.isnan(theirs[key][nan].float()).all():
                errs.append(f"{key}: NaN inputs must stay NaN")
    return errs


def st_ours_sharded_load_in_python():
    errs = []
    with tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(tmp, "folder")
        tool("write", d, rng.getrandbits(62), 2000 + rng.randrange(3000))
        with open(os.path.join(d, "model.safetensors.index.json")) as f:
            index = json.load(f)
        shards = sorted(set(index["weight_map"].values()))
        if len(shards) < 2:
            errs.append(f"expected several shards, got {shards}")
        theirs, total = {}, 0
        for s in shards:
            part = st.load_file(os.path.join(d, s))
            for k, t in part.items():
                if index["weight_map"].get(k) != s:
                    errs.append(f"{k} is in {s} but the index says {index['weight_map'].get(k)}")
                total += t.numel() * t.element_size()
            theirs.update(part)
        if set(theirs) != set(index["weight_map"]):
            errs.append("index and shards name different tensors")
        if index.get("metadata", {}).get("total_size") != total:
            errs.append(f"total_size {index.get('metadata')} vs {total}")
        ours = dump(d, tmp)["tensors"]
        for k, t in theirs.items():
            errs += same_values(k, ours[k], t) if k in ours else [f"{k} missing in ours"]
    return errs


def random_state_dict():
    sd = {}
    for i in range(rng.randrange(6, 12)):
        shape = [rng.randrange(0 if rng.random() < 0.1 else 1, 9) for _ in range(rng.randrange(0, 4))]
        kind = rng.choice(["f32", "bf16", "f16", "fp8", "i32", "i64", "u8", "i8"])
        x = torch.randn(shape) * 10 ** rng.uniform(-6, 4)
        if kind == "f32":
            t = x
        elif kind == "bf16":
            t = x.to(torch.bfloat16)
        elif kind == "f16":
            t = x.clamp(-60000, 60000).to(torch.float16)
        elif kind == "fp8":   # every code, NaN included
            t = torch.randint(0, 256, shape, dtype=torch.uint8).view(torch.float8_e4m3fn)
        elif kind == "i32":
            t = torch.randint(-2**31, 2**31 - 1, shape, dtype=torch.int32)
        elif kind == "i64":
            t = torch.randint(-2**52, 2**52, shape, dtype=torch.int64)
        elif kind == "u8":
            t = torch.randint(0, 256, shape, dtype=torch.uint8)
        else:
            t = torch.randint(-128, 128, shape, dtype=torch.int8)
        sd[f"model.layers.{i}.t_{kind}"] = t
    # the FP8 checkpoint layout of DeepSeek-V3: weight + weight_scale_inv
    w = torch.randn(300, 200)
    sd["model.layers.0.mlp.down_proj.weight"] = (w / 0.01).clamp(-448, 448).to(torch.float8_e4m3fn)
    sd["model.layers.0.mlp.down_proj.weight_scale_inv"] = torch.rand(3, 2)
    return sd


def st_python_files_load_in_ours():
    errs = []
    with tempfile.TemporaryDirectory() as tmp:
        sd = random_state_dict()
        p = os.path.join(tmp, "theirs.safetensors")
        st.save_file(sd, p, metadata={"format": "pt", "note": "written by safetensors"})
        d = dump(p, tmp)
        if d["metadata"] != {"format": "pt", "note": "written by safetensors"}:
            errs.append(f"metadata {d['metadata']}")
        ours = d["tensors"]
        if set(ours) != set(sd):
            errs.append(f"names differ: {sorted(set(ours) ^ set(sd))}")
        for k, t in sd.items():
            if k in ours:
                errs += same_values(k, ours[k], t)
    return errs


def st_python_sharded_folder_loads_in_ours():
    from huggingface_hub import save_torch_state_dict
    errs = []
    with tempfile.TemporaryDirectory() as tmp:
        sd = random_state_dict()
        d = os.path.join(tmp, "folder")
        os.makedirs(d)
        save_torch_state_dict(sd, d, max_shard_size=1500, filename_pattern="model{suffix}.safetensors")
        files = os.listdir(d)
        if "model.safetensors.index.json" not in files:
            errs.append(f"huggingface_hub wrote no index: {files}")
        got = dump(d, tmp)
        if got["files"] < 2:
            errs.append(f"expected several shards, read {got['files']}")
        ours = got["tensors"]
        for k, t in sd.items():
            errs += same_values(k, ours[k], t) if k in ours else [f"{k} missing"]
        # a shard the index names is missing: refused, naming it
        shard = sorted(f for f in files if f.endswith(".safetensors"))[-1]
        os.rename(os.path.join(d, shard), os.path.join(tmp, "away"))
        r = tool("dump", d, os.path.join(tmp, "x.json"), check=False)
        if r.returncode == 0 or shard not in r.stderr:
            errs.append(f"missing shard {shard}: exit {r.returncode}, message {r.stderr.strip()!r}")
    return errs


def st_corrupt_python_file_refused():
    """Truncations of a file written by `safetensors`: refused with a message, never a crash."""
    errs = []
    with tempfile.TemporaryDirectory() as tmp:
        sd = random_state_dict()
        p = os.path.join(tmp, "t.safetensors")
        st.save_file(sd, p)
        raw = open(p, "rb").read()
        q = os.path.join(tmp, "cut.safetensors")
        for _ in range(30):
            cut = rng.randrange(0, len(raw) - 1)
            open(q, "wb").write(raw[:cut])
            r = tool("dump", q, os.path.join(tmp, "x.json"), check=False)
            if r.returncode == 0:
                # only acceptable if the reference accepts it too (cut exactly after a tensor it doesn't need)
                try:
                    st.load_file(q)
                except Exception:
                    errs.append(f"cut at {cut}: we accepted what safetensors refuses")
            elif r.returncode != 1 or "cut.safetensors" not in r.stderr:
                errs.append(f"cut at {cut}: exit {r.returncode}, message {r.stderr.strip()!r}")
    return errs


# ------------------------------------------------------------------ config.json

TOPK = ["greedy", "group_limited_greedy", "noaux_tc"]
SCORE = ["softmax", "sigmoid"]


def f32(x):
    return float(np.float32(x))


def compare_config(hf, ours, label):
    """hf: a transformers config; ours: tool_formats `fields` output for the same file."""
    errs = []
    d = hf.to_dict()

    def eq(field, want, is_float=False):
        got = ours[field]
        ok = (f32(got) == f32(want)) if is_float else (got == want)
        if not ok:
            errs.append(f"{label}: {field}: deepc {got!r}, transformers {want!r}")

    eq("version", 3 if hf.model_type == "deepseek_v3" else 2)
    for k in ["vocab_size", "hidden_size", "intermediate_size", "moe_intermediate_size", "num_hidden_layers",
              "num_attention_heads", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
              "n_shared_experts", "first_k_dense_replace", "max_position_embeddings"]:
        eq(k, getattr(hf, k))
    eq("q_lora_rank", hf.q_lora_rank or 0)
    eq("n_routed_experts", hf.n_routed_experts or 0)
    eq("num_experts_per_tok", hf.num_experts_per_tok or 0)
    eq("n_group", hf.n_group or 1)
    eq("topk_group", hf.topk_group or 1)
    eq("norm_topk_prob", int(bool(hf.norm_topk_prob)))
    eq("routed_scaling_factor", hf.routed_scaling_factor, True)
    eq("rms_norm_eps", hf.rms_norm_eps, True)
    eq("tie_word_embeddings", int(bool(hf.tie_word_embeddings)))
    bos = -1 if hf.bos_token_id is None else hf.bos_token_id
    eos = hf.eos_token_id[0] if isinstance(hf.eos_token_id, list) else hf.eos_token_id
    eq("bos_token_id", bos)
    eq("eos_token_id", -1 if eos is None else eos)
    if "topk_method" in d:
        eq("topk_method", TOPK.index(d["topk_method"]))
    if "scoring_func" in d:
        eq("scoring_func", SCORE.index(d["scoring_func"]))
    if "moe_layer_freq" in d:
        eq("moe_layer_freq", d["moe_layer_freq"])
    if hf.model_type == "deepseek_v3":
        eq("num_nextn_predict_layers", hf.num_nextn_predict_layers)
    rp = hf.rope_parameters
    eq("rope_theta", rp["rope_theta"], True)
    yarn = rp.get("rope_type", rp.get("type")) == "yarn"
    eq("yarn", int(yarn))
    if yarn:
        eq("rope_factor", rp["factor"], True)
        eq("original_max_position_embeddings", rp["original_max_position_embeddings"])
        eq("beta_fast", rp.get("beta_fast") or 32, True)
        eq("beta_slow", rp.get("beta_slow") or 1, True)
        eq("mscale", rp.get("mscale") or 0, True)
        eq("mscale_all_dim", rp.get("mscale_all_dim") or 0, True)
    eq("fp8_weights", int(d.get("quantization_config") is not None))
    # which layers are MoE (transformers' own rule, or DeepSeek's with moe_layer_freq)
    freq = d.get("moe_layer_freq", 1)
    want = [bool(hf.n_routed_experts) and l >= (hf.first_k_dense_replace or 0) and l % freq == 0
            for l in range(hf.num_hidden_layers)]
    if ours["moe_layers"] != want:
        errs.append(f"{label}: MoE layer layout differs")
    # softmax scale and YaRN cos/sin factor, as transformers' modules compute them (meta device: no memory)
    mod = transformers.models.deepseek_v3.modeling_deepseek_v3 if hf.model_type == "deepseek_v3" \
        else transformers.models.deepseek_v2.modeling_deepseek_v2
    cls = mod.DeepseekV3Attention if hf.model_type == "deepseek_v3" else mod.DeepseekV2Attention
    with torch.device("meta"):
        att = cls(hf, layer_idx=0)
    if not math.isclose(ours["softmax_scale"], att.scaling, rel_tol=1e-6):
        errs.append(f"{label}: softmax scale deepc {ours['softmax_scale']} vs transformers {att.scaling}")
    rot_cls = mod.DeepseekV3RotaryEmbedding if hf.model_type == "deepseek_v3" else mod.DeepseekV2RotaryEmbedding
    rot = rot_cls(hf)
    if not math.isclose(ours["rope_attention_factor"], rot.attention_scaling, rel_tol=1e-6):
        errs.append(f"{label}: YaRN cos/sin factor deepc {ours['rope_attention_factor']} vs {rot.attention_scaling}")
    return errs


def fields_of(path, tmp):
    out = os.path.join(tmp, "fields.json")
    tool("fields", path, out)
    with open(out) as f:
        return json.load(f)


def config_presets_load_in_transformers():
    errs = []
    for name in ["tiny", "small", "base", "v2-lite", "v3", "bench-train", "bench-infer"]:
        with tempfile.TemporaryDirectory() as tmp:
            p = os.path.join(tmp, "config.json")
            tool("preset", name, p)
            hf = AutoConfig.from_pretrained(tmp)
            want_cls = DeepseekV2Config if name in ("v2-lite", "bench-infer") else DeepseekV3Config
            if type(hf) is not want_cls:
                errs.append(f"{name}: AutoConfig gave {type(hf).__name__}")
            errs += compare_config(hf, fields_of(p, tmp), name)
    return errs


def random_hf_config(version):
    """A random but valid custom DeepSeek config, built by transformers' classes."""
    H = rng.choice([2, 4, 8])
    E = rng.choice([4, 8, 16, 12])
    ng = rng.choice([g for g in (1, 2, 4) if E == 0 or E % g == 0 and E // g >= 2])
    kw = dict(
        vocab_size=rng.randrange(100, 5000), hidden_size=H * rng.choice([8, 16, 32]),
        intermediate_size=rng.randrange(16, 300), moe_intermediate_size=rng.randrange(8, 200),
        num_hidden_layers=rng.randrange(1, 7), num_attention_heads=H,
        q_lora_rank=rng.choice([None, rng.randrange(8, 100)]), kv_lora_rank=rng.randrange(8, 100),
        qk_nope_head_dim=rng.choice([0, 8, 16, 32]), qk_rope_head_dim=rng.choice([2, 8, 16, 64]),
        v_head_dim=rng.choice([8, 16, 24]), n_shared_experts=rng.randrange(0, 3),
        n_routed_experts=E if E else None, first_k_dense_replace=rng.randrange(0, 3),
        routed_scaling_factor=round(rng.uniform(0.5, 16), 3), norm_topk_prob=rng.random() < 0.5,
        rms_norm_eps=rng.choice([1e-6, 1e-5, 3e-7]), max_position_embeddings=rng.choice([512, 2048, 163840]),
        tie_word_embeddings=rng.random() < 0.3, bos_token_id=rng.randrange(0, 50), eos_token_id=rng.randrange(0, 50),
    )
    if E:
        kw.update(n_group=ng, topk_group=rng.randrange(1, ng + 1))
        kw["num_experts_per_tok"] = rng.randrange(1, kw["topk_group"] * (E // ng) + 1)
    else:
        kw.update(n_group=ng, topk_group=1, num_experts_per_tok=1)
    theta = float(rng.choice([10000, 50000, 1e6]))
    if rng.random() < 0.6:
        rp = {"rope_type": "yarn", "rope_theta": theta, "factor": float(rng.choice([4, 8, 40])),
              "original_max_position_embeddings": rng.choice([256, 4096]),
              "beta_fast": float(rng.choice([32, 16])), "beta_slow": float(rng.choice([1, 2]))}
        if rng.random() < 0.7:
            ms = rng.choice([0.707, 1.0, 0.5])
            rp["mscale"] = ms if rng.random() < 0.7 else 1.0
            rp["mscale_all_dim"] = ms
    else:
        rp = {"rope_type": "default", "rope_theta": theta}
    kw["rope_parameters"] = rp
    if version == 3:
        kw["num_nextn_predict_layers"] = rng.randrange(0, 3)
        cfg = DeepseekV3Config(**kw)
    else:
        kw["topk_method"] = "greedy" if kw["n_group"] == 1 else rng.choice(["greedy", "group_limited_greedy"])
        cfg = DeepseekV2Config(**kw)
    return cfg


def config_transformers_written_read_by_ours():
    errs = []
    cases = [("v3-default", DeepseekV3Config()), ("v2-default+K", DeepseekV2Config(num_experts_per_tok=6))]
    cases += [(f"v3-random{i}", random_hf_config(3)) for i in range(6)]
    cases += [(f"v2-random{i}", random_hf_config(2)) for i in range(6)]
    for label, cfg in cases:
        with tempfile.TemporaryDirectory() as tmp:
            cfg.save_pretrained(tmp)
            p = os.path.join(tmp, "config.json")
            r = tool("fields", p, os.path.join(tmp, "f.json"), check=False)
            if r.returncode != 0:
                errs.append(f"{label}: deepc refused: {r.stderr.strip()}  config: {cfg.to_json_string()[:400]}")
                continue
            hf = AutoConfig.from_pretrained(tmp)
            errs += compare_config(hf, json.load(open(os.path.join(tmp, "f.json"))), label)
            # deepc's rewrite loads back in transformers with the same values
            d2 = os.path.join(tmp, "rewritten")
            os.mkdir(d2)
            tool("config", p, os.path.join(d2, "config.json"))
            hf2 = AutoConfig.from_pretrained(d2)
            errs += compare_config(hf2, json.load(open(os.path.join(tmp, "f.json"))), label + " (rewritten)")
    # the v4 Hub form (rope_theta + rope_scaling), as DeepSeek-V2-Lite ships it
    with tempfile.TemporaryDirectory() as tmp:
        hub = {"architectures": ["DeepseekV2ForCausalLM"], "model_type": "deepseek_v2", "vocab_size": 102400,
               "hidden_size": 2048, "intermediate_size": 10944, "moe_intermediate_size": 1408,
               "num_hidden_layers": 27, "num_attention_heads": 16, "num_key_value_heads": 16, "q_lora_rank": None,
               "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
               "n_routed_experts": 64, "n_shared_experts": 2, "num_experts_per_tok": 6, "first_k_dense_replace": 1,
               "moe_layer_freq": 1, "topk_method": "greedy", "n_group": 1, "topk_group": 1,
               "norm_topk_prob": False, "routed_scaling_factor": 1.0, "scoring_func": "softmax",
               "rms_norm_eps": 1e-06, "rope_theta": 10000,
               "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096,
                                "beta_fast": 32, "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707},
               "max_position_embeddings": 163840, "bos_token_id": 100000, "eos_token_id": 100001,
               "tie_word_embeddings": False, "attention_bias": False}
        p = os.path.join(tmp, "config.json")
        json.dump(hub, open(p, "w"))
        hf = AutoConfig.from_pretrained(tmp)
        errs += compare_config(hf, fields_of(p, tmp), "v2-lite hub (v4 form)")
    return errs


def st_read_speed_measured():
    """Measured, not asserted: open + convert to FP32 a BF16/F16/F8 file written by `safetensors`,
    deepc (tool_formats bench, 1 thread) vs safe_open + get_tensor + .float() (torch, 1 thread)."""
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, "speed.safetensors")
        n = 1 << 22
        sd = {"bf16": torch.randn(n).to(torch.bfloat16), "f16": torch.randn(n).to(torch.float16),
              "fp8": torch.randn(n).to(torch.float8_e4m3fn)}
        st.save_file(sd, p)
        r = run([TOOL, "bench", p, "5"], env={"OMP_NUM_THREADS": "1"})
        if r.returncode != 0:
            return [f"bench failed: {r.stderr.strip()}"]
        ours = json.loads(r.stdout)
        torch.set_num_threads(1)
        best = 1e30
        for _ in range(5):
            t0 = time.perf_counter()
            with safe_open(p, "pt") as f:
                for k in f.keys():
                    f.get_tensor(k).float()
            best = min(best, time.perf_counter() - t0)
        a, b = ours["elements"] / ours["seconds"] / 1e6, 3 * n / best / 1e6
        print(f"# read {3 * n} BF16/F16/F8 elements to FP32, 1 thread, warm cache: deepc {a:.0f} M/s, "
              f"safetensors+torch {b:.0f} M/s, ratio {a / b:.1f}x")
    return []


def config_dense_model_in_transformers():
    """n_routed_experts null: deepc's rewrite makes every layer dense in transformers' model too."""
    errs = []
    with tempfile.TemporaryDirectory() as tmp:
        src = {"model_type": "deepseek_v3", "vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 3,
               "num_attention_heads": 2, "intermediate_size": 40, "q_lora_rank": None, "kv_lora_rank": 16,
               "qk_nope_head_dim": 8, "qk_rope_head_dim": 4, "v_head_dim": 8, "n_routed_experts": None,
               "first_k_dense_replace": 1, "num_nextn_predict_layers": 0}
        p = os.path.join(tmp, "in.json")
        json.dump(src, open(p, "w"))
        d = os.path.join(tmp, "out")
        os.mkdir(d)
        tool("config", p, os.path.join(d, "config.json"))
        hf = AutoConfig.from_pretrained(d)
        with torch.device("meta"):
            m = transformers.DeepseekV3ForCausalLM(hf)
        kinds = [type(layer.mlp).__name__ for layer in m.model.layers]
        if any("MoE" in k for k in kinds):
            errs.append(f"layers in transformers: {kinds}")
        if fields_of(os.path.join(d, "config.json"), tmp)["moe_layers"] != [False] * 3:
            errs.append("deepc sees MoE layers")
    return errs


def config_unsupported_refused():
    errs = []
    bad = [("hidden_act", DeepseekV3Config(hidden_act="gelu")),
           ("attention_bias", DeepseekV3Config(attention_bias=True)),
           ("n_group", DeepseekV3Config(n_routed_experts=10, n_group=4)),
           ("num_experts_per_tok", DeepseekV3Config(n_routed_experts=4, n_group=1, topk_group=1, num_experts_per_tok=5)),
           ("rope_parameters", DeepseekV3Config(rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 1e4})),
           ("topk_method", DeepseekV2Config(num_experts_per_tok=2, topk_method="sinkhorn")),
           ("rope_interleave", DeepseekV3Config(rope_interleave=False)),
           # DeepseekV2Config()'s default num_experts_per_tok is None: no routing is defined
           ("num_experts_per_tok", DeepseekV2Config())]
    for key, cfg in bad:
        with tempfile.TemporaryDirectory() as tmp:
            cfg.save_pretrained(tmp)
            p = os.path.join(tmp, "config.json")
            r = tool("fields", p, os.path.join(tmp, "f.json"), check=False)
            if r.returncode == 0:
                errs.append(f"{key}: accepted")
            elif key not in r.stderr or "config.json" not in r.stderr:
                errs.append(f"{key}: message must name the key and file: {r.stderr.strip()!r}")
    return errs


if __name__ == "__main__":
    ensure_tool()
    for t in [st_ours_load_in_python, st_ours_sharded_load_in_python, st_python_files_load_in_ours,
              st_python_sharded_folder_loads_in_ours, st_corrupt_python_file_refused, st_read_speed_measured,
              config_presets_load_in_transformers, config_transformers_written_read_by_ours,
              config_dense_model_in_transformers, config_unsupported_refused]:
        run_test(t)
    finish()
