// swiglu.h — h = silu(a) ⊙ b, the gated unit of every DeepSeek FFN and expert.
#pragma once

// h[n] = silu(a[n]) * b[n]
void swiglu_fwd(float *h, const float *a, const float *b, long n);
// da[n] (=) dh ⊙ b ⊙ σ(a)(1 + a(1 − σ(a)));  db[n] (=) dh ⊙ silu(a)   (overwrite);
// h[n] (=) silu(a) ⊙ b as well when h is not NULL (the backward's recomputed forward).
void swiglu_bwd(float *da, float *db, float *h, const float *dh, const float *a, const float *b, long n);
