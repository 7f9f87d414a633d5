// attention.c — causal attention core (forward + backward), parallel over (sequence, head).
// Causality is exploited: rows are taken in blocks of BS queries and each block
// only multiplies against the keys at or before its last row, so the masked upper
// triangle is (up to the diagonal blocks) never computed, forward or backward.
// Per head the nope and rope parts of keys are packed side by side into one
// [T, dn+dr] matrix (queries already are), so each product is one GEMM with
// K = dn + dr rather than two.
#include "model/attention.h"
#include "base/check.h"
#include "kernels/gemm.h"
#include "kernels/vmath.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { BS = 64 };   // query rows per block

// Kc[T, dn+dr] = [k_nope | k_pe] of one (sequence, head).
static void pack_keys(float *Kc, const float *kb, int kvw, const float *pb, int kpe_ld, int T, int dn, int dr) {
    int kw = dn + dr;
    for (int j = 0; j < T; j++) {
        memcpy(Kc + (long)j * kw, kb + (long)j * kvw, sizeof(float) * dn);
        memcpy(Kc + (long)j * kw + dn, pb + (long)j * kpe_ld, sizeof(float) * dr);
    }
}

void attn_core_fwd(const AttnShape *s, const float *q, const float *kv, const float *kpe, float *P, float *o) {
    int T = s->T, H = s->H, dn = s->dn, dr = s->dr, dv = s->dv, kw = dn + dr;
    int qw = H * (dn + dr), kvw = H * (dn + dv), ow = H * dv;
    #pragma omp parallel
    {
        float *Kc = xmalloc_aligned(sizeof(float) * (size_t)T * kw);          // [T, dn+dr]
        #pragma omp for schedule(dynamic)
        for (int bh = 0; bh < s->B * H; bh++) {
            int b = bh / H, h = bh % H;
            const float *qb = q + (long)b * T * qw + h * (dn + dr);          // [T, dn+dr] rows stride qw
            const float *kb = kv + (long)b * T * kvw + h * (dn + dv);        // k_nope rows stride kvw
            const float *vb = kb + dn;                                       // v rows stride kvw
            const float *pb = kpe + (long)b * T * s->kpe_ld + h * s->kpe_hs; // rope keys, stride kpe_ld
            float *S = P + (long)bh * T * T;                                 // [T, T], row i valid for j < block end
            float *ob = o + (long)b * T * ow + h * dv;
            pack_keys(Kc, kb, kvw, pb, s->kpe_ld, T, dn, dr);
            for (int i0 = 0; i0 < T; i0 += BS) {
                int i1 = i0 + BS < T ? i0 + BS : T, m = i1 - i0;
                float *Sb = S + (long)i0 * T;
                gemm(0, 1, m, i1, kw, s->scale, qb + (long)i0 * qw, qw, Kc, kw, 0, Sb, T);   // [m, i1]
                for (int i = i0; i < i1; i++) {
                    float *r = S + (long)i * T;
                    float mx = vm_max(r, i + 1);
                    float inv = (float)(1.0 / vm_exp_shift(r, r, mx, i + 1));
                    for (int j = 0; j <= i; j++) r[j] *= inv;
                    for (int j = i + 1; j < i1; j++) r[j] = 0;
                }
                gemm(0, 0, m, dv, i1, 1.0f, Sb, T, vb, kvw, 0, ob + (long)i0 * ow, ow);      // [m, dv]
            }
        }
        free(Kc);
    }
}

size_t attn_core_scratch_floats(const AttnShape *s) {
    return (size_t)omp_get_max_threads() * ((size_t)s->T * s->T + 2 * (size_t)s->T * (s->dn + s->dr));
}

void attn_core_bwd(const AttnShape *s, const float *q, const float *kv, const float *kpe, const float *P,
                   const float *dO, float *dq, float *dkv, float *dkpe_h, float *scratch) {
    int T = s->T, H = s->H, dn = s->dn, dr = s->dr, dv = s->dv, kw = dn + dr;
    int qw = H * (dn + dr), kvw = H * (dn + dv), ow = H * dv;
    #pragma omp parallel for schedule(dynamic)
    for (int bh = 0; bh < s->B * H; bh++) {
        int b = bh / H, h = bh % H;
        float *dP = scratch + (size_t)omp_get_thread_num() * ((size_t)T * T + 2 * (size_t)T * kw);  // [T, T]
        float *Kc = dP + (size_t)T * T, *dKc = Kc + (size_t)T * kw;   // [T, dn+dr] each
        const float *Pb = P + (long)bh * T * T;
        const float *qb = q + (long)b * T * qw + h * (dn + dr);
        const float *kb = kv + (long)b * T * kvw + h * (dn + dv), *vb = kb + dn;
        const float *pb = kpe + (long)b * T * s->kpe_ld + h * s->kpe_hs;
        const float *dOb = dO + (long)b * T * ow + h * dv;
        float *dqb = dq + (long)b * T * qw + h * (dn + dr);
        float *dkb = dkv + (long)b * T * kvw + h * (dn + dv), *dvb = dkb + dn;
        float *dpe = dkpe_h + ((long)b * H + h) * T * dr;                // [T, dr]
        pack_keys(Kc, kb, kvw, pb, s->kpe_ld, T, dn, dr);
        // row blocks: dP = dO Vᵀ, dS = scale · P ⊙ (dP − rowsum(dP ⊙ P)), dQ = dS K
        for (int i0 = 0; i0 < T; i0 += BS) {
            int i1 = i0 + BS < T ? i0 + BS : T, m = i1 - i0;
            gemm(0, 1, m, i1, dv, 1.0f, dOb + (long)i0 * ow, ow, vb, kvw, 0, dP + (long)i0 * T, T);
            for (int i = i0; i < i1; i++) {
                const float *pr = Pb + (long)i * T;
                float *r = dP + (long)i * T;
                double sum = 0;
                for (int j = 0; j <= i; j++) sum += (double)r[j] * pr[j];
                float fs = (float)sum;
                for (int j = 0; j <= i; j++) r[j] = s->scale * pr[j] * (r[j] - fs);
                for (int j = i + 1; j < i1; j++) r[j] = 0;
            }
            gemm(0, 0, m, kw, i1, 1.0f, dP + (long)i0 * T, T, Kc, kw, 0, dqb + (long)i0 * qw, qw);
        }
        // column blocks: dV = Pᵀ dO and dK = dSᵀ Q over the rows at or after the block
        for (int j0 = 0; j0 < T; j0 += BS) {
            int j1 = j0 + BS < T ? j0 + BS : T, m = j1 - j0, r = T - j0;
            gemm(1, 0, m, dv, r, 1.0f, Pb + (long)j0 * T + j0, T, dOb + (long)j0 * ow, ow, 0, dvb + (long)j0 * kvw, kvw);
            gemm(1, 0, m, kw, r, 1.0f, dP + (long)j0 * T + j0, T, qb + (long)j0 * qw, qw, 0, dKc + (long)j0 * kw, kw);
        }
        for (int j = 0; j < T; j++) {
            memcpy(dkb + (long)j * kvw, dKc + (long)j * kw, sizeof(float) * dn);
            memcpy(dpe + (long)j * dr, dKc + (long)j * kw + dn, sizeof(float) * dr);
        }
    }
}
