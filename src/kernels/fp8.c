// fp8.c — E4M3 / E5M2 codecs, 1x128 and 128x128 block scaling, blockwise FP8 GEMM (spec §6).
#include "kernels/fp8.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "base/check.h"
#include "kernels/gemm.h"

static inline uint32_t f2u(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static inline float u2f(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

// ---- scalar codecs ---------------------------------------------------------------------------

uint8_t fp8_e4m3_from_f32(float x) {
    uint32_t b = f2u(x);
    uint8_t sign = (uint8_t)((b >> 24) & 0x80u);
    b &= 0x7fffffffu;
    if (b > 0x7f800000u) return (uint8_t)(sign | 0x7fu);           // NaN
    if (b >= 0x43e00000u) return (uint8_t)(sign | 0x7eu);          // >= 448 (and inf): saturate
    if (b < 0x3c800000u)                                            // below 2^-6: subnormal, unit 2^-9
        return (uint8_t)(sign | (uint8_t)nearbyintf(u2f(b) * 512.0f));
    uint32_t r = b - (120u << 23);                                  // rebias 127 -> 7
    r += 0x7ffffu + ((r >> 20) & 1u);                               // RNE on the 20 dropped bits
    return (uint8_t)(sign | (r >> 20));
}

float fp8_e4m3_to_f32(uint8_t q) {
    uint32_t sign = (uint32_t)(q & 0x80u) << 24;
    uint32_t e = (q >> 3) & 15u, m = q & 7u;
    if (e == 15 && m == 7) return u2f(sign | 0x7fc00000u);
    if (e == 0) return u2f(sign | f2u((float)m * (1.0f / 512.0f)));
    return u2f(sign | ((e + 120u) << 23) | (m << 20));
}

uint8_t fp8_e5m2_from_f32(float x) {
    uint32_t b = f2u(x);
    uint8_t sign = (uint8_t)((b >> 24) & 0x80u);
    b &= 0x7fffffffu;
    if (b > 0x7f800000u) return (uint8_t)(sign | 0x7fu);           // NaN
    if (b >= 0x47600000u) return (uint8_t)(sign | 0x7bu);          // >= 57344 (and inf): saturate
    if (b < 0x38800000u)                                            // below 2^-14: subnormal, unit 2^-16
        return (uint8_t)(sign | (uint8_t)nearbyintf(u2f(b) * 65536.0f));
    uint32_t r = b - (112u << 23);                                  // rebias 127 -> 15
    r += 0xfffffu + ((r >> 21) & 1u);
    return (uint8_t)(sign | (r >> 21));
}

float fp8_e5m2_to_f32(uint8_t q) {
    uint32_t sign = (uint32_t)(q & 0x80u) << 24;
    uint32_t e = (q >> 2) & 31u, m = q & 3u;
    if (e == 31) return u2f(sign | (m ? 0x7fc00000u : 0x7f800000u));
    if (e == 0) return u2f(sign | f2u((float)m * (1.0f / 65536.0f)));
    return u2f(sign | ((e + 112u) << 23) | (m << 21));
}

static float e4m3_tab[256], e5m2_tab[256];
static pthread_once_t tabs_once = PTHREAD_ONCE_INIT;

static void build_tables(void) {
    for (int i = 0; i < 256; i++) {
        e4m3_tab[i] = fp8_e4m3_to_f32((uint8_t)i);
        e5m2_tab[i] = fp8_e5m2_to_f32((uint8_t)i);
    }
}

const float *fp8_e4m3_table(void) {
    pthread_once(&tabs_once, build_tables);
    return e4m3_tab;
}

const float *fp8_e5m2_table(void) {
    pthread_once(&tabs_once, build_tables);
    return e5m2_tab;
}

// ---- rows ------------------------------------------------------------------------------------

#if defined(__AVX2__)
// 8 floats -> 8 E4M3 codes, the same algorithm as fp8_e4m3_from_f32, lane-wise.
static inline void e4m3_encode8(__m256 x, uint8_t *out) {
    const __m256i absm = _mm256_set1_epi32(0x7fffffff);
    __m256i b = _mm256_castps_si256(x);
    __m256i a = _mm256_and_si256(b, absm);
    __m256i sign = _mm256_srli_epi32(_mm256_andnot_si256(absm, b), 24);
    __m256i isnan = _mm256_cmpgt_epi32(a, _mm256_set1_epi32(0x7f800000));
    __m256i issat = _mm256_cmpgt_epi32(a, _mm256_set1_epi32(0x43e00000 - 1));
    __m256i issub = _mm256_cmpgt_epi32(_mm256_set1_epi32(0x3c800000), a);
    __m256 af = _mm256_castsi256_ps(a);
    __m256i qsub = _mm256_cvtps_epi32(_mm256_mul_ps(af, _mm256_set1_ps(512.0f)));   // RNE (MXCSR default)
    __m256i r = _mm256_sub_epi32(a, _mm256_set1_epi32(120 << 23));
    r = _mm256_add_epi32(r, _mm256_add_epi32(_mm256_set1_epi32(0x7ffff),
                                             _mm256_and_si256(_mm256_srli_epi32(r, 20), _mm256_set1_epi32(1))));
    __m256i q = _mm256_srli_epi32(r, 20);
    q = _mm256_blendv_epi8(q, qsub, issub);
    q = _mm256_blendv_epi8(q, _mm256_set1_epi32(0x7e), issat);
    q = _mm256_blendv_epi8(q, _mm256_set1_epi32(0x7f), isnan);
    q = _mm256_or_si256(q, sign);
    const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    q = _mm256_shuffle_epi8(q, pick);
    uint32_t lo = (uint32_t)_mm256_extract_epi32(q, 0), hi = (uint32_t)_mm256_extract_epi32(q, 4);
    memcpy(out, &lo, 4);
    memcpy(out + 4, &hi, 4);
}

#if defined(__F16C__)
// 8 E4M3 codes -> 8 floats (exact; NaN codes give NaN).
static inline __m256 e4m3_decode8(const uint8_t *p) {
    __m128i b = _mm_loadl_epi64((const __m128i *)p);
    __m128i h = _mm_unpacklo_epi8(_mm_setzero_si128(), b);                 // code in the high byte
    __m128i isnan = _mm_cmpeq_epi16(_mm_and_si128(h, _mm_set1_epi16(0x7f00)), _mm_set1_epi16(0x7f00));
    h = _mm_and_si128(_mm_srai_epi16(h, 1), _mm_set1_epi16((short)0xbf80)); // s.0eeee.mmm -> fp16 bits
    __m256 f = _mm256_mul_ps(_mm256_cvtph_ps(h), _mm256_set1_ps(256.0f));  // rebias 15 -> 7
    __m256 nanm = _mm256_castsi256_ps(_mm256_cvtepi16_epi32(isnan));
    return _mm256_blendv_ps(f, _mm256_set1_ps(NAN), nanm);
}
#endif
#endif

void fp8_e4m3_encode_row(const float *x, uint8_t *q, size_t n) {
    size_t i = 0;
#if defined(__AVX2__)
    for (; i + 8 <= n; i += 8) e4m3_encode8(_mm256_loadu_ps(x + i), q + i);
#endif
    for (; i < n; i++) q[i] = fp8_e4m3_from_f32(x[i]);
}

void fp8_e4m3_decode_row(const uint8_t *q, float scale, float *x, size_t n) {
    size_t i = 0;
#if defined(__AVX2__) && defined(__F16C__)
    __m256 s = _mm256_set1_ps(scale);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(e4m3_decode8(q + i), s));
#endif
    const float *t = fp8_e4m3_table();
    for (; i < n; i++) x[i] = t[q[i]] * scale;
}

// q[i] = e4m3(x[i] / s) for n values.
static void encode_scaled(const float *x, size_t n, float s, uint8_t *q) {
    size_t i = 0;
#if defined(__AVX2__)
    __m256 sv = _mm256_set1_ps(s);
    for (; i + 8 <= n; i += 8) e4m3_encode8(_mm256_div_ps(_mm256_loadu_ps(x + i), sv), q + i);
#endif
    for (; i < n; i++) q[i] = fp8_e4m3_from_f32(x[i] / s);
}

static float amax_row(const float *x, size_t n) {
    float m = 0;
    size_t i = 0;
#if defined(__AVX2__)
    __m256 mv = _mm256_setzero_ps(), absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_and_ps(_mm256_loadu_ps(x + i), absm));
    float t[8];
    _mm256_storeu_ps(t, mv);
    for (int j = 0; j < 8; j++) m = t[j] > m ? t[j] : m;
#endif
    for (; i < n; i++) { float a = fabsf(x[i]); m = a > m ? a : m; }
    return m;
}

