// report.c — summaries and gnuplot charts from metrics.jsonl.
#include "train/report.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

typedef int (*LineFn)(const cJSON *j, void *ctx);

static int each_line(const char *path, LineFn fn, void *ctx) {
    char *buf; size_t n;
    TRY(io_read_all(path, &buf, &n));
    int rc = 0;
    for (char *line = strtok(buf, "\n"); line && rc == 0; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        if (!j) continue;   // a torn last line after a kill
        rc = fn(j, ctx);
        cJSON_Delete(j);
    }
    free(buf);
    return rc;
}

static double num(const cJSON *j, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

typedef struct { MetricsSummary *s; double *loss, *tps, *mfu, *mv; int n, cap; } Acc;

static int acc_line(const cJSON *j, void *ctx) {
    Acc *a = ctx;
    MetricsSummary *s = a->s;
    double step = num(j, "step");
    if (isnan(step)) return 0;
    if (cJSON_GetObjectItemCaseSensitive(j, "skipped")) { s->skipped++; return 0; }
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 256;
        a->loss = xrealloc(a->loss, (size_t)a->cap * sizeof(double));
        a->tps = xrealloc(a->tps, (size_t)a->cap * sizeof(double));
        a->mfu = xrealloc(a->mfu, (size_t)a->cap * sizeof(double));
        a->mv = xrealloc(a->mv, (size_t)a->cap * sizeof(double));
    }
    a->loss[a->n] = num(j, "loss");
    a->tps[a->n] = num(j, "tok_per_s");
    a->mfu[a->n] = num(j, "mfu");
    const cJSON *mv = cJSON_GetObjectItemCaseSensitive(j, "maxvio");
    double m = NAN;
    if (cJSON_IsArray(mv) && cJSON_GetArraySize(mv) > 0) {
        m = 0;
        s->n_moe_layers = cJSON_GetArraySize(mv);
        for (const cJSON *e = mv->child; e; e = e->next) m += e->valuedouble;
        m /= s->n_moe_layers;
    }
    a->mv[a->n] = m;
    a->n++;
    s->steps = (int64_t)step;
    double t = num(j, "tokens"); if (!isnan(t)) s->tokens = (uint64_t)t;
    double e = num(j, "time_s"); if (!isnan(e)) s->elapsed_s = e;
    double vl = num(j, "val_loss"), vb = num(j, "val_bpb");
    if (!isnan(vl)) s->last_val_loss = vl;
    if (!isnan(vb)) { s->last_val_bpb = vb; if (isnan(s->best_val_bpb) || vb < s->best_val_bpb) s->best_val_bpb = vb; }
    return 0;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    int k = 0;
    for (int i = 0; i < n; i++) if (isfinite(v[i])) v[k++] = v[i];
    if (!k) return NAN;
    qsort(v, (size_t)k, sizeof *v, cmp_d);
    return v[k / 2];
}

static double mean_range(const double *v, int a, int b) {
    double s = 0; int k = 0;
    for (int i = a < 0 ? 0 : a; i < b; i++) if (isfinite(v[i])) { s += v[i]; k++; }
    return k ? s / k : NAN;
}

int report_summarize(const char *metrics_path, MetricsSummary *s) {
    memset(s, 0, sizeof *s);
    s->last_val_loss = s->last_val_bpb = s->best_val_bpb = s->last_maxvio = NAN;
    Acc a = {.s = s};
    int rc = each_line(metrics_path, acc_line, &a);
    if (rc == 0 && a.n == 0) rc = fail("%s holds no training steps", metrics_path);
    if (rc == 0) {
        s->first_loss = mean_range(a.loss, 0, a.n < 10 ? a.n : 10);
        s->last_loss = mean_range(a.loss, a.n - 10, a.n);
        s->last_maxvio = mean_range(a.mv, a.n - 10, a.n);
        s->tok_per_s = median(a.tps, a.n);
        s->mfu = median(a.mfu, a.n);
    }
    free(a.loss); free(a.tps); free(a.mfu); free(a.mv);
    return rc;
}

typedef struct { FILE *tr, *va, *ld; int nl; } Dat;

static int dat_line(const cJSON *j, void *ctx) {
    Dat *d = ctx;
    double step = num(j, "step"), loss = num(j, "loss");
    if (isnan(step) || isnan(loss)) return 0;
    double mtp = num(j, "mtp_loss");
    fprintf(d->tr, "%.0f %.6g %.6g\n", step, loss, isnan(mtp) ? 0.0 : mtp);
    double vl = num(j, "val_loss");
    if (!isnan(vl)) fprintf(d->va, "%.0f %.6g %.6g\n", step, vl, num(j, "val_bpb"));
    const cJSON *mv = cJSON_GetObjectItemCaseSensitive(j, "maxvio");
    if (cJSON_IsArray(mv) && cJSON_GetArraySize(mv) > 0) {
        d->nl = cJSON_GetArraySize(mv);
        fprintf(d->ld, "%.0f", step);
        for (const cJSON *e = mv->child; e; e = e->next) fprintf(d->ld, " %.6g", e->valuedouble);
        fprintf(d->ld, "\n");
    }
    return 0;
}

