// adamw.c — AdamW (decoupled weight decay) over named parameter views.
#include "train/adamw.h"
#include "base/check.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

void adamw_config_default(AdamWConfig *c) {
    c->beta1 = 0.9; c->beta2 = 0.95; c->eps = 1e-8; c->weight_decay = 0.1; c->clip = 1.0;
}

void adamw_init_range(AdamW *o, size_t lo, size_t hi) {
    o->lo = lo;
    o->n = hi > lo ? hi - lo : 0;
    o->m = xmalloc_aligned((o->n ? o->n : 1) * sizeof(float));   // zeroed
    o->v = xmalloc_aligned((o->n ? o->n : 1) * sizeof(float));
    o->t = 0;
}

void adamw_init(AdamW *o, size_t n) { adamw_init_range(o, 0, n); }

void adamw_free(AdamW *o) {
    free(o->m); free(o->v);
    memset(o, 0, sizeof *o);
}

// Same operation order as torch.optim.AdamW (single-tensor path):
//   p *= 1 - lr·wd;  m = β1 m + (1-β1) g;  v = β2 v + (1-β2) g²;
//   p -= (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps)
void adamw_update(float *p, const float *g, float *m, float *v, size_t n, double gscale,
                  double lr, double wd, const AdamWConfig *c, int64_t t) {
    const float b1 = (float)c->beta1, b2 = (float)c->beta2, eps = (float)c->eps;
    const float decay = (float)(1.0 - lr * wd);
    const double bc1 = 1.0 - pow(c->beta1, (double)t), bc2 = 1.0 - pow(c->beta2, (double)t);
    const float step = (float)(lr / bc1), sbc2 = (float)sqrt(bc2), gs = (float)gscale;
    enum { CH = 16384 };   // floats per work item (multiple of 8)
    size_t nch = (n + CH - 1) / CH;
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t ch = 0; ch < nch; ch++) {
        size_t i = ch * CH, end = i + CH < n ? i + CH : n;
#if defined(__AVX2__)
        // the scalar expressions below, 8 lanes at a time, same operation order (same bits)
        const __m256 vgs = _mm256_set1_ps(gs), vdec = _mm256_set1_ps(decay), vb1 = _mm256_set1_ps(b1),
                     vb2 = _mm256_set1_ps(b2), v1b1 = _mm256_set1_ps(1.0f - b1), v1b2 = _mm256_set1_ps(1.0f - b2),
                     vstep = _mm256_set1_ps(step), vsbc2 = _mm256_set1_ps(sbc2), veps = _mm256_set1_ps(eps);
        for (; i + 8 <= end; i += 8) {
            __m256 gi = _mm256_mul_ps(_mm256_loadu_ps(g + i), vgs);
            __m256 pi = _mm256_mul_ps(_mm256_loadu_ps(p + i), vdec);
            __m256 mi = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(m + i), vb1), _mm256_mul_ps(v1b1, gi));
            __m256 vi = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(v + i), vb2), _mm256_mul_ps(_mm256_mul_ps(v1b2, gi), gi));
            _mm256_storeu_ps(m + i, mi);
            _mm256_storeu_ps(v + i, vi);
            __m256 den = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), vsbc2), veps);
            _mm256_storeu_ps(p + i, _mm256_sub_ps(pi, _mm256_mul_ps(vstep, _mm256_div_ps(mi, den))));
        }
#endif
        for (; i < end; i++) {
            float gi = g[i] * gs;
            float pi = p[i] * decay;
            float mi = m[i] * b1 + (1.0f - b1) * gi;   // torch: lerp(m, g, 1-β1)
            float vi = v[i] * b2 + (1.0f - b2) * gi * gi;
            m[i] = mi; v[i] = vi;
            p[i] = pi - step * (mi / (sqrtf(vi) / sbc2 + eps));
        }
    }
}

// Sum of squares of g[a, b), 8 double lanes then the tail: the same bits for any caller.
static double sumsq(const float *g, size_t a, size_t b) {
    double s = 0;
    size_t i = a;
#if defined(__AVX2__)
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();   // 8 lanes in double, fixed order
    for (; i + 8 <= b; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i);
        __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
        s0 = _mm256_add_pd(s0, _mm256_mul_pd(lo, lo));
        s1 = _mm256_add_pd(s1, _mm256_mul_pd(hi, hi));
    }
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(s0, s1));
    s = (t[0] + t[1]) + (t[2] + t[3]);
#endif
    for (; i < b; i++) s += (double)g[i] * g[i];
    return s;
}

static size_t view_chunks(const ParamView *pv) { return (pv->numel + ADAMW_NORM_CHUNK - 1) / ADAMW_NORM_CHUNK; }

size_t adamw_norm_chunks(const Model *mdl) {
    size_t n = 0;
    for (int k = 0; k < mdl->n_views; k++)
        if (mdl->views[k].trainable) n += view_chunks(&mdl->views[k]);
    return n;
}

