// progress.h — progress for long work: a bar with rate and ETA on a terminal,
// plain lines (at most one every few seconds) when stderr is a log file.
#pragma once
#include <stdint.h>

typedef struct {
    const char *label, *unit;   // "tokenize", "MB"
    double total;               // 0 = unknown
    double done;
    double t0, t_last;          // seconds (monotonic)
    int tty;
    int quiet;
} Progress;

void progress_start(Progress *p, const char *label, double total, const char *unit);
void progress_update(Progress *p, double done);       // absolute amount done
void progress_add(Progress *p, double delta);
void progress_end(Progress *p);                       // final line with totals
// Monotonic seconds since an arbitrary origin.
double now_seconds(void);
