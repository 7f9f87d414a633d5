"""Sampler vs Hugging Face's logits processors (RepetitionPenalty → Temperature →
TopK → TopP → MinP, the order `generate` applies them): the distribution our
sampler draws from must equal softmax of HF's filtered scores, on fresh random
logits and settings each run."""
import os, subprocess, sys, tempfile, time
os.environ.setdefault("OMP_WAIT_POLICY", "passive")   # shared machines: no spinning OpenMP threads
import numpy as np
import torch
from transformers.generation.logits_process import (MinPLogitsWarper, RepetitionPenaltyLogitsProcessor,
                                                    TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "build", "tests", "tool_infer")
SEED = int(os.environ.get("SEED", time.time_ns() % 2**31))
rng = np.random.default_rng(SEED)
failures = 0


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
    global failures
    print(f"# seed {SEED}")
    tmp = tempfile.mkdtemp(prefix="deepc_sampler_")
    cases = [(0, 0, 1.0, 0.0, 1.0), (1.0, 0, 1.0, 0.0, 1.0), (0.7, 5, 1.0, 0.0, 1.0), (1.3, 0, 0.9, 0.0, 1.0),
             (1.0, 0, 1.0, 0.1, 1.0), (0.8, 20, 0.8, 0.05, 1.3), (0, 0, 1.0, 0.0, 1.5), (1.0, 0, 0.5, 0.0, 0.8)]
    for _ in range(6):
        cases.append((float(rng.uniform(0.3, 2)), int(rng.integers(0, 40)), float(rng.uniform(0.3, 1.0)),
                      float(rng.choice([0, rng.uniform(0, 0.3)])), float(rng.choice([1.0, rng.uniform(1, 2)]))))
    for ci, (T, k, p, mp, rep) in enumerate(cases):
        V = int(rng.integers(10, 300))
        logits = (rng.standard_normal(V) * rng.uniform(0.5, 4)).astype(np.float32)
        hist = [int(x) for x in rng.integers(0, V, int(rng.integers(0, 12)))]
        lf, of = os.path.join(tmp, "l.f32"), os.path.join(tmp, "o.f32")
        logits.tofile(lf)
        r = subprocess.run([TOOL, "sample", lf, of, str(V), repr(T), str(k), repr(p), repr(mp), repr(rep),
                            ",".join(map(str, hist)) or "-"], capture_output=True, text=True)
        name = f"sampler_case{ci}_T{T:.2f}_k{k}_p{p:.2f}_minp{mp:.2f}_rep{rep:.2f}"
        if r.returncode != 0:
            print(f"FAIL {name}  tool failed: {r.stderr.strip()}")
            failures += 1
            continue
        got = np.fromfile(of, dtype=np.float32)
        ref = hf_dist(logits, hist, T, k, p, mp, rep)
        same_support = np.array_equal(got > 0, ref > 0)
        err = float(np.max(np.abs(got - ref)))
        ok = same_support and err < 1e-5
        print(("PASS " if ok else "FAIL ") + name + ("" if ok else f"  support equal {same_support}, max abs err {err:.3g}"))
        failures += 0 if ok else 1
    return failures


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
