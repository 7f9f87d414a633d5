// adamw.h — AdamW with FP32 moments over the model's parameter block
// (β 0.9/0.95, decoupled weight decay only on views marked decay, global
// gradient-norm clipping), written so one update matches torch.optim.AdamW.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "model/model.h"

typedef struct {
    double beta1, beta2, eps, weight_decay, clip;   // 0.9, 0.95, 1e-8, 0.1, 1.0 (clip <= 0: no clipping)
} AdamWConfig;

// The moments cover floats [lo, lo + n) of the parameter block: all of it (lo = 0,
// n = n_params), or one rank's shard under ZeRO-1 (train/dist.h).
typedef struct {
    size_t n;          // floats covered (model n_params, or the shard's length)
    size_t lo;         // first float of the parameter block covered (0 unless sharded)
    float *m, *v;      // [n] first and second moments, zero at start
    int64_t t;         // updates done so far (bias correction uses t after increment)
} AdamW;

void adamw_config_default(AdamWConfig *c);
void adamw_init(AdamW *o, size_t n);      // zeroed moments for the whole block [0, n)
void adamw_init_range(AdamW *o, size_t lo, size_t hi);   // zeroed moments for [lo, hi) only
void adamw_free(AdamW *o);
// One AdamW update of p[0..n) with gradient g·gscale (t = update number, 1-based):
// the plain kernel that adamw_step applies per view (exposed for tests).
void adamw_update(float *p, const float *g, float *m, float *v, size_t n, double gscale,
                  double lr, double wd, const AdamWConfig *c, int64_t t);
// L2 norm of g·gscale over the trainable views (deterministic order, double accumulation).
double adamw_grad_norm(const Model *mdl, double gscale);
// The norm's pieces: every trainable view cut into ADAMW_NORM_CHUNK-float chunks, in
// block order; the norm is sqrt of their sums of squares added in that order. A
// sharded step computes its chunks' sums and gathers them, so its norm has the same bits.
enum { ADAMW_NORM_CHUNK = 4096 };
size_t adamw_norm_chunks(const Model *mdl);                       // how many chunks
// Sums of squares of the chunks that start in [lo, hi) (of mdl->grads, unscaled) into
// part[0..count) (part NULL: only count them), count their number, first the index of
// the first one.
void adamw_norm_partials(const Model *mdl, size_t lo, size_t hi, double *part, size_t *first, size_t *count);
// Boundaries of `world` contiguous shards of the parameter block, balanced by floats and
// placed at chunk starts (so no norm chunk is cut): bounds[0] = 0 ... bounds[world] = n_params.
void adamw_shard_bounds(const Model *mdl, int world, size_t *bounds);
// The gradient scale after clipping for a norm (torch clip_grad_norm_).
double adamw_clip_scale(const AdamWConfig *c, double norm, double gscale);
// Update the trainable floats in [o->lo, o->lo + o->n) from mdl->grads·scale (already
// clipped), with update number o->t (the caller increments it).
void adamw_apply(AdamW *o, Model *mdl, const AdamWConfig *c, double lr, double scale);
// Clip and update every trainable view of the model from mdl->grads·gscale.
// Returns the gradient norm before clipping (NaN/Inf are returned as such and
// nothing is updated then).
double adamw_step(AdamW *o, Model *mdl, const AdamWConfig *c, double lr, double gscale);
