"""deepc's AdamW step and learning-rate schedules against PyTorch on fresh random
inputs: torch.optim.AdamW (beta 0.9/0.95, eps 1e-8, weight decay 0.1 on one group,
0 on another, one frozen tensor) with clip_grad_norm_, and torch's LinearLR /
CosineAnnealingLR / MultiStepLR / SequentialLR for warm-up + cosine, multi-step
(x0.316 at 80% and 90%) and WSD. Drives build/tests/tool_train."""
import os, struct

from harness import finish, need_program, report, run, seed, temp_dir, tool_path

import numpy as np
import torch

TOOL = tool_path("train")
rng = np.random.default_rng(seed())

def adamw_case(name, n1, n2, n3, steps, lr, clip, gscale):
    n = n1 + n2 + n3
    p = rng.standard_normal(n).astype(np.float32)
    g = (rng.standard_normal((steps, n)) * gscale).astype(np.float32)
    with temp_dir("deepc_train_ref_") as d:
        fi, fo = os.path.join(d, "in"), os.path.join(d, "out")
        with open(fi, "wb") as f:
            f.write(struct.pack("<4i2d", n1, n2, n3, steps, lr, clip))
            f.write(p.tobytes()); f.write(g.tobytes())
        run([TOOL, "adamw", fi, fo], check=True)
        raw = open(fo, "rb").read()
    got = np.frombuffer(raw[: 4 * n], dtype=np.float32)
    norms = np.frombuffer(raw[4 * n :], dtype=np.float64)
    t = [torch.tensor(p[:n1].copy(), requires_grad=True), torch.tensor(p[n1 : n1 + n2].copy(), requires_grad=True)]
    frozen = p[n1 + n2 :].copy()
    opt = torch.optim.AdamW([{"params": [t[0]], "weight_decay": 0.1}, {"params": [t[1]], "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95), eps=1e-8, foreach=False)
    ref_norms = []
    for s in range(steps):
        t[0].grad = torch.tensor(g[s, :n1].copy()); t[1].grad = torch.tensor(g[s, n1 : n1 + n2].copy())
        ref_norms.append(float(torch.nn.utils.clip_grad_norm_(t, clip if clip > 0 else float("inf"))))
        opt.step()
    ref = np.concatenate([t[0].detach().numpy(), t[1].detach().numpy(), frozen])
    err = np.abs(got - ref).max() / np.abs(ref).max()
    nerr = np.abs(norms - np.array(ref_norms)).max() / max(ref_norms)
    report(name, err < 2e-6 and nerr < 1e-5 and np.array_equal(got[n1 + n2 :], frozen),
           f"param rel err {err:.3g}, grad-norm rel err {nerr:.3g}")

if not need_program(TOOL, "tool_train_missing"):
    finish()
adamw_case("adamw_matches_torch_clipped", 1000, 37, 11, 7, 3e-3, 1.0, 1.0)
adamw_case("adamw_matches_torch_unclipped", 513, 64, 5, 5, 1e-2, 1.0, 0.001)
adamw_case("adamw_matches_torch_no_clip", 300, 30, 3, 4, 1e-3, 0.0, 5.0)

def lrs(kind, lr, warm, total):
    out = run([TOOL, "schedule", kind, lr, warm, total], check=True)
    return np.array([float(x) for x in out.stdout.split()])

def torch_lrs(make, lr, total):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    sch = make(opt)
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"]); opt.step(); sch.step()
    return np.array(out)

L = torch.optim.lr_scheduler
lr, warm, total = float(rng.uniform(1e-4, 1e-2)), int(rng.integers(2, 20)), int(rng.integers(100, 400))
ours = lrs("cosine", lr, warm, total)
ref = torch_lrs(lambda o: L.SequentialLR(o, [L.LinearLR(o, 1 / warm, 1.0, warm - 1), L.CosineAnnealingLR(o, total - warm, lr * 0.1)], [warm]), lr, total)
report("cosine_matches_torch", np.abs(ours - ref).max() / lr < 1e-6, f"max diff {np.abs(ours - ref).max() / lr:.3g} of lr")
total = 10 * int(rng.integers(10, 40))
ours = lrs("multistep", lr, warm, total)
ref = torch_lrs(lambda o: L.SequentialLR(o, [L.LinearLR(o, 1 / warm, 1.0, warm - 1),
                L.MultiStepLR(o, [int(0.8 * total) - warm, int(0.9 * total) - warm], 0.316)], [warm]), lr, total)
report("multistep_matches_torch", np.abs(ours - ref).max() / lr < 1e-6, f"max diff {np.abs(ours - ref).max() / lr:.3g} of lr")
ours = lrs("wsd", lr, warm, total)
ref = torch_lrs(lambda o: L.SequentialLR(o, [L.LinearLR(o, 1 / warm, 1.0, warm - 1), L.ConstantLR(o, 1.0, 0),
                L.LinearLR(o, 1.0, 0.1, int(0.2 * total))], [warm, int(0.8 * total)]), lr, total)
report("wsd_matches_torch", np.abs(ours - ref).max() / lr < 1e-6, f"max diff {np.abs(ours - ref).max() / lr:.3g} of lr")

# A checkpoint folder written by `deepc pretrain` loads in transformers with every main-model tensor.
with temp_dir("deepc_train_ref_") as d:
    out = run([TOOL, "run", d], check=True).stdout.split()
    ck = out[0]
    from transformers import AutoModelForCausalLM
    model, info = AutoModelForCausalLM.from_pretrained(ck, output_loading_info=True, torch_dtype=torch.float32)
    missing = sorted(info.get("missing_keys", []))
    x = torch.randint(1, 96, (1, 24))
    with torch.no_grad():
        logits = model(input_ids=x).logits
    names = set(os.listdir(ck))
    report("checkpoint_loads_in_transformers", not missing and torch.isfinite(logits).all().item() and
           {"optimizer.safetensors", "trainer_state.json", "config.json", "model.safetensors"} <= names,
           f"missing {missing[:5]}, files {sorted(names)}")
finish()
