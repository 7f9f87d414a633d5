#!/usr/bin/env python3
"""FP8 codec and block quantization (kernels/fp8) against PyTorch float8_e4m3fn / float8_e5m2.

Drives build/tests/tool_fp8 (built by `make test`). Fresh random seed each run (printed).
Our encoders saturate, so the reference is torch's cast of x.clamp(-max, max)."""
from harness import need_program, report, run, run_script, seed, tool_path

import numpy as np
import torch

TOOL = tool_path("fp8", env="TOOL_FP8")

def tool(args, data=b""):
    return run([TOOL, *args], input=data, text=False, timeout=120, check=True).stdout

def bits_equal(a, b):
    """float32 arrays equal bit for bit, except that any NaN equals any NaN."""
    a = np.asarray(a, np.float32); b = np.asarray(b, np.float32)
    both_nan = np.isnan(a) & np.isnan(b)
    return (both_nan | (a.view(np.uint32) == b.view(np.uint32))).all()

def torch_codes(x, dtype, vmax):
    t = torch.from_numpy(x).clamp(-vmax, vmax).to(dtype)
    return t.view(torch.uint8).numpy()

def test_decode_all_codes():
    out = np.frombuffer(tool(["decode"]), np.float32).reshape(5, 256)
    codes = torch.arange(256, dtype=torch.uint8)
    ref4 = codes.view(torch.float8_e4m3fn).float().numpy()
    ref5 = codes.view(torch.float8_e5m2).float().numpy()
    report("fp8_e4m3_decode_all_256_codes", bits_equal(out[0], ref4), f"mismatch at {np.nonzero(~((out[0]==ref4)|np.isnan(ref4)))[0][:8]}")
    report("fp8_e4m3_table_all_256_codes", bits_equal(out[1], ref4))
    report("fp8_e4m3_decode_row_all_256_codes", bits_equal(out[2], ref4))
    report("fp8_e5m2_decode_all_256_codes", bits_equal(out[3], ref5), f"mismatch at {np.nonzero(~((out[3]==ref5)|np.isnan(ref5)))[0][:8]}")
    report("fp8_e5m2_table_all_256_codes", bits_equal(out[4], ref5))

def grid_with_ties(dtype):
    """Every finite value of the format, every midpoint (tie) between neighbours, and points just beside them."""
    vals = torch.arange(256, dtype=torch.uint8).view(dtype).float().numpy()
    vals = np.unique(vals[np.isfinite(vals)]).astype(np.float64)
    mids = (vals[:-1] + vals[1:]) / 2                                # exact in float32
    pts = np.concatenate([vals, mids]).astype(np.float32)
    up = np.nextafter(pts, np.float32(np.inf)); dn = np.nextafter(pts, np.float32(-np.inf))
    return np.concatenate([pts, up, dn])

def test_encode(rng):
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 448, 464, 464.0001, 479.99, 480, 1e6, -1e6,
                         57344, 61440, 61439.99, 65536, 1e30, -1e30, 2.0**-9 / 2, 2.0**-10, 2.0**-16 / 2, 1e-45, 3.4e38],
                        np.float32)
    randn = (rng.standard_normal(200000) * np.exp(rng.uniform(-25, 14, 200000))).astype(np.float32)
    rbits = rng.integers(0, 2**32, 100000, dtype=np.uint64).astype(np.uint32).view(np.float32)   # any bit pattern
    x = np.concatenate([specials, grid_with_ties(torch.float8_e4m3fn), grid_with_ties(torch.float8_e5m2), randn, rbits])
    n = len(x)
    out = np.frombuffer(tool(["encode"], x.tobytes()), np.uint8).reshape(3, n)
    ref4 = torch_codes(x, torch.float8_e4m3fn, 448.0)
    ref5 = torch_codes(x, torch.float8_e5m2, 57344.0)
    # torch gives NaN with the input's sign bit; so do we (0x7f | sign)
    for name, got, ref in (("fp8_e4m3_encode_scalar_vs_torch", out[0], ref4), ("fp8_e4m3_encode_row_vs_torch", out[1], ref4),
                           ("fp8_e5m2_encode_scalar_vs_torch", out[2], ref5)):
        bad = np.nonzero(got != ref)[0]
        report(name + f"_{n}_values", len(bad) == 0,
               f"{len(bad)} mismatches, first: " + ", ".join(f"x={x[i]!r} got 0x{got[i]:02x} want 0x{ref[i]:02x}" for i in bad[:5]))
    # round-trip bound: |decode(encode(x)) - x| <= half an ulp = 2^-4 relative (E4M3) for normal in-range values
    y = torch.from_numpy(out[0].copy()).view(torch.float8_e4m3fn).float().numpy()
    m = np.isfinite(x) & (np.abs(x) >= 2.0**-6) & (np.abs(x) <= 448)
    rel = np.abs(y[m].astype(np.float64) - x[m]) / np.abs(x[m])
    report("fp8_e4m3_roundtrip_rel_err_le_1_16", rel.max() <= 2.0**-4, f"max rel err {rel.max()}")

