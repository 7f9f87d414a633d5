// bench/train.c — training-step speed: forward + backward + AdamW step, tokens/s,
// for presets at 1 and 2 threads, against a PyTorch implementation of the same
// model (transformers' DeepseekV3ForCausalLM, eager FP32, same shapes and batch)
// run by bench/train_torch.py in the same run. Also: MFU against the measured
// sgemm peak, peak memory (max RSS), and a coarse profile (forward / backward /
// optimizer) for whoever optimises the model next.
//   build/bench/train [--presets bench-train,small] [--threads 1,2] [--batch 8] [--seq 512] [--steps 3]
//                     [--repeat 1] [--no-torch]
// --repeat R runs the C and PyTorch children alternately R times and keeps each side's best.
// MTP is off on both sides (transformers has no MTP module); the balance loss is off.
#include "base/check.h"
#include "base/io.h"
#include "base/progress.h"
#include "base/rng.h"
#include "model/model.h"
#include "train/adamw.h"
#include "train/flops.h"
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

// CPU seconds of this process (all threads): on a shared machine, work per step
// in CPU time is far less sensitive to other load than wall time.
static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// One configuration in this process (run as a child so max RSS is its own).
static int run_c(const char *preset, int th, int B, int T, int steps) {
    Config c;
    if (config_preset(preset, &c) < 0) fatal_last();
    c.num_nextn_predict_layers = 0;   // MTP off, as on the PyTorch side
    omp_set_num_threads(th);
    openblas_set_num_threads(th);
    Model m;
    if (model_create(&c, &m) < 0) fatal_last();
    model_init_random(&m, 1, 0.006f);
    model_alloc_grads(&m);
    AdamW opt; AdamWConfig ac;
    adamw_init(&opt, m.n_params);
    adamw_config_default(&ac);
    int32_t *x = xmalloc(sizeof(int32_t) * (size_t)B * T), *y = xmalloc(sizeof(int32_t) * (size_t)B * T);
    Rng r; rng_seed(&r, 7);
    for (int i = 0; i < B * T; i++) { x[i] = (int32_t)rng_below(&r, (uint64_t)c.vocab_size); y[i] = (int32_t)rng_below(&r, (uint64_t)c.vocab_size); }
    StepOpts fw = {0}, fb = {.compute_grads = 1};
    StepOut out;
    double peak = flops_sgemm_peak();
    // warm-up step, then timed steps; forward-only timed separately for the profile
    model_zero_grads(&m);
    if (model_step(&m, x, y, B, T, &fb, &out) < 0) fatal_last();
    adamw_step(&opt, &m, &ac, 1e-4, 1.0);
    double t_step = 1e30, t_fwd = 1e30, t_opt = 1e30, t_zero = 0, cpu_step = 1e30;
    for (int s = 0; s < steps; s++) {
        double c0 = cpu_seconds();
        double t0 = now_seconds();
        model_zero_grads(&m);
        double t1 = now_seconds();
        if (model_step(&m, x, y, B, T, &fb, &out) < 0) fatal_last();
        double t2 = now_seconds();
        adamw_step(&opt, &m, &ac, 1e-4, 1.0);
        double t3 = now_seconds();
        double c3 = cpu_seconds();
        if (c3 - c0 < cpu_step) cpu_step = c3 - c0;
        if (t3 - t0 < t_step) { t_step = t3 - t0; t_opt = t3 - t2; t_zero = t1 - t0; }
        double f0 = now_seconds();
        if (model_step(&m, x, y, B, T, &fw, &out) < 0) fatal_last();
        double f = now_seconds() - f0;
        if (f < t_fwd) t_fwd = f;
    }
    struct rusage ru; getrusage(RUSAGE_SELF, &ru);
    double tps = (double)B * T / t_step;
    double mfu = tps * flops_per_token(&c, T) / peak;
    printf("C %s %d %.1f %.4f %.4f %.4f %.4f %.1f %.4f %.1f\n", preset, th, tps, t_fwd, t_step - t_opt - t_zero - t_fwd + 0.0,
           t_opt + t_zero, mfu, ru.ru_maxrss / 1024.0, peak / 1e9, (double)B * T / cpu_step);
    return 0;
}

