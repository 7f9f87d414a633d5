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

typedef struct {
    size_t n;          // floats (== model n_params)
    float *m, *v;      // [n] first and second moments, zero at start
    int64_t t;         // updates done so far (bias correction uses t after increment)
} AdamW;

void adamw_config_default(AdamWConfig *c);
void adamw_init(AdamW *o, size_t n);      // zeroed moments
void adamw_free(AdamW *o);
// One AdamW update of p[0..n) with gradient g·gscale (t = update number, 1-based):
// the plain kernel that adamw_step applies per view (exposed for tests).
void adamw_update(float *p, const float *g, float *m, float *v, size_t n, double gscale,
                  double lr, double wd, const AdamWConfig *c, int64_t t);
// L2 norm of g·gscale over the trainable views (deterministic order, double accumulation).
double adamw_grad_norm(const Model *mdl, double gscale);
// Clip and update every trainable view of the model from mdl->grads·gscale.
// Returns the gradient norm before clipping (NaN/Inf are returned as such and
// nothing is updated then).
double adamw_step(AdamW *o, Model *mdl, const AdamWConfig *c, double lr, double gscale);