float fp8_scale_from_amax(float amax, int ue8m0) {
    if (!(amax >= FP8_AMAX_MIN)) amax = FP8_AMAX_MIN;     // also maps NaN to the clamp
    float s = amax / FP8_E4M3_MAX;
    if (ue8m0) {
        uint32_t b = f2u(s);                               // s is a positive normal float
        if (b & 0x7fffffu) b = (b & 0x7f800000u) + 0x800000u;   // 2^ceil(log2 s)
        s = u2f(b);
    }
    return s;
}

// ---- 1x128 activation tiles --------------------------------------------------------------------

void fp8_quant_act(const float *x, int M, int K, uint8_t *q, float *s, int ue8m0) {
    int nkb = (K + FP8_BLOCK - 1) / FP8_BLOCK;
    #pragma omp parallel for schedule(static) if ((size_t)M * K > 65536)
    for (int m = 0; m < M; m++) {
        for (int kb = 0; kb < nkb; kb++) {
            int k0 = kb * FP8_BLOCK, len = K - k0 < FP8_BLOCK ? K - k0 : FP8_BLOCK;
            const float *xs = x + (size_t)m * K + k0;                  // [len]
            float sc = fp8_scale_from_amax(amax_row(xs, (size_t)len), ue8m0);
            s[(size_t)m * nkb + kb] = sc;
            encode_scaled(xs, (size_t)len, sc, q + (size_t)m * K + k0);
        }
    }
}

