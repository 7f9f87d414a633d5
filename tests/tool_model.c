// tool_model.c — helper program for the Python reference tests (tests/ref/).
//
//   tool_model MODEL_DIR IN.safetensors OUT.safetensors
//
// IN holds "tokens" I32 [B, T], "targets" I32 [B, T] (negative = ignored) and the
// F32 scalars [1] "mtp_lambda", "balance_alpha", "grads" (1 = compute gradients), and
// optionally "steps" (run model_step that many times without zeroing the gradients, to
// check that they accumulate; the outputs are those of the last step).
// The tool loads MODEL_DIR with model_load, runs one model_step (with logits, and
// a backward pass when asked) and writes OUT:
//   "logits" F32 [B, T, V]; "loss", "mtp_loss", "balance_loss", "total" F32 [1];
//   "expert_load" I32 [n_layers_total, E] (when E > 0);
//   "grad.<view name>" F32, the view's shape (when grads = 1), for every view.
// Errors: a message on stderr and exit code 1.
#include "base/check.h"
#include "model/model.h"
#include "model/safetensors.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *in_path;

// An I32 tensor of rank 2 named `name` from IN; *d0, *d1 get its shape.
static int read_i32_2d(const StFile *f, const char *name, int32_t **out, int *d0, int *d1) {
    const StTensor *t = st_find(f, name);
    if (!t) return fail("%s: tensor \"%s\" missing (expected I32 [B, T])", in_path, name);
    if (t->dtype != ST_I32 || t->ndim != 2)
        return fail("%s: tensor \"%s\" is %s of rank %d (expected I32 [B, T])", in_path, name,
                    st_dtype_name(t->dtype), t->ndim);
    if (t->shape[0] <= 0 || t->shape[1] <= 0 || t->shape[0] > (1 << 20) || t->shape[1] > (1 << 20))
        return fail("%s: tensor \"%s\" has shape [%lld, %lld] (expected positive sizes)", in_path, name,
                    (long long)t->shape[0], (long long)t->shape[1]);
    if (t->nbytes != (size_t)(t->shape[0] * t->shape[1]) * 4)
        return fail("%s: tensor \"%s\" holds %zu bytes for shape [%lld, %lld]", in_path, name, t->nbytes,
                    (long long)t->shape[0], (long long)t->shape[1]);
    *d0 = (int)t->shape[0]; *d1 = (int)t->shape[1];
    *out = xmalloc(t->nbytes);
    memcpy(*out, t->data, t->nbytes);
    return 0;
}

// An F32 scalar [1] named `name` from IN.
static int read_scalar(const StFile *f, const char *name, float *v) {
    const StTensor *t = st_find(f, name);
    if (!t) return fail("%s: tensor \"%s\" missing (expected F32 [1])", in_path, name);
    if (st_numel(t) != 1) return fail("%s: tensor \"%s\" has %lld elements (expected F32 [1])", in_path, name,
                                      (long long)st_numel(t));
    if (st_read_f32(t, v, 1) < 0) return fail_ctx("%s: tensor \"%s\": ", in_path, name);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: tool_model MODEL_DIR IN.safetensors OUT.safetensors\n");
        return 1;
    }
    const char *model_dir = argv[1], *out_path = argv[3];
    in_path = argv[2];

    StFile in;
    if (st_open(in_path, &in) < 0) fatal_last();
    int32_t *tokens = NULL, *targets = NULL;   // [B, T]
    int B = 0, T = 0, B2 = 0, T2 = 0;
    float mtp_lambda = 0, balance_alpha = 0, want_grads = 0;
    if (read_i32_2d(&in, "tokens", &tokens, &B, &T) < 0 || read_i32_2d(&in, "targets", &targets, &B2, &T2) < 0 ||
        read_scalar(&in, "mtp_lambda", &mtp_lambda) < 0 || read_scalar(&in, "balance_alpha", &balance_alpha) < 0 ||
        read_scalar(&in, "grads", &want_grads) < 0)
        fatal_last();
    float steps_f = 1;
    if (st_find(&in, "steps") && read_scalar(&in, "steps", &steps_f) < 0) fatal_last();
    if (!(steps_f >= 1 && steps_f <= 16)) fatal("%s: steps = %g (expected 1..16)", in_path, steps_f);
    const int steps = (int)steps_f;
    st_close(&in);
    if (B2 != B || T2 != T) fatal("%s: targets [%d, %d] do not match tokens [%d, %d]", in_path, B2, T2, B, T);

    Model m;
    memset(&m, 0, sizeof m);
    if (model_load(model_dir, &m) < 0) fatal_last();
    const int V = m.c.vocab_size, E = m.c.n_routed_experts;
    for (int i = 0; i < B * T; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            fatal("%s: tokens[%d, %d] = %d is outside the vocabulary [0, %d)", in_path, i / T, i % T, tokens[i], V);

    const int grads = want_grads != 0;
    if (grads) { model_alloc_grads(&m); model_zero_grads(&m); }
    float *logits = xmalloc((size_t)B * T * V * sizeof(float));   // [B, T, V]
    StepOpts o = { .compute_grads = grads, .mtp_lambda = mtp_lambda, .balance_alpha = balance_alpha,
                   .logits = logits };
    StepOut r;
    memset(&r, 0, sizeof r);
    for (int s = 0; s < steps; s++)
        if (model_step(&m, tokens, targets, B, T, &o, &r) < 0) fatal_last();

    float loss = (float)r.loss, mtp_loss = (float)r.mtp_loss, bal = (float)r.balance_loss, total = (float)r.total;
    StWriter w;
    st_writer_init(&w);
    const int64_t shape_logits[3] = { B, T, V }, shape_one[1] = { 1 };
    st_writer_add(&w, "logits", ST_F32, 3, shape_logits, logits);
    st_writer_add(&w, "loss", ST_F32, 1, shape_one, &loss);
    st_writer_add(&w, "mtp_loss", ST_F32, 1, shape_one, &mtp_loss);
    st_writer_add(&w, "balance_loss", ST_F32, 1, shape_one, &bal);
    st_writer_add(&w, "total", ST_F32, 1, shape_one, &total);
    if (E > 0 && r.expert_load) {
        const int64_t shape_load[2] = { m.n_layers_total, E };
        st_writer_add(&w, "expert_load", ST_I32, 2, shape_load, r.expert_load);
    }
    char **names = xcalloc((size_t)m.n_views, sizeof(char *));
    if (grads) {
        for (int i = 0; i < m.n_views; i++) {
            const ParamView *v = &m.views[i];
            size_t len = strlen(v->name) + 6;
            names[i] = xmalloc(len);
            snprintf(names[i], len, "grad.%s", v->name);
            st_writer_add(&w, names[i], ST_F32, v->ndim, v->shape, m.grads + v->offset);
        }
    }
    if (st_writer_save(&w, out_path) < 0) fatal_last();
    st_writer_free(&w);
    for (int i = 0; i < m.n_views; i++) free(names[i]);
    free(names);
    free(logits); free(tokens); free(targets);
    model_free(&m);
    return 0;
}
