"""deepseek_ref.py — a small PyTorch implementation of the DeepSeek-V2/V3 math, written
from the project's specification (shared docs, reference/deepseek-spec.md, §1-5, §12),
for the pieces transformers does not implement: the multi-token-prediction (MTP)
modules and the sequence-wise balance loss. The rest (MLA, RoPE/YaRN, dense SwiGLU,
DeepSeekMoE routing) is written here too so the whole step is one autograd graph;
tests/ref/test_model_ref.py checks that this part reproduces transformers' logits and
gradients before it trusts the MTP and balance-loss parts.

Conventions (the spec leaves these to us; deepc follows the same, see model.h):
  * Parameters: a dict of Hugging Face tensor names -> tensors, routed experts stored
    per expert ("model.layers.{l}.mlp.experts.{e}.gate_proj.weight", ...).
  * MoE layer l: E > 0 and l >= first_k_dense_replace and l % moe_layer_freq == 0
    (spec §3.6); the same rule for MTP layers with their index L+k-1.
  * Routing (spec §3.2): sigmoid + e_score_correction_bias for selection only, groups
    ranked by the sum of their top-2 biased scores, non-selected groups masked with
    -inf (topk_method noaux_tc); softmax with "greedy" or "group_limited_greedy"
    (group score = max). Gates = unbiased scores of the selected experts,
    renormalized when norm_topk_prob, times routed_scaling_factor.
  * Balance loss (spec §3.4): per MoE layer and sequence, sum_i f_i P_i with
    f_i = E/(K*T) * #{t: i selected at t} from the actually selected (biased) top-K,
    P_i = mean_t s'_{i,t}, s' = s / sum_j s_j for sigmoid scores and s itself for
    softmax scores; mean over the B sequences; summed over all MoE layers, the MTP
    layers included (their T is the depth-k length T-k). Only P carries gradient.
  * MTP (spec §5): depth k input [enorm(Emb(tokens[:, i+k])) ; hnorm(h^{k-1}_i)]
    (embedding first, as the serving code), eh_proj [D, 2D], one decoder layer (index
    L+k-1) with causal attention and RoPE positions 0..T-k-1, then shared_head.norm and
    the shared lm_head. h^0 is the main model's final-normed hidden state, h^k the MTP
    layer output before shared_head.norm. Depth k predicts targets[:, i+k] at position
    i (targets are already shifted by one). mtp_loss = mean over depths of the mean CE;
    total = loss + lambda * mtp_loss + alpha * balance_loss.
  * Cross-entropy: mean over targets >= 0 (any negative target is ignored).
"""
import math

import torch
import torch.nn.functional as F