void adamw_norm_partials(const Model *mdl, size_t lo, size_t hi, double *part, size_t *first, size_t *count) {
    size_t idx = 0, cnt = 0;
    *first = 0;
    for (int k = 0; k < mdl->n_views; k++) {
        const ParamView *pv = &mdl->views[k];
        if (!pv->trainable) continue;
        size_t nch = view_chunks(pv);
        // this view's chunks that start in [lo, hi): c in [c0, c1)
        size_t c0 = 0, c1 = nch;
        if (pv->offset < lo) c0 = (lo - pv->offset + ADAMW_NORM_CHUNK - 1) / ADAMW_NORM_CHUNK;
        if (pv->offset >= hi) c1 = 0;
        else if (hi - pv->offset < nch * (size_t)ADAMW_NORM_CHUNK) c1 = (hi - pv->offset + ADAMW_NORM_CHUNK - 1) / ADAMW_NORM_CHUNK;
        if (c0 < c1 && !part) {   // counting only
            if (cnt == 0) *first = idx + c0;
            cnt += c1 - c0;
        } else if (c0 < c1) {
            if (cnt == 0) *first = idx + c0;
            const float *g = mdl->grads + pv->offset;
            double *out = part + cnt;
            // fixed-size chunks: deterministic for any thread count
            #pragma omp parallel for schedule(static) if (c1 - c0 > 16)
            for (size_t c = c0; c < c1; c++) {
                size_t a = c * ADAMW_NORM_CHUNK, b = a + ADAMW_NORM_CHUNK < pv->numel ? a + ADAMW_NORM_CHUNK : pv->numel;
                out[c - c0] = sumsq(g, a, b);
            }
            cnt += c1 - c0;
        }
        idx += nch;
    }
    *count = cnt;
}

void adamw_shard_bounds(const Model *mdl, int world, size_t *bounds) {
    size_t n = mdl->n_params;
    bounds[0] = 0;
    bounds[world] = n;
    for (int q = 1; q < world; q++) {
        size_t target = (size_t)((double)n * q / world), best = n;
        // the chunk start nearest to the target (at or after the previous boundary)
        for (int k = 0; k < mdl->n_views; k++) {
            const ParamView *pv = &mdl->views[k];
            if (!pv->trainable || pv->numel == 0) continue;
            size_t c = target <= pv->offset ? 0 : (target - pv->offset) / ADAMW_NORM_CHUNK;
            size_t nch = view_chunks(pv);
            for (size_t cc = c; cc < c + 2 && cc < nch; cc++) {   // the starts either side of the target
                size_t at = pv->offset + cc * ADAMW_NORM_CHUNK;
                if (at < bounds[q - 1]) continue;
                size_t d = at > target ? at - target : target - at, db = best > target ? best - target : target - best;
                if (d < db) best = at;
            }
        }
        bounds[q] = best < bounds[q - 1] ? bounds[q - 1] : best;
    }
}

double adamw_grad_norm(const Model *mdl, double gscale) {
    size_t nch = adamw_norm_chunks(mdl), first, cnt;
    double *part = xmalloc((nch ? nch : 1) * sizeof(double));
    adamw_norm_partials(mdl, 0, mdl->n_params, part, &first, &cnt);
    double ss = 0;
    for (size_t c = 0; c < cnt; c++) ss += part[c];   // in block order
    free(part);
    return sqrt(ss) * fabs(gscale);
}

double adamw_clip_scale(const AdamWConfig *c, double norm, double gscale) {
    if (c->clip > 0 && norm > c->clip) return gscale * (c->clip / (norm + 1e-6));   // torch clip_grad_norm_
    return gscale;
}

void adamw_apply(AdamW *o, Model *mdl, const AdamWConfig *c, double lr, double scale) {
    size_t lo = o->lo, hi = o->lo + o->n;
    for (int k = 0; k < mdl->n_views; k++) {
        const ParamView *pv = &mdl->views[k];
        if (!pv->trainable) continue;
        size_t a = pv->offset > lo ? pv->offset : lo, b = pv->offset + pv->numel < hi ? pv->offset + pv->numel : hi;
        if (a >= b) continue;
        adamw_update(mdl->params + a, mdl->grads + a, o->m + (a - lo), o->v + (a - lo),
                     b - a, scale, lr, pv->decay ? c->weight_decay : 0.0, c, o->t);
    }
}

double adamw_step(AdamW *o, Model *mdl, const AdamWConfig *c, double lr, double gscale) {
    ASSERT(o->lo == 0 && o->n == mdl->n_params && mdl->grads);
    double norm = adamw_grad_norm(mdl, gscale);
    if (!isfinite(norm)) return norm;
    double scale = adamw_clip_scale(c, norm, gscale);
    o->t++;
    adamw_apply(o, mdl, c, lr, scale);
    return norm;
}
