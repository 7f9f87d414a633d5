#!/usr/bin/env python3
"""kernels/bf16 and kernels/quant against independent references: numpy float16 and torch bfloat16
conversions (every 16-bit code and random floats incl. ties, overflow, subnormals), and the int8/int4
block layouts of docs/formats.md re-derived with numpy. Drives build/tests/tool_fp8; fresh seed."""
from harness import need_program, report, run, run_script, seed, tool_path

import numpy as np
import torch

TOOL = tool_path("fp8", env="TOOL_FP8")

def tool(args, data=b""):
    return run([TOOL, *args], input=data, text=False, timeout=120, check=True).stdout

def same_float(a, b):
    return (np.isnan(a) & np.isnan(b)) | (a.view(np.uint32) == b.view(np.uint32))

def test_half(rng):
    # every f16 value and tie, bf16 ties, random bit patterns, overflow/underflow edges
    f16_all = np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float64)
    f16_fin = np.unique(f16_all[np.isfinite(f16_all)])
    mids = ((f16_fin[:-1] + f16_fin[1:]) / 2).astype(np.float32)
    bits = rng.integers(0, 2**32, 200000, dtype=np.uint64).astype(np.uint32)
    near = (bits & np.uint32(0x80FFFFFF)) | (rng.integers(96, 144, 200000).astype(np.uint32) << np.uint32(23))
    ties_bf = ((bits & np.uint32(0xFFFF0000)) | np.uint32(0x8000)).view(np.float32)       # exact bf16 ties
    x = np.concatenate([np.array([0, -0.0, np.inf, -np.inf, np.nan, 65504, 65519.99, 65520, 2**-24, 2**-25, 1.5 * 2**-25, 3.4e38],
                                 np.float32), f16_fin.astype(np.float32), mids, bits.view(np.float32), near.view(np.float32), ties_bf])
    n = len(x)
    out = tool(["half"], x.tobytes())
    h = np.frombuffer(out[: 8 * n], np.uint16).reshape(4, n)
    with np.errstate(over="ignore"):
        ref16 = x.astype(np.float16).view(np.uint16)
    refbf = torch.from_numpy(x.copy()).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    fin = ~np.isnan(x)
    for name, got, ref in (("f16_encode_scalar_vs_numpy", h[0], ref16), ("f16_encode_row_vs_numpy", h[1], ref16),
                           ("bf16_encode_scalar_vs_torch", h[2], refbf), ("bf16_encode_row_vs_torch", h[3], refbf)):
        bad = np.nonzero((got != ref) & fin)[0]
        if "f16" in name:
            nan_ok = np.isnan(got[~fin].view(np.float16)).all()
        else:
            nan_ok = np.isnan(torch.from_numpy(got[~fin].view(np.int16).copy()).view(torch.bfloat16).float().numpy()).all()
        report(f"{name}_{n}_values", len(bad) == 0 and nan_ok,
               f"{len(bad)} mismatches, first: " + ", ".join(f"x={x[i]!r} got 0x{got[i]:04x} want 0x{ref[i]:04x}" for i in bad[:4]))
    dec = np.frombuffer(out[8 * n:], np.float32).reshape(4, 65536)
    codes = np.arange(65536, dtype=np.uint16)
    ref_f16 = codes.view(np.float16).astype(np.float32)
    ref_bf = torch.from_numpy(codes.view(np.int16).copy()).view(torch.bfloat16).float().numpy()
    report("f16_decode_all_65536_codes_vs_numpy", same_float(dec[0], ref_f16).all() and same_float(dec[1], ref_f16).all())
    report("bf16_decode_all_65536_codes_vs_torch", same_float(dec[2], ref_bf).all() and same_float(dec[3], ref_bf).all())

def np_q8(x):
    R, C = x.shape
    b = x.reshape(R, C // 32, 32)
    d16 = (np.abs(b).max(-1) / np.float32(127)).astype(np.float16)
    d = d16.astype(np.float32)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(d > 0, np.clip(np.rint(b / d), -127, 127), 0).astype(np.int8)
    return q.reshape(R, C), d16

def np_q4(x):
    R, C = x.shape
    b = x.reshape(R, C // 32, 32)
    idx = np.abs(b).argmax(-1)
    m = np.take_along_axis(b, idx[..., None], -1)[..., 0]
    d16 = np.where(np.abs(m) > 0, m / np.float32(-8), np.float32(0)).astype(np.float16)   # all-zero block: d = +0
    d = d16.astype(np.float32)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        nib = (np.where(d != 0, np.clip(np.rint(b / d), -8, 7), 0) + 8).astype(np.uint8)
    packed = nib[..., :16] | (nib[..., 16:] << 4)
    return packed.reshape(R, C // 2), d16

def test_int_layouts(rng):
    for name, fn, mode in (("q8", np_q8, "q8"), ("q4", np_q4, "q4")):
        ok, msg = True, ""
        for (R, C) in ((1, 32), (7, 96), (33, 2048)):
            x = (rng.standard_normal((R, C)) * np.exp(rng.uniform(-8, 3, (R, 1)))).astype(np.float32)
            x[0, :32] = 0                                        # an all-zero block
            if C >= 64:
                x[0, 32:64] = np.round(x[0, 32:64] * 4) / 4      # many exact ties
            out = tool([mode, R, C], x.tobytes())
            nq = R * C if mode == "q8" else R * C // 2
            q = np.frombuffer(out[:nq], np.int8 if mode == "q8" else np.uint8).reshape(R, -1)
            d = np.frombuffer(out[nq:], np.float16).reshape(R, C // 32)
            rq, rd = fn(x)
            if not (d.view(np.uint16) == rd.reshape(R, -1).view(np.uint16)).all():
                ok, msg = False, f"{R}x{C}: scales differ at {np.argwhere(d.view(np.uint16) != rd.view(np.uint16))[:3].tolist()}"
                break
            if not (q == rq).all():
                ok, msg = False, f"{R}x{C}: {(q != rq).sum()} code bytes differ"
                break
        report(f"{name}_layout_vs_numpy_from_docs", ok, msg)

def main():
    if not need_program(TOOL, "quant_tool_missing"):
        return
    rng = np.random.default_rng(seed())
    test_half(rng)
    test_int_layouts(rng)

run_script(main)