class RefConfig:
    """The keys of a Hugging Face config.json (dict) that change the math."""

    def __init__(self, j):
        mt = j.get("model_type")
        if mt not in ("deepseek_v3", "deepseek_v2"):
            raise ValueError(f"model_type {mt!r}: expected deepseek_v3 or deepseek_v2")
        self.v3 = mt == "deepseek_v3"
        self.V = j["vocab_size"]
        self.D = j["hidden_size"]
        self.I = j["intermediate_size"]
        self.Im = j.get("moe_intermediate_size", 0)
        self.L = j["num_hidden_layers"]
        self.H = j["num_attention_heads"]
        self.rq = j.get("q_lora_rank") or 0
        self.rkv = j["kv_lora_rank"]
        self.dn = j["qk_nope_head_dim"]
        self.dr = j["qk_rope_head_dim"]
        self.dv = j["v_head_dim"]
        self.E = j.get("n_routed_experts") or 0
        self.S = j.get("n_shared_experts") or 0
        self.K = j.get("num_experts_per_tok") or 0
        self.n_group = j.get("n_group") or 1
        self.topk_group = j.get("topk_group") or 1
        # transformers' V3 hard-codes sigmoid + bias + group top-2 (spec §7.5); V2 is softmax.
        self.topk_method = j.get("topk_method") or ("noaux_tc" if self.v3 else "greedy")
        self.scoring = j.get("scoring_func") or ("sigmoid" if self.v3 else "softmax")
        self.norm_topk_prob = bool(j.get("norm_topk_prob", self.v3))
        self.rsf = float(j.get("routed_scaling_factor", 1.0))
        self.first_k_dense = j.get("first_k_dense_replace") or 0
        self.moe_freq = j.get("moe_layer_freq") or 1
        self.eps = float(j.get("rms_norm_eps", 1e-6))
        self.n_mtp = j.get("num_nextn_predict_layers") or 0
        self.tie = bool(j.get("tie_word_embeddings", False))
        rp = j.get("rope_parameters")
        if rp is None:  # older config.json layout
            rp = dict(j.get("rope_scaling") or {})
            rp["rope_theta"] = j.get("rope_theta", 10000.0)
        self.theta = float(rp.get("rope_theta", j.get("rope_theta", 10000.0)))
        rtype = rp.get("rope_type", rp.get("type", "default"))
        self.yarn = rtype == "yarn"
        if rtype not in ("default", "yarn"):
            raise ValueError(f"rope type {rtype!r}: only default and yarn")
        self.factor = float(rp.get("factor", 1.0))
        self.beta_fast = float(rp.get("beta_fast") or 32)
        self.beta_slow = float(rp.get("beta_slow") or 1)
        self.mscale = rp.get("mscale")
        self.mscale_all_dim = rp.get("mscale_all_dim")
        self.orig_max = rp.get("original_max_position_embeddings", j.get("max_position_embeddings"))

    def is_moe(self, layer):
        return self.E > 0 and layer >= self.first_k_dense and layer % self.moe_freq == 0


def rms_norm(x, w, eps):
    x32 = x.float()
    return w * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps))


