// bench/fma_peak.c — the core's FP32 arithmetic ceiling: 12 independent chains of 8-lane FMAs (AVX2), the most
// any AVX2 FP32 kernel (sgemm, the lane GEMM, training) can reach on one core; on AVX-512 builds also 16-lane FMAs.
// Prints GFLOP/s, best of 7 runs of 4.8 GFLOP each, thread CPU time (time spent descheduled on a shared machine does not count).
//   build/bench/fma_peak
#include <stdio.h>
#include <string.h>
#include <time.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

// NAME(check): best GFLOP/s of 7 runs of 12 FMA chains on vectors of type VT (LANES floats; SET1 / FMADD its
// intrinsics), 4.8 GFLOP each; *check gets lanes of the result, so that nothing is folded away.
#define DEFINE_PEAK(NAME, VT, LANES, SET1, FMADD)                                                                        \
    static double NAME(float *check) {                                                                                 \
        VT a0 = SET1(1.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0,    \
           a11 = a0;                                                                                                   \
        const VT b = SET1(0.999999f), c = SET1(1e-7f);                                                                 \
        const long n = 4800000000L / (12 * 2 * (LANES));                                                               \
        double best = 0;                                                                                               \
        for (int rep = 0; rep < 7; rep++) {                                                                            \
            double t = cpu_now();                                                                                      \
            for (long i = 0; i < n; i++) {                                                                             \
                a0 = FMADD(a0, b, c); a1 = FMADD(a1, b, c); a2 = FMADD(a2, b, c); a3 = FMADD(a3, b, c);                  \
                a4 = FMADD(a4, b, c); a5 = FMADD(a5, b, c); a6 = FMADD(a6, b, c); a7 = FMADD(a7, b, c);                  \
                a8 = FMADD(a8, b, c); a9 = FMADD(a9, b, c); a10 = FMADD(a10, b, c); a11 = FMADD(a11, b, c);              \
                __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7),    \
                                 "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));   /* all 12 chains stay in registers */     \
            }                                                                                                          \
            t = cpu_now() - t;                                                                                         \
            double g = n * 12.0 * 2 * (LANES) / t / 1e9;                                                               \
            if (g > best) best = g;                                                                                    \
        }                                                                                                              \
        float x[LANES], y[LANES];                                                                                      \
        memcpy(x, &a0, sizeof x); memcpy(y, &a11, sizeof y);                                                           \
        *check = x[0] + y[1];                                                                                          \
        return best;                                                                                                   \
    }

DEFINE_PEAK(peak256, __m256, 8, _mm256_set1_ps, _mm256_fmadd_ps)
#ifdef __AVX512F__
// 16-lane FMAs: on CPUs with two 512-bit FMA units (Ice Lake and later Xeons) twice the AVX2 figure, on others about
// the same; the AVX-512 kernels (kernels/lanegemm.c) are judged against this one.
DEFINE_PEAK(peak512, __m512, 16, _mm512_set1_ps, _mm512_fmadd_ps)
#endif

int main(void) {
    float check;
    double p = peak256(&check);
    printf("FP32 FMA peak, 1 thread: %.1f GFLOP/s (best of 7; checksum %.3f)\n", p, check);
#ifdef __AVX512F__
    p = peak512(&check);
    printf("FP32 FMA peak with 512-bit FMAs (AVX-512), 1 thread: %.1f GFLOP/s (best of 7; checksum %.3f)\n", p, check);
#endif
    return 0;
}
#else
int main(void) {
    printf("fma_peak: this build has no AVX2/FMA\n");
    return 0;
}
#endif
