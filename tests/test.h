// test.h — the smallest test harness that does the job.
//
//   TEST(name) { CHECK(x == 1, "x was %d", x); }
//   int main(void) { RUN(name); return test_summary(); }
//
// Each RUN prints "PASS name" or "FAIL name"; tests/run.sh counts those lines
// across all test programs and prints the closing "N passed, N failed".
#pragma once
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static int test_failed_checks = 0, test_passed = 0, test_failed = 0;

// The run's random seed: DEEPC_TEST_SEED when set, else fresh (time and process id); printed so a failure can be
// repeated.
static inline uint64_t test_seed(void) {
    const char *s = getenv("DEEPC_TEST_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    printf("# seed %llu (set DEEPC_TEST_SEED to repeat)\n", (unsigned long long)seed);
    return seed;
}

#define TEST(name) static void name(void)

#define CHECK(cond, ...) do { \
    if (!(cond)) { \
        test_failed_checks++; \
        printf("  check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
        printf(__VA_ARGS__); printf("\n"); fflush(stdout); \
    } } while (0)

// Relative error max|a-b| / max(max|b|, tiny) over n elements.
static inline double rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > num || d != d) num = d;
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return num / (den > 1e-30 ? den : 1e-30);
}

#define RUN(name) do { \
    int before_ = test_failed_checks; \
    name(); \
    if (test_failed_checks == before_) { test_passed++; printf("PASS %s\n", #name); } \
    else { test_failed++; printf("FAIL %s\n", #name); } \
    fflush(stdout); } while (0)

static inline int test_summary(void) {
    printf("# %d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}
