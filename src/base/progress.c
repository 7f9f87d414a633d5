// progress.c — terminal progress bar / log lines with rate and ETA.
#include "base/progress.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void progress_start(Progress *p, const char *label, double total, const char *unit) {
    p->label = label; p->unit = unit; p->total = total; p->done = 0;
    p->t0 = p->t_last = now_seconds();
    p->tty = isatty(2);
    p->quiet = getenv("DEEPC_QUIET") != NULL;
}

static void fmt_time(char *b, size_t n, double s) {
    if (s < 0 || s > 1e7) { snprintf(b, n, "--:--"); return; }
    int t = (int)(s + 0.5);
    if (t >= 3600) snprintf(b, n, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else snprintf(b, n, "%02d:%02d", t / 60, t % 60);
}

static void draw(Progress *p, int final) {
    double el = now_seconds() - p->t0;
    double rate = el > 0 ? p->done / el : 0;
    char eta[32], ela[32];
    fmt_time(ela, sizeof ela, el);
    fmt_time(eta, sizeof eta, p->total > 0 && rate > 0 ? (p->total - p->done) / rate : -1);
    if (p->tty) {
        char bar[31];
        int w = 30, fill = p->total > 0 ? (int)(w * p->done / p->total) : 0;
        if (fill > w) fill = w;
        for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
        bar[w] = 0;
        if (p->total > 0)
            fprintf(stderr, "\r%s [%s] %5.1f%% %.4g/%.4g %s  %.4g %s/s  %s elapsed, ETA %s   ", p->label, bar,
                    100 * p->done / p->total, p->done, p->total, p->unit, rate, p->unit, ela, eta);
        else
            fprintf(stderr, "\r%s %.4g %s  %.4g %s/s  %s elapsed   ", p->label, p->done, p->unit, rate, p->unit, ela);
        if (final) fprintf(stderr, "\n");
    } else {
        fprintf(stderr, "%s: %.6g%s%.6g %s, %.4g %s/s, %s elapsed%s%s\n", p->label, p->done,
                p->total > 0 ? "/" : "", p->total > 0 ? p->total : 0.0, p->unit, rate, p->unit, ela,
                p->total > 0 && !final ? ", ETA " : "", p->total > 0 && !final ? eta : "");
    }
    fflush(stderr);
}

void progress_update(Progress *p, double done) {
    p->done = done;
    if (p->quiet) return;
    double t = now_seconds();
    double every = p->tty ? 0.1 : 5.0;
    if (t - p->t_last < every) return;
    p->t_last = t;
    draw(p, 0);
}

void progress_add(Progress *p, double delta) { progress_update(p, p->done + delta); }

void progress_end(Progress *p) {
    if (p->quiet) return;
    draw(p, 1);
}
