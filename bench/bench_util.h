// bench_util.h — small helpers the engine benchmarks share (header only: every bench/*.c is its own program).
//   bench_process_cpu()   CPU seconds of the whole process (all threads)
//   bench_thread_cpu()    CPU seconds of the calling thread
//   bench_cmp_double      qsort comparator for doubles (medians, quartiles)
//   bench_parse_list      "a,b,c" -> out[k] (at most cap items of 15 characters)
#pragma once
#include <time.h>

static inline double bench_process_cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static inline double bench_thread_cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static inline int bench_parse_list(const char *s, char out[][16], int cap) {
    int n = 0;
    while (*s && n < cap) {
        int k = 0;
        while (*s && *s != ',' && k < 15) out[n][k++] = *s++;
        out[n++][k] = 0;
        if (*s == ',') s++;
    }
    return n;
}
