// scale.h — one size knob (like nanochat's depth): from the number of layers L
// follow width, heads, experts, expert width, learning rate, batch, sequence
// length and the training horizon, so that models of every size are built by
// one rule. The presets "small" and "base" of config.h are depths 4 and 12 of
// this rule; "tiny" is a hand-made narrower shape (D 128 with 4 layers) for 2 cores.
#pragma once
#include <stdint.h>
#include "model/config.h"

typedef struct {
    int depth;            // L
    int seq;              // T
    int batch;            // B sequences per optimizer step (before accumulation split)
    double lr;            // peak AdamW learning rate
    int64_t steps;        // horizon: data:active-parameter ratio 20 (Chinchilla)
    int64_t warmup;       // warm-up steps
} ScaleHparams;

// Model shape for depth L (1..64) and vocabulary V:
//   D = 64·L, H = L, MLA (q rank D/2, kv rank min(D/2, 256), head dims 64/32/64 from D 256, else 32/16/32),
//   E = 8 / 16 / 32 routed experts (L <= 2 / <= 8 / more) with K = 2 / 4 / 6 active and S = 1 / 2 / 2 shared,
//   expert width D (2D/3 from L 9), dense width 4D (8D/3 from L 9), layer 0 dense from L >= 2,
//   sigmoid scores with the aux-free correction bias (noaux_tc), one MTP layer.
int scale_config(int depth, int vocab, Config *c);
// Depth of a preset name ("small" 4, "base" 12); -1 if the preset is not on the rule.
int scale_preset_depth(const char *preset);
// Training hyper-parameters for a model shape (works for presets and loaded configs too):
//   T = 256 (D <= 256), 512 (D <= 512), 1024 above; B = max(4, D/16);
//   lr = 3e-3·sqrt(128/D); steps = 20·active parameters / (B·T); warm-up = steps/20 (<= 1000).
void scale_hparams(const Config *c, ScaleHparams *h);
// The dense ablation on equal active compute: every layer becomes a dense SwiGLU
// of one width, the mean over layers of the active FFN widths ((K + S)·expert
// width in MoE layers), so total active FLOPs match up to the router.
void scale_dense_equivalent(const Config *moe, Config *dense);
