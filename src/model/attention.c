// attention.c — causal attention core (forward + backward), parallel over (sequence, head).
#include "model/attention.h"
#include "kernels/gemm.h"
#include <math.h>
#include <omp.h>

void attn_core_fwd(const AttnShape *s, const float *q, const float *kv, const float *kpe, float *P, float *o) {
    int T = s->T, H = s->H, dn = s->dn, dr = s->dr, dv = s->dv;
    int qw = H * (dn + dr), kvw = H * (dn + dv), ow = H * dv;
    #pragma omp parallel for schedule(dynamic)
    for (int bh = 0; bh < s->B * H; bh++) {
        int b = bh / H, h = bh % H;
        const float *qb = q + (long)b * T * qw + h * (dn + dr);          // rows stride qw
        const float *kb = kv + (long)b * T * kvw + h * (dn + dv);        // k_nope rows stride kvw
        const float *vb = kb + dn;                                       // v rows stride kvw
        const float *pb = kpe + (long)b * T * s->kpe_ld + h * s->kpe_hs; // rope keys, stride kpe_ld
        float *S = P + (long)bh * T * T;                                 // [T, T]
        gemm(0, 1, T, T, dn, s->scale, qb, qw, kb, kvw, 0, S, T);
        gemm(0, 1, T, T, dr, s->scale, qb + dn, qw, pb, s->kpe_ld, 1, S, T);
        for (int i = 0; i < T; i++) {
            float *r = S + (long)i * T, mx = -INFINITY;
            for (int j = 0; j <= i; j++) if (r[j] > mx) mx = r[j];
            double sum = 0;
            for (int j = 0; j <= i; j++) { r[j] = expf(r[j] - mx); sum += r[j]; }
            float inv = (float)(1.0 / sum);
            for (int j = 0; j <= i; j++) r[j] *= inv;
            for (int j = i + 1; j < T; j++) r[j] = 0;
        }
        gemm(0, 0, T, dv, T, 1.0f, S, T, vb, kvw, 0, o + (long)b * T * ow + h * dv, ow);
    }
}

size_t attn_core_scratch_floats(const AttnShape *s) { return (size_t)omp_get_max_threads() * s->T * s->T; }

void attn_core_bwd(const AttnShape *s, const float *q, const float *kv, const float *kpe, const float *P,
                   const float *dO, float *dq, float *dkv, float *dkpe_h, float *scratch) {
    int T = s->T, H = s->H, dn = s->dn, dr = s->dr, dv = s->dv;
    int qw = H * (dn + dr), kvw = H * (dn + dv), ow = H * dv;
    #pragma omp parallel for schedule(dynamic)
    for (int bh = 0; bh < s->B * H; bh++) {
        int b = bh / H, h = bh % H;
        float *dP = scratch + (size_t)omp_get_thread_num() * T * T;     // [T, T]
        const float *Pb = P + (long)bh * T * T;
        const float *qb = q + (long)b * T * qw + h * (dn + dr);
        const float *kb = kv + (long)b * T * kvw + h * (dn + dv), *vb = kb + dn;
        const float *pb = kpe + (long)b * T * s->kpe_ld + h * s->kpe_hs;
        const float *dOb = dO + (long)b * T * ow + h * dv;
        float *dqb = dq + (long)b * T * qw + h * (dn + dr);
        float *dkb = dkv + (long)b * T * kvw + h * (dn + dv), *dvb = dkb + dn;
        float *dpe = dkpe_h + ((long)b * H + h) * T * dr;                // [T, dr]
        gemm(1, 0, T, dv, T, 1.0f, Pb, T, dOb, ow, 0, dvb, kvw);         // dV = Pᵀ dO
        gemm(0, 1, T, T, dv, 1.0f, dOb, ow, vb, kvw, 0, dP, T);          // dP = dO Vᵀ
        for (int i = 0; i < T; i++) {                                    // dS = scale · P ⊙ (dP − rowsum(dP ⊙ P))
            const float *pr = Pb + (long)i * T;
            float *r = dP + (long)i * T;
            double sum = 0;
            for (int j = 0; j <= i; j++) sum += (double)r[j] * pr[j];
            for (int j = 0; j <= i; j++) r[j] = s->scale * pr[j] * (r[j] - (float)sum);
            for (int j = i + 1; j < T; j++) r[j] = 0;
        }
        gemm(0, 0, T, dn, T, 1.0f, dP, T, kb, kvw, 0, dqb, qw);          // dQ = dS K
        gemm(0, 0, T, dr, T, 1.0f, dP, T, pb, s->kpe_ld, 0, dqb + dn, qw);
        gemm(1, 0, T, dn, T, 1.0f, dP, T, qb, qw, 0, dkb, kvw);          // dK = dSᵀ Q
        gemm(1, 0, T, dr, T, 1.0f, dP, T, qb + dn, qw, 0, dpe, dr);
    }
}