def torch_act_quant(x, ue8m0):
    M, K = x.shape
    Kp = (K + 127) // 128 * 128
    xp = torch.zeros(M, Kp); xp[:, :K] = x
    t = xp.view(M, Kp // 128, 128)
    s = t.abs().amax(-1).clamp(min=1e-4) / 448.0
    if ue8m0:
        s = torch.pow(2.0, torch.ceil(torch.log2(s)))
    q = (t / s[..., None]).to(torch.float8_e4m3fn).view(M, Kp)[:, :K]
    return q.view(torch.uint8).numpy(), s.numpy()

def torch_weight_quant(w, ue8m0):
    R, C = w.shape
    Rp, Cp = (R + 127) // 128 * 128, (C + 127) // 128 * 128
    wp = torch.zeros(Rp, Cp); wp[:R, :C] = w
    t = wp.view(Rp // 128, 128, Cp // 128, 128)
    s = t.abs().amax(dim=(1, 3)).clamp(min=1e-4) / 448.0
    if ue8m0:
        s = torch.pow(2.0, torch.ceil(torch.log2(s)))
    q = (t / s[:, None, :, None]).to(torch.float8_e4m3fn).view(Rp, Cp)[:R, :C]
    return q.view(torch.uint8).numpy(), s.numpy()

def test_block_quant(rng):
    for mode, fn in (("act", torch_act_quant), ("weight", torch_weight_quant)):
        for ue in (0, 1):
            ok, msg = True, ""
            for (R, C) in ((3, 128), (5, 300), (130, 257), (256, 384), (1, 7)):
                x = (rng.standard_normal((R, C)) * np.exp(rng.uniform(-6, 6, (R, 1)))).astype(np.float32)
                x[0, : min(C, 5)] = 0                   # some zeros; an all-zero tile uses the 1e-4 clamp
                if R > 1: x[1, :] = 0
                out = tool([mode, R, C, ue], x.tobytes())
                nq = R * C
                q = np.frombuffer(out[:nq], np.uint8).reshape(R, C)
                s = np.frombuffer(out[nq:], np.float32)
                rq, rs = fn(torch.from_numpy(x), ue)
                if s.size != rs.size or not (s == rs.reshape(-1)).all():
                    ok, msg = False, f"{R}x{C}: scales differ (shape {s.size} vs {rs.shape}) max diff {np.abs(s - rs.reshape(-1)).max() if s.size == rs.size else 'n/a'}"
                    break
                if not (q == rq).all():
                    ok, msg = False, f"{R}x{C}: {(q != rq).sum()} codes differ"
                    break
                # dequantization error bound: |x - q·s| <= s·2^-9·... use half-ulp of E4M3 at the top binade
                deq = torch.from_numpy(q.copy()).view(torch.float8_e4m3fn).float().numpy()
                srow = np.repeat(np.repeat(rs, 128, axis=-1), 1 if mode == "act" else 128, axis=0)[:R, :C]
                err = np.abs(deq * srow - x)
                if not (err <= srow * 16 + 1e-30).all():          # half ulp at 448 is 16 (in units of s)
                    ok, msg = False, f"{R}x{C}: dequant error {err.max()} exceeds bound"
                    break
            report(f"fp8_{mode}_quant_ue8m0_{ue}_vs_torch", ok, msg)

def main():
    if not need_program(TOOL, "fp8_tool_missing"):
        return
    rng = np.random.default_rng(seed())
    test_decode_all_codes()
    test_encode(rng)
    test_block_quant(rng)

run_script(main)