void fp8_dequant_act(const uint8_t *q, const float *s, int M, int K, float *x) {
    int nkb = (K + FP8_BLOCK - 1) / FP8_BLOCK;
    #pragma omp parallel for schedule(static) if ((size_t)M * K > 65536)
    for (int m = 0; m < M; m++)
        for (int kb = 0; kb < nkb; kb++) {
            int k0 = kb * FP8_BLOCK, len = K - k0 < FP8_BLOCK ? K - k0 : FP8_BLOCK;
            fp8_e4m3_decode_row(q + (size_t)m * K + k0, s[(size_t)m * nkb + kb], x + (size_t)m * K + k0, (size_t)len);
        }
}

// ---- 128x128 weight blocks ---------------------------------------------------------------------

void fp8_quant_weight(const float *w, int R, int C, uint8_t *q, float *s, int ue8m0) {
    int nrb = (R + FP8_BLOCK - 1) / FP8_BLOCK, ncb = (C + FP8_BLOCK - 1) / FP8_BLOCK;
    #pragma omp parallel for schedule(static) if ((size_t)R * C > 65536)
    for (int blk = 0; blk < nrb * ncb; blk++) {
        int rb = blk / ncb, cb = blk % ncb;
        int r0 = rb * FP8_BLOCK, r1 = r0 + FP8_BLOCK < R ? r0 + FP8_BLOCK : R;
        int c0 = cb * FP8_BLOCK, len = C - c0 < FP8_BLOCK ? C - c0 : FP8_BLOCK;
        float a = 0;
        for (int r = r0; r < r1; r++) {
            float ar = amax_row(w + (size_t)r * C + c0, (size_t)len);
            a = ar > a ? ar : a;
        }
        float sc = fp8_scale_from_amax(a, ue8m0);
        s[blk] = sc;
        for (int r = r0; r < r1; r++) encode_scaled(w + (size_t)r * C + c0, (size_t)len, sc, q + (size_t)r * C + c0);
    }
}

void fp8_dequant_weight(const uint8_t *q, const float *s, int R, int C, float *w) {
    int ncb = (C + FP8_BLOCK - 1) / FP8_BLOCK;
    #pragma omp parallel for schedule(static) if ((size_t)R * C > 65536)
    for (int r = 0; r < R; r++)
        for (int cb = 0; cb < ncb; cb++) {
            int c0 = cb * FP8_BLOCK, len = C - c0 < FP8_BLOCK ? C - c0 : FP8_BLOCK;
            fp8_e4m3_decode_row(q + (size_t)r * C + c0, s[(size_t)(r / FP8_BLOCK) * ncb + cb], w + (size_t)r * C + c0, (size_t)len);
        }
}

// ---- blockwise GEMM --------------------------------------------------------------------------

void fp8_gemm_ref(const uint8_t *qa, const float *sa, int M, int K,
                  const uint8_t *qb, const float *sb, int N, float *C) {
    const float *t = fp8_e4m3_table();
    int nkb = (K + FP8_BLOCK - 1) / FP8_BLOCK;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            float acc = 0;
            for (int kb = 0; kb < nkb; kb++) {
                int k0 = kb * FP8_BLOCK, k1 = k0 + FP8_BLOCK < K ? k0 + FP8_BLOCK : K;
                float p = 0;
                for (int k = k0; k < k1; k++) p += t[qa[(size_t)m * K + k]] * t[qb[(size_t)n * K + k]];
                acc += p * sa[(size_t)m * nkb + kb] * sb[(size_t)(n / FP8_BLOCK) * nkb + kb];
            }
            C[(size_t)m * N + n] = acc;
        }
}

void fp8_gemm(const uint8_t *qa, const float *sa, int M, int K,
              const uint8_t *qb, const float *sb, int N, float *C) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { memset(C, 0, (size_t)M * N * sizeof(float)); return; }
    float *A = xmalloc_aligned((size_t)M * K * sizeof(float));     // [M, K] dequantized
    fp8_dequant_act(qa, sa, M, K, A);
    int nkb = (K + FP8_BLOCK - 1) / FP8_BLOCK;
    int panel = 4 * FP8_BLOCK;                                     // B rows decoded at a time
    float *Bp = xmalloc_aligned((size_t)panel * K * sizeof(float)); // [panel, K]
    for (int n0 = 0; n0 < N; n0 += panel) {
        int pn = N - n0 < panel ? N - n0 : panel;
        fp8_dequant_weight(qb + (size_t)n0 * K, sb + (size_t)(n0 / FP8_BLOCK) * nkb, pn, K, Bp);
        gemm(0, 1, M, pn, K, 1.0f, A, K, Bp, K, 0.0f, C + n0, N);
    }
    free(A);
    free(Bp);
}
