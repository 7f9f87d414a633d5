// bench/fma_peak.c — the core's FP32 arithmetic ceiling: 12 independent chains of 8-lane FMAs (AVX2), the most
// any AVX2 FP32 kernel (sgemm, the lane GEMM, training) can reach on one core; on AVX-512 builds also 16-lane FMAs.
// Prints GFLOP/s, best of 7 runs of 4.8 GFLOP each, thread CPU time (time spent descheduled on a shared machine does not count).
//   build/bench/fma_peak
#include <stdio.h>
#include <time.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

#ifdef __AVX512F__
// The same with 16-lane FMAs: on CPUs with two 512-bit FMA units (Ice Lake and later Xeons) twice the AVX2 figure,
// on others about the same; the AVX-512 kernels (kernels/lanegemm.c) are judged against this one.
static void peak512(void) {
    __m512 a0 = _mm512_set1_ps(1.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0,
           a10 = a0, a11 = a0;
    const __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    const long n = 12500000;                           // 12 FMAs of 32 FLOP per step: 4.8 GFLOP per run
    double best = 0;
    for (int rep = 0; rep < 7; rep++) {
        double t = cpu_now();
        for (long i = 0; i < n; i++) {
            a0 = _mm512_fmadd_ps(a0, b, c); a1 = _mm512_fmadd_ps(a1, b, c); a2 = _mm512_fmadd_ps(a2, b, c);
            a3 = _mm512_fmadd_ps(a3, b, c); a4 = _mm512_fmadd_ps(a4, b, c); a5 = _mm512_fmadd_ps(a5, b, c);
            a6 = _mm512_fmadd_ps(a6, b, c); a7 = _mm512_fmadd_ps(a7, b, c); a8 = _mm512_fmadd_ps(a8, b, c);
            a9 = _mm512_fmadd_ps(a9, b, c); a10 = _mm512_fmadd_ps(a10, b, c); a11 = _mm512_fmadd_ps(a11, b, c);
            __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7), "+v"(a8),
                             "+v"(a9), "+v"(a10), "+v"(a11));
        }
        t = cpu_now() - t;
        double g = n * 12.0 * 32 / t / 1e9;
        if (g > best) best = g;
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(a0, a11), _mm512_add_ps(a5, a6));
    printf("FP32 FMA peak with 512-bit FMAs (AVX-512), 1 thread: %.1f GFLOP/s (best of 7; checksum %.3f)\n", best,
           _mm512_reduce_add_ps(s));
}
#endif

int main(void) {
    __m256 a0 = _mm256_set1_ps(1.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0,
           a10 = a0, a11 = a0;
    const __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    const long n = 25000000;                           // 12 FMAs of 16 FLOP per step: 4.8 GFLOP per run
    double best = 0;
    for (int rep = 0; rep < 7; rep++) {
        double t = cpu_now();
        for (long i = 0; i < n; i++) {
            a0 = _mm256_fmadd_ps(a0, b, c); a1 = _mm256_fmadd_ps(a1, b, c); a2 = _mm256_fmadd_ps(a2, b, c);
            a3 = _mm256_fmadd_ps(a3, b, c); a4 = _mm256_fmadd_ps(a4, b, c); a5 = _mm256_fmadd_ps(a5, b, c);
            a6 = _mm256_fmadd_ps(a6, b, c); a7 = _mm256_fmadd_ps(a7, b, c); a8 = _mm256_fmadd_ps(a8, b, c);
            a9 = _mm256_fmadd_ps(a9, b, c); a10 = _mm256_fmadd_ps(a10, b, c); a11 = _mm256_fmadd_ps(a11, b, c);
            __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7), "+x"(a8),
                             "+x"(a9), "+x"(a10), "+x"(a11));   // keep all 12 chains in registers, none folded away
        }
        t = cpu_now() - t;
        double g = n * 12.0 * 16 / t / 1e9;
        if (g > best) best = g;
    }
    float s[8];
    _mm256_storeu_ps(s, _mm256_add_ps(_mm256_add_ps(a0, a11), _mm256_add_ps(a5, a6)));
    printf("FP32 FMA peak, 1 thread: %.1f GFLOP/s (best of 7; checksum %.3f)\n", best, s[0]);
#ifdef __AVX512F__
    peak512();
#endif
    return 0;
}
#else
int main(void) {
    printf("fma_peak: this build has no AVX2/FMA\n");
    return 0;
}
#endif