static int spawn_collect(char *const argv[], char *line, size_t cap) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1); close(fd[0]); close(fd[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    line[0] = 0;
    char buf[1024];
    while (fgets(buf, sizeof buf, f))
        if (!strncmp(buf, "C ", 2) || !strncmp(buf, "TORCH ", 6)) snprintf(line, cap, "%s", buf);
    fclose(f);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 && line[0] ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc >= 7 && !strcmp(argv[1], "--child"))
        return run_c(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
    const char *presets = "bench-train,small", *threads = "1,2";
    int B = 8, T = 512, steps = 3, torch = 1, repeat = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--presets") && i + 1 < argc) presets = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) B = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seq") && i + 1 < argc) T = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-torch")) torch = 0;
        else { fprintf(stderr, "usage: %s [--presets a,b] [--threads 1,2] [--batch B] [--seq T] [--steps N] [--repeat R] [--no-torch]\n", argv[0]); return 2; }
    }
    if (B <= 0 || T <= 1 || steps <= 0 || repeat <= 0) {
        fprintf(stderr, "bench/train: --batch, --seq (> 1), --steps and --repeat must be positive\n");
        return 2;
    }
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) fatal("no /proc/self/exe");
    self[sl] = 0;
    char bs[16], ts[16], ss[16];
    snprintf(bs, sizeof bs, "%d", B); snprintf(ts, sizeof ts, "%d", T); snprintf(ss, sizeof ss, "%d", steps);
    printf("# training step (forward + backward + AdamW), batch %d x %d tokens, FP32, MTP and balance loss off\n", B, T);
    printf("%-12s %3s | %10s %6s %8s | %10s %8s | %6s | %9s %9s %6s | %s\n", "preset", "thr", "C tok/s", "MFU", "C MB", "torch tok/s",
           "torch MB", "ratio", "C tok/cpus", "torch", "ratio", "C profile: forward / backward / optimizer (s)");
    char pl[256]; snprintf(pl, sizeof pl, "%s", presets);
    for (char *p = strtok(pl, ","); p; p = strtok(NULL, ",")) {
        Config c;
        if (config_preset(p, &c) < 0) fatal_last();
        c.num_nextn_predict_layers = 0;   // MTP off on both sides
        char cfg[64];
        snprintf(cfg, sizeof cfg, "/tmp/deepc_bench_train_%d_%s.json", (int)getpid(), p);
        if (config_save(cfg, &c) < 0) fatal_last();
        char tl[64]; snprintf(tl, sizeof tl, "%s", threads);
        char *save_t = NULL;
        double torch_best = 0;
        for (char *t = strtok_r(tl, ",", &save_t); t; t = strtok_r(NULL, ",", &save_t)) {
            // C and PyTorch children alternate `repeat` times; each side keeps its best run
            // (on a shared machine a single run says more about the neighbours than the code)
            char name[64]; int th = atoi(t); double tps = 0, fwd = 0, bwd = 0, opt = 0, mfu = 0, mb = 0, peak = 0, cps = 0;
            double ttps = 0, tmb = 0, tcps = 0;
            int c_ok = 0;
            for (int rep = 0; rep < repeat; rep++) {
                char line[1024], tline[1024] = "";
                char *ca[] = {self, "--child", p, t, bs, ts, ss, NULL};
                if (spawn_collect(ca, line, sizeof line) == 0) {
                    double v[9] = {0};
                    if (sscanf(line, "C %63s %d %lf %lf %lf %lf %lf %lf %lf %lf", name, &th, &v[0], &v[1], &v[2], &v[3], &v[4],
                               &v[5], &v[6], &v[7]) >= 9 && v[0] > tps) {
                        tps = v[0]; fwd = v[1]; bwd = v[2]; opt = v[3]; mfu = v[4]; mb = v[5]; peak = v[6];
                    }
                    if (v[7] > cps) cps = v[7];
                    c_ok = 1;
                }
                if (torch) {
                    char *ta[] = {"python3", "bench/train_torch.py", "--config", cfg, "--batch", bs, "--seq", ts, "--steps", ss,
                                  "--threads", t, NULL};
                    double a = 0, b = 0, c3 = 0;
                    if (spawn_collect(ta, tline, sizeof tline) == 0 && sscanf(tline, "TORCH %lf %lf %lf", &a, &b, &c3) == 3) {
                        if (a > ttps) { ttps = a; tmb = b; }
                        if (c3 > tcps) tcps = c3;
                    }
                }
            }
            if (!c_ok) { printf("%-12s %3s | C run failed\n", p, t); continue; }
            if (ttps > torch_best) torch_best = ttps;
            // ratio against the best PyTorch thread setting measured so far (<= this thread count)
            printf("%-12s %3d | %10.0f %5.1f%% %8.0f | %10.0f %8.0f | %5.2fx | %9.0f %9.0f %5.2fx | %.3f / %.3f / %.3f  (sgemm %.1f GFLOP/s)\n", p, th,
                   tps, 100 * mfu, mb, ttps, tmb, torch_best > 0 ? tps / torch_best : 0, cps, tcps, tcps > 0 ? cps / tcps : 0,
                   fwd, bwd, opt, peak);
            fflush(stdout);
        }
        unlink(cfg);
    }
    return 0;
}
