// rope.c — interleaved RoPE with YaRN.
#include "kernels/rope.h"
#include <math.h>

static double correction_dim(double rot, int dim, double base, double max_pos) {
    return dim * log(max_pos / (rot * 2 * M_PI)) / (2 * log(base));
}

void rope_inv_freq(const RopeParams *p, float *inv_freq) {
    int half = p->dim / 2;
    double low = 0, high = 0;
    if (p->yarn) {
        low = floor(correction_dim(p->beta_fast, p->dim, p->theta, p->original_max_pos));
        high = ceil(correction_dim(p->beta_slow, p->dim, p->theta, p->original_max_pos));
        if (low < 0) low = 0;
        if (high > p->dim - 1) high = p->dim - 1;
        if (low == high) high += 0.001;
    }
    for (int i = 0; i < half; i++) {
        // same float32 arithmetic order as the reference: 1 / base^(2i/dim)
        float pos_freq = powf(p->theta, (float)(2 * i) / (float)p->dim);
        float extra = 1.0f / pos_freq;
        if (!p->yarn) { inv_freq[i] = extra; continue; }
        float inter = 1.0f / (p->factor * pos_freq);
        float ramp = (float)((i - low) / (high - low));
        if (ramp < 0) ramp = 0;
        if (ramp > 1) ramp = 1;
        float extra_factor = 1.0f - ramp;
        inv_freq[i] = inter * (1 - extra_factor) + extra * extra_factor;
    }
}

void rope_tables(const RopeParams *p, const int *pos, int n, float *cos_t, float *sin_t) {
    int half = p->dim / 2;
    float inv[512];
    rope_inv_freq(p, inv);
    for (int t = 0; t < n; t++)
        for (int i = 0; i < half; i++) {
            float a = (float)pos[t] * inv[i];
            cos_t[(long)t * half + i] = cosf(a) * p->attn_factor;
            sin_t[(long)t * half + i] = sinf(a) * p->attn_factor;
        }
}

void rope_rotate(float *x, const float *c, const float *s, int dim, int inverse) {
    float sg = inverse ? -1.0f : 1.0f;
    for (int i = 0; i < dim / 2; i++) {
        float a = x[2 * i], b = x[2 * i + 1];
        float si = sg * s[i];
        x[2 * i] = a * c[i] - b * si;
        x[2 * i + 1] = a * si + b * c[i];
    }
}