static int run_gnuplot(const char *script) {
    char *argv[] = {"gnuplot", (char *)script, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int report_charts(const char *metrics_path, const char *out_dir, int *loss_png, int *load_png) {
    *loss_png = *load_png = 0;
    TRY(io_mkdir_p(out_dir));
    char *ptr = path_join(out_dir, "train.dat"), *pva = path_join(out_dir, "val.dat"), *pld = path_join(out_dir, "expert_load.dat");
    Dat d = {fopen(ptr, "w"), fopen(pva, "w"), fopen(pld, "w"), 0};
    int rc = 0;
    if (!d.tr || !d.va || !d.ld) rc = fail("cannot write chart data in %s", out_dir);
    if (rc == 0) rc = each_line(metrics_path, dat_line, &d);
    if (d.tr) fclose(d.tr);
    if (d.va) fclose(d.va);
    if (d.ld) fclose(d.ld);
    size_t vsz = 0;
    io_file_size(pva, &vsz);
    if (rc == 0) {
        char *lpng = path_join(out_dir, "loss.png"), *epng = path_join(out_dir, "expert_load.png");
        char *gp = path_join(out_dir, "charts.gp");
        FILE *f = fopen(gp, "w");
        if (f) {
            fprintf(f, "set terminal pngcairo size 900,500 noenhanced\nset grid\nset key top right\n");
            fprintf(f, "set output '%s'\nset title 'training loss'\nset xlabel 'step'\nset ylabel 'cross-entropy (nats)'\n", lpng);
            fprintf(f, "plot '%s' using 1:2 with lines lw 1 title 'train loss', '%s' using 1:3 with lines lw 1 title 'MTP loss'", ptr, ptr);
            if (vsz > 0) fprintf(f, ", '%s' using 1:2 with linespoints lw 2 pt 7 title 'validation loss'", pva);
            fprintf(f, "\n");
            if (d.nl > 0) {
                fprintf(f, "set output '%s'\nset title 'expert-load imbalance per MoE layer (MaxVio = (max load - mean) / mean)'\n", epng);
                fprintf(f, "set ylabel 'MaxVio'\nplot ");
                for (int l = 0; l < d.nl; l++)
                    fprintf(f, "%s'%s' using 1:%d with lines title 'MoE layer %d'", l ? ", " : "", pld, l + 2, l + 1);
                fprintf(f, "\n");
            }
            fclose(f);
            run_gnuplot(gp);
            *loss_png = io_exists(lpng);
            *load_png = d.nl > 0 && io_exists(epng);
            if (!*loss_png) {   // pngcairo may be absent: retry with the libgd png terminal
                char *s; size_t n;
                if (io_read_all(gp, &s, &n) == 0) {
                    char *p = strstr(s, "pngcairo");
                    if (p) { memcpy(p, "png     ", 8); io_write_file(gp, s, n); run_gnuplot(gp); }
                    free(s);
                }
                *loss_png = io_exists(lpng);
                *load_png = d.nl > 0 && io_exists(epng);
            }
        }
        free(lpng); free(epng); free(gp);
    }
    free(ptr); free(pva); free(pld);
    return rc;
}

int report_write_run(const char *run_dir, const char *title) {
    char *mp = path_join(run_dir, "metrics.jsonl");
    MetricsSummary s;
    int rc = report_summarize(mp, &s);
    int lp = 0, ep = 0;
    if (rc == 0) rc = report_charts(mp, run_dir, &lp, &ep);
    free(mp);
    TRY(rc);
    size_t cap = 8192, len = 0;
    char *md = xmalloc(cap);
#define APPEND(...) do { int need_ = snprintf(NULL, 0, __VA_ARGS__); \
        while (len + (size_t)need_ + 1 > cap) { cap *= 2; md = xrealloc(md, cap); } \
        len += (size_t)sprintf(md + len, __VA_ARGS__); } while (0)
    APPEND("# %s\n\n| | |\n|---|---|\n", title);
    APPEND("| steps | %lld |\n| tokens | %llu |\n", (long long)s.steps, (unsigned long long)s.tokens);
    APPEND("| loss (first 10 steps → last 10) | %.4f → %.4f |\n", s.first_loss, s.last_loss);
    if (isfinite(s.last_val_loss))
        APPEND("| validation loss | %.4f |\n| validation bits per byte (last / best) | %.4f / %.4f |\n", s.last_val_loss, s.last_val_bpb, s.best_val_bpb);
    else
        APPEND("| validation loss | not measured (no validation shards) |\n");
    APPEND("| tokens/s (median) | %.0f |\n| MFU vs measured sgemm (median) | %.1f%% |\n", s.tok_per_s, 100 * s.mfu);
    if (s.n_moe_layers) APPEND("| expert-load MaxVio, last 10 steps | %.3f |\n", s.last_maxvio);
    if (s.skipped) APPEND("| steps skipped (NaN/Inf) | %lld |\n", (long long)s.skipped);
    APPEND("| wall time | %.1f min |\n\n", s.elapsed_s / 60);
    if (lp) APPEND("![loss](loss.png)\n\n");
    if (ep) APPEND("![expert load](expert_load.png)\n\n");
    if (!lp) APPEND("(no charts: gnuplot is not installed; `apt-get install gnuplot-nox`)\n\n");
#undef APPEND
    char *rp = path_join(run_dir, "report.md");
    rc = io_write_file(rp, md, len);
    free(rp); free(md);
    return rc;
}
