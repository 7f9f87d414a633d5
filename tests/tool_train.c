// tool_train.c — helper for tests/ref/test_train_ref.py (PyTorch comparisons).
//   tool_train adamw IN OUT     IN: int32 n1 n2 n3 steps, float64 lr clip, float32 params[n], grads[steps][n]
//                               (view 1: n1 decayed, view 2: n2 not decayed, view 3: n3 not trainable);
//                               OUT: float32 params[n] after the steps, float64 grad norms[steps]
//   tool_train schedule KIND LR WARMUP TOTAL   prints the learning rate of every step, one per line
//   tool_train run DIR                 trains the tiny preset 3 steps on synthetic shards in DIR/data,
//                                      prints the final checkpoint folder and then the step-3 loss
#include "base/check.h"
#include "base/io.h"
#include "train/adamw.h"
#include "base/rng.h"
#include "data/shard.h"
#include "train/checkpoint.h"
#include "train/schedule.h"
#include "train/trainer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int adamw_tool(const char *in, const char *out) {
    char *buf; size_t len;
    if (io_read_all(in, &buf, &len) < 0) fatal_last();
    int32_t h[4]; double hp[2];
    if (len < sizeof h + sizeof hp) fatal("short input");
    memcpy(h, buf, sizeof h);
    memcpy(hp, buf + sizeof h, sizeof hp);
    size_t n = (size_t)h[0] + h[1] + h[2];
    int steps = h[3];
    if (len != sizeof h + sizeof hp + 4 * n * (size_t)(1 + steps)) fatal("input size mismatch");
    const float *p0 = (const float *)(buf + sizeof h + sizeof hp), *g0 = p0 + n;
    Model m;
    memset(&m, 0, sizeof m);
    m.n_params = n;
    m.params = xmalloc_aligned(n * sizeof(float));
    m.grads = xmalloc_aligned(n * sizeof(float));
    memcpy(m.params, p0, n * sizeof(float));
    ParamView v[3];
    memset(v, 0, sizeof v);
    size_t off = 0;
    for (int k = 0; k < 3; k++) {
        snprintf(v[k].name, sizeof v[k].name, "view%d", k);
        v[k].ndim = 1; v[k].shape[0] = h[k]; v[k].offset = off; v[k].numel = (size_t)h[k];
        v[k].trainable = k < 2; v[k].decay = k == 0;
        off += (size_t)h[k];
    }
    m.views = v; m.n_views = 3;
    AdamW o; AdamWConfig c;
    adamw_init(&o, n);
    adamw_config_default(&c);
    c.clip = hp[1];
    double *norms = xmalloc((size_t)(steps ? steps : 1) * sizeof(double));
    for (int s = 0; s < steps; s++) {
        memcpy(m.grads, g0 + (size_t)s * n, n * sizeof(float));
        norms[s] = adamw_step(&o, &m, &c, hp[0], 1.0);
    }
    FILE *f = fopen(out, "wb");
    if (!f) fatal("cannot write %s", out);
    fwrite(m.params, sizeof(float), n, f);
    fwrite(norms, sizeof(double), (size_t)steps, f);
    fclose(f);
    return 0;
}

static int run_tool(const char *dir) {
    char *data = path_join(dir, "data"), *run = path_join(dir, "run");
    if (io_mkdir_p(data) < 0) fatal_last();
    const char *split[2] = {"train_0000.bin", "val_0000.bin"};
    for (int k = 0; k < 2; k++) {
        char *p = path_join(data, split[k]);
        ShardWriter *w;
        if (shard_writer_open(&w, p, 96, 0, 0) < 0) fatal_last();
        Rng r; rng_seed(&r, 5 + (uint64_t)k);
        int32_t doc[200];
        for (int d = 0; d < 50; d++) {
            int n = 10 + (int)rng_below(&r, 150);
            doc[0] = 0;
            for (int i = 1; i < n; i++) doc[i] = 1 + (int32_t)rng_below(&r, 95);
            if (shard_writer_add(w, doc, (size_t)n, 0) < 0) fatal_last();
        }
        if (shard_writer_commit(w) < 0) fatal_last();
        free(p);
    }
    TrainOptions o; TrainResult res;
    train_options_default(&o);
    o.preset = "tiny"; o.data_dir = data; o.out_dir = run; o.steps = 3; o.batch = 2; o.seq = 32;
    o.samples = 0; o.quiet = 1; o.threads = 1; o.eval_every = 100; o.eval_batches = 1;
    if (trainer_run(&o, &res) < 0) fatal_last();
    char *ck = checkpoint_latest(run);
    if (!ck) fatal_last();
    printf("%s\n%.9g\n", ck, res.last_loss);
    free(ck); free(data); free(run);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "run")) return run_tool(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "adamw")) return adamw_tool(argv[2], argv[3]);
    if (argc == 6 && !strcmp(argv[1], "schedule")) {
        SchedKind k;
        if (schedule_parse(argv[2], &k) < 0) fatal_last();
        Schedule s;
        schedule_default(&s, atof(argv[3]), atoll(argv[4]), atoll(argv[5]));
        s.kind = k;
        for (int64_t i = 0; i < s.total; i++) printf("%.12g\n", schedule_lr(&s, i));
        return 0;
    }
    fprintf(stderr, "usage: tool_train adamw IN OUT | schedule KIND LR WARMUP TOTAL\n");
    return 2;
}