def _yarn_m(scale, mscale):
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def rope_tables(c, T):
    """cos, sin [T, dr/2] for positions 0..T-1 (spec §4), YaRN frequencies when configured."""
    dim = c.dr
    i = torch.arange(0, dim, 2, dtype=torch.float64)
    f = 1.0 / (c.theta ** (i / dim))                                   # [dr/2]
    mag = 1.0
    if c.yarn:
        def corr(r):
            return dim * math.log(c.orig_max / (r * 2 * math.pi)) / (2 * math.log(c.theta))
        low = max(math.floor(corr(c.beta_fast)), 0)
        high = min(math.ceil(corr(c.beta_slow)), dim - 1)
        if low == high:
            high += 0.001
        ramp = ((torch.arange(dim // 2, dtype=torch.float64) - low) / (high - low)).clamp(0, 1)
        f = (f / c.factor) * ramp + f * (1 - ramp)
        if c.mscale and c.mscale_all_dim:
            mag = _yarn_m(c.factor, c.mscale) / _yarn_m(c.factor, c.mscale_all_dim)
    f = f.float()  # transformers keeps the frequencies in FP32
    ang = torch.arange(T, dtype=torch.float32)[:, None] * f[None, :]
    return ang.cos() * mag, ang.sin() * mag


def softmax_scale(c):
    s = (c.dn + c.dr) ** -0.5
    if c.yarn and c.mscale_all_dim:
        m = _yarn_m(c.factor, c.mscale_all_dim)
        s = s * m * m
    return s


def rope_interleaved(x, cos, sin):
    """Rotate pairs (x[2i], x[2i+1]) by the angle of pair i; x [..., T, dr], cos/sin [T, dr/2]."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    y1 = x1 * cos - x2 * sin
    y2 = x1 * sin + x2 * cos
    return torch.stack([y1, y2], dim=-1).flatten(-2)


def mla(c, p, pre, x, cos, sin):
    """Multi-head latent attention (spec §2.2), causal; x [B, T, D] -> [B, T, D]."""
    B, T, _ = x.shape
    H, dn, dr, dv = c.H, c.dn, c.dr, c.dv
    if c.rq > 0:
        q = rms_norm(x @ p[pre + "q_a_proj.weight"].T, p[pre + "q_a_layernorm.weight"], c.eps)
        q = q @ p[pre + "q_b_proj.weight"].T
    else:
        q = x @ p[pre + "q_proj.weight"].T
    q = q.view(B, T, H, dn + dr).transpose(1, 2)                        # [B, H, T, dqk]
    q_nope, q_pe = q[..., :dn], q[..., dn:]
    kva = x @ p[pre + "kv_a_proj_with_mqa.weight"].T                    # [B, T, rkv + dr]
    ckv = rms_norm(kva[..., :c.rkv], p[pre + "kv_a_layernorm.weight"], c.eps)
    k_pe = kva[..., c.rkv:]                                             # [B, T, dr], shared by heads
    q_pe = rope_interleaved(q_pe, cos, sin)
    k_pe = rope_interleaved(k_pe, cos, sin)[:, None]                    # [B, 1, T, dr]
    kv = (ckv @ p[pre + "kv_b_proj.weight"].T).view(B, T, H, dn + dv).transpose(1, 2)
    k_nope, v = kv[..., :dn], kv[..., dn:]                              # [B, H, T, dn], [B, H, T, dv]
    qh = torch.cat([q_nope, q_pe], -1)
    kh = torch.cat([k_nope, k_pe.expand(B, H, T, dr)], -1)
    sc = (qh @ kh.transpose(-1, -2)) * softmax_scale(c)                 # [B, H, T, T]
    mask = torch.ones(T, T, dtype=torch.bool).triu(1)
    sc = sc.masked_fill(mask, float("-inf"))
    o = sc.softmax(-1) @ v                                              # [B, H, T, dv]
    o = o.transpose(1, 2).reshape(B, T, H * dv)
    return o @ p[pre + "o_proj.weight"].T


def swiglu(x, wg, wu, wd):
    return (F.silu(x @ wg.T) * (x @ wu.T)) @ wd.T


def route_margin(c, z, bias):
    """Smallest decision margin of the router over tokens (no grad): the gap between the
    last kept and first dropped group score, and between the K-th and (K+1)-th allowed
    selection score. Tiny margins mean an implementation could flip the choice."""
    with torch.no_grad():
        z = z.float()
        if c.scoring == "softmax":
            # softmax keeps the order of the logits: measure there, relative to the logit size
            # (saturated probabilities would show huge logit gaps as tiny probability gaps)
            sel = z / z.abs().amax(-1, keepdim=True).clamp(min=1.0)
        else:
            sel = z.sigmoid()
            if bias is not None and c.topk_method == "noaux_tc":
                sel = sel + bias
        N, E = sel.shape
        margin = torch.full((N,), float("inf"))
        grouped = c.topk_method in ("noaux_tc", "group_limited_greedy") and c.n_group > 1
        if grouped:
            g = sel.view(N, c.n_group, E // c.n_group)
            gs = g.topk(2, -1)[0].sum(-1) if c.topk_method == "noaux_tc" else g.max(-1).values
            if c.topk_group < c.n_group:
                srt = gs.sort(-1, descending=True).values
                margin = torch.minimum(margin, srt[:, c.topk_group - 1] - srt[:, c.topk_group])
            keep = torch.zeros_like(gs, dtype=torch.bool)
            keep.scatter_(1, gs.topk(c.topk_group, -1)[1], True)
            sel = sel.masked_fill(~keep.repeat_interleave(E // c.n_group, 1), float("-inf"))
        srt = sel.sort(-1, descending=True).values
        if c.K < E and torch.isfinite(srt[:, c.K]).all():
            margin = torch.minimum(margin, srt[:, c.K - 1] - srt[:, c.K])
        return float(margin.min())


def zero_mask_flips(c, z, bias):
    """How many tokens would select other experts if non-selected groups were masked with
    0.0 (transformers' V2 and older remote code) instead of -inf (spec §11 #2)."""
    if not (c.topk_method in ("noaux_tc", "group_limited_greedy") and c.n_group > 1):
        return 0
    with torch.no_grad():
        s = z.float().softmax(-1) if c.scoring == "softmax" else z.float().sigmoid()
        sel = s + bias if (bias is not None and c.topk_method == "noaux_tc") else s
        N, E = sel.shape
        g = sel.view(N, c.n_group, E // c.n_group)
        gs = g.topk(2, -1)[0].sum(-1) if c.topk_method == "noaux_tc" else g.max(-1).values
        keep = torch.zeros_like(gs, dtype=torch.bool)
        keep.scatter_(1, gs.topk(c.topk_group, -1)[1], True)
        keep = keep.repeat_interleave(E // c.n_group, 1)
        a = sel.masked_fill(~keep, float("-inf")).topk(c.K, -1)[1].sort(-1).values
        b = sel.masked_fill(~keep, 0.0).topk(c.K, -1)[1].sort(-1).values
        return int((a != b).any(-1).sum())


def route(c, u, wg, bias):
    """Router (spec §3.2); u [N, D] -> idx [N, K], gates [N, K], scores s [N, E], margin."""
    z = u.float() @ wg.float().T                                        # [N, E]
    s = z.softmax(-1) if c.scoring == "softmax" else z.sigmoid()
    sel = s.detach()
    if c.topk_method == "noaux_tc" and bias is not None:
        sel = sel + bias
    N, E = sel.shape
    if c.topk_method in ("noaux_tc", "group_limited_greedy") and c.n_group > 1:
        g = sel.view(N, c.n_group, E // c.n_group)
        gs = g.topk(2, -1)[0].sum(-1) if c.topk_method == "noaux_tc" else g.max(-1).values
        keep = torch.zeros_like(gs, dtype=torch.bool)
        keep.scatter_(1, gs.topk(c.topk_group, -1)[1], True)
        sel = sel.masked_fill(~keep.repeat_interleave(E // c.n_group, 1), float("-inf"))
    elif c.topk_method not in ("noaux_tc", "greedy", "group_limited_greedy"):
        raise ValueError(f"topk_method {c.topk_method!r}")
    idx = sel.topk(c.K, -1)[1]
    gates = s.gather(1, idx)
    if c.norm_topk_prob:
        gates = gates / (gates.sum(-1, keepdim=True) + 1e-20)
    gates = gates * c.rsf
    return idx, gates, s, route_margin(c, z, bias), zero_mask_flips(c, z, bias)


def moe(c, p, pre, u):
    """DeepSeekMoE FFN (spec §3.1); u [B, T, D] -> y [B, T, D], routing info."""
    B, T, D = u.shape
    x = u.reshape(B * T, D)
    bias = p.get(pre + "gate.e_score_correction_bias")
    idx, gates, s, margin, flips = route(c, x, p[pre + "gate.weight"], bias)
    y = torch.zeros_like(x)
    for e in range(c.E):
        tok, slot = torch.where(idx == e)
        if tok.numel() == 0:
            continue
        ep = f"{pre}experts.{e}."
        out = swiglu(x[tok], p[ep + "gate_proj.weight"], p[ep + "up_proj.weight"], p[ep + "down_proj.weight"])
        y = y.index_add(0, tok, out * gates[tok, slot, None])
    if c.S > 0:
        sp = pre + "shared_experts."
        y = y + swiglu(x, p[sp + "gate_proj.weight"], p[sp + "up_proj.weight"], p[sp + "down_proj.weight"])
    return y.view(B, T, D), {"idx": idx.view(B, T, c.K), "s": s.view(B, T, c.E), "margin": margin,
                             "zero_mask_flips": flips}


def decoder_layer(c, p, layer, h, cos, sin):
    pre = f"model.layers.{layer}."
    h = h + mla(c, p, pre + "self_attn.", rms_norm(h, p[pre + "input_layernorm.weight"], c.eps), cos, sin)
    u = rms_norm(h, p[pre + "post_attention_layernorm.weight"], c.eps)
    info = None
    if c.is_moe(layer):
        y, info = moe(c, p, pre + "mlp.", u)
    else:
        y = swiglu(u, p[pre + "mlp.gate_proj.weight"], p[pre + "mlp.up_proj.weight"], p[pre + "mlp.down_proj.weight"])
    return h + y, info


def cross_entropy(logits, targets):
    """Mean CE over targets >= 0; logits [..., V], targets [...]."""
    t = targets.reshape(-1).long()
    lg = logits.reshape(-1, logits.shape[-1])
    keep = t >= 0
    if not bool(keep.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(lg[keep], t[keep])


def balance_term(c, info):
    """mean over sequences of sum_i f_i P_i for one MoE layer (spec §3.4)."""
    idx, s = info["idx"], info["s"]                                     # [B, T, K], [B, T, E]
    B, T, _ = s.shape
    counts = torch.zeros(B, c.E)
    counts.scatter_add_(1, idx.reshape(B, -1), torch.ones(B, T * c.K))
    f = counts * (c.E / (c.K * T))                                      # [B, E], no gradient
    sn = s / s.sum(-1, keepdim=True) if c.scoring == "sigmoid" else s
    P = sn.mean(1)                                                      # [B, E]
    return (f * P).sum(-1).mean()


def step(c, p, tokens, targets, mtp_lambda=0.0, balance_alpha=0.0):
    """One forward over tokens [B, T] (long) with targets [B, T]; returns a dict with
    logits [B, T, V], loss, mtp_loss, balance_loss, total (tensors with grad),
    expert_load [L + n_mtp, E] (long; MTP rows stay 0 when MTP does not run) and
    min_margin (the router's smallest decision margin, see route_margin) and zero_mask_flips
    (token choices that 0.0 group masking would change, see zero_mask_flips)."""
    B, T = tokens.shape
    cos, sin = rope_tables(c, T)
    emb = p["model.embed_tokens.weight"]
    head = emb if c.tie else p["lm_head.weight"]
    h = emb[tokens]
    load = torch.zeros(c.L + c.n_mtp, max(c.E, 1), dtype=torch.long)
    infos = []
    for layer in range(c.L):
        h, info = decoder_layer(c, p, layer, h, cos, sin)
        if info is not None:
            infos.append(info)
            load[layer] += torch.bincount(info["idx"].reshape(-1), minlength=c.E)
    h = rms_norm(h, p["model.norm.weight"], c.eps)
    logits = h @ head.T
    loss = cross_entropy(logits, targets)
    mtp_loss = logits.sum() * 0.0
    if mtp_lambda != 0 and c.n_mtp > 0:
        hk = h                                                          # h^0: final-normed
        losses = []
        for k in range(1, c.n_mtp + 1):
            layer = c.L + k - 1
            Tk = T - k
            pre = f"model.layers.{layer}."
            e = rms_norm(emb[tokens[:, k:]], p[pre + "enorm.weight"], c.eps)
            hh = rms_norm(hk[:, :Tk], p[pre + "hnorm.weight"], c.eps)
            x = torch.cat([e, hh], -1) @ p[pre + "eh_proj.weight"].T
            hk, info = decoder_layer(c, p, layer, x, cos[:Tk], sin[:Tk])
            if info is not None:
                infos.append(info)
                load[layer] += torch.bincount(info["idx"].reshape(-1), minlength=c.E)
            lk = rms_norm(hk, p[pre + "shared_head.norm.weight"], c.eps) @ head.T
            losses.append(cross_entropy(lk, targets[:, k:]))
        mtp_loss = torch.stack(losses).mean()
    bal = logits.sum() * 0.0
    if balance_alpha != 0:
        for info in infos:
            bal = bal + balance_term(c, info)
    total = loss + mtp_lambda * mtp_loss + balance_alpha * bal
    margin = min([i["margin"] for i in infos], default=float("inf"))
    flips = sum(i["zero_mask_flips"] for i in infos)
    return {"zero_mask_flips": flips, "logits": logits, "loss": loss, "mtp_loss": mtp_loss, "balance_loss": bal, "total": total,
            "expert_load": load if c.E > 0 else None, "min_margin": margin}
