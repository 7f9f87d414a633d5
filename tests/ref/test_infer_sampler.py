"""Sampler vs Hugging Face's logits processors (RepetitionPenalty → Temperature →
TopK → TopP → MinP, the order `generate` applies them): the distribution our
sampler draws from must equal softmax of HF's filtered scores, on fresh random
logits and settings each run."""
import os

from harness import report, run, run_script, seed, temp_dir, tool_path

import numpy as np
import torch
from transformers.generation.logits_process import (MinPLogitsWarper, RepetitionPenaltyLogitsProcessor,
                                                    TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper)

TOOL = tool_path("infer")
rng = np.random.default_rng(seed())


def hf_dist(logits, hist, T, k, p, mp, rep):
    s = torch.tensor(logits)[None].clone()
    ids = torch.tensor(hist, dtype=torch.long)[None] if hist else torch.zeros((1, 0), dtype=torch.long)
    if rep != 1.0 and hist:
        s = RepetitionPenaltyLogitsProcessor(rep)(ids, s)
    if T == 0:
        out = np.zeros(len(logits), np.float32)
        out[int(s.argmax())] = 1
        return out
    s = TemperatureLogitsWarper(T)(ids, s)
    if k > 0:
        s = TopKLogitsWarper(k)(ids, s)
    if p < 1.0:
        s = TopPLogitsWarper(p)(ids, s)
    if mp > 0:
        s = MinPLogitsWarper(mp)(ids, s)
    return torch.softmax(s.double(), -1)[0].float().numpy()


def main():
    cases = [(0, 0, 1.0, 0.0, 1.0), (1.0, 0, 1.0, 0.0, 1.0), (0.7, 5, 1.0, 0.0, 1.0), (1.3, 0, 0.9, 0.0, 1.0),
             (1.0, 0, 1.0, 0.1, 1.0), (0.8, 20, 0.8, 0.05, 1.3), (0, 0, 1.0, 0.0, 1.5), (1.0, 0, 0.5, 0.0, 0.8)]
    for _ in range(6):
        cases.append((float(rng.uniform(0.3, 2)), int(rng.integers(0, 40)), float(rng.uniform(0.3, 1.0)),
                      float(rng.choice([0, rng.uniform(0, 0.3)])), float(rng.choice([1.0, rng.uniform(1, 2)]))))
    with temp_dir("deepc_sampler_") as tmp:
        for ci, (T, k, p, mp, rep) in enumerate(cases):
            V = int(rng.integers(10, 300))
            logits = (rng.standard_normal(V) * rng.uniform(0.5, 4)).astype(np.float32)
            hist = [int(x) for x in rng.integers(0, V, int(rng.integers(0, 12)))]
            lf, of = os.path.join(tmp, "l.f32"), os.path.join(tmp, "o.f32")
            logits.tofile(lf)
            r = run([TOOL, "sample", lf, of, V, repr(T), k, repr(p), repr(mp), repr(rep), ",".join(map(str, hist)) or "-"])
            name = f"sampler_case{ci}_T{T:.2f}_k{k}_p{p:.2f}_minp{mp:.2f}_rep{rep:.2f}"
            if r.returncode != 0:
                report(name, False, f"tool failed: {r.stderr.strip()}")
                continue
            got = np.fromfile(of, dtype=np.float32)
            ref = hf_dist(logits, hist, T, k, p, mp, rep)
            same_support = np.array_equal(got > 0, ref > 0)
            err = float(np.max(np.abs(got - ref)))
            report(name, same_support and err < 1e-5, f"support equal {same_support}, max abs err {err:.3g}")


if __name__ == "__main__":
    run_script(main)
