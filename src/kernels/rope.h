// rope.h — rotary position embedding with interleaved pairs (x[2i], x[2i+1]) as in
// DeepSeek's released weights, with YaRN frequencies (spec §4).
#pragma once

typedef struct {
    int dim;                 // rotated dims (qk_rope_head_dim), even
    float theta;             // rope_theta
    int yarn;                // 0: plain RoPE
    float factor, beta_fast, beta_slow;
    int original_max_pos;
    float attn_factor;       // cos/sin amplitude (1 unless YaRN's mscale ratio says otherwise)
} RopeParams;

// inv_freq[dim/2]: θ^(-2i/dim), YaRN-blended when p->yarn (low/high truncated as HF/DeepSeek).
void rope_inv_freq(const RopeParams *p, float *inv_freq);
// Tables for positions pos[0..n-1]: cos/sin[n, dim/2] (times attn_factor).
void rope_tables(const RopeParams *p, const int *pos, int n, float *cos_t, float *sin_t);
// Rotate x[dim] in place by the table row (cos, sin); inverse rotates by −angle
// (used in backward: the transpose of a rotation).
void rope_rotate(float *x, const float *cos_r, const float *sin_r, int dim, int inverse);
