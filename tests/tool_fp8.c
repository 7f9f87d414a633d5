// tool_fp8.c — drives kernels/fp8 for tests/ref/test_fp8.py (PyTorch reference).
//   tool_fp8 encode           stdin: n float32  -> stdout: e4m3 scalar [n], e4m3 row [n], e5m2 [n] bytes
//   tool_fp8 decode           stdout: float32 e4m3 scalar [256], e4m3 table [256], e4m3 row [256], e5m2 [256], e5m2 table [256]
//   tool_fp8 act M K UE8M0    stdin: x float32 [M, K] -> stdout: q [M, K] bytes, s float32 [M, ceil(K/128)]
//   tool_fp8 weight R C UE8M0 stdin: w float32 [R, C] -> stdout: q [R, C] bytes, s float32 [ceil(R/128), ceil(C/128)]
//   tool_fp8 half            stdin: n float32  -> stdout: uint16 f16 scalar [n], f16 row [n], bf16 scalar [n], bf16 row [n],
//                             then float32 decodes of all 65536 codes: f16 scalar, f16 row, bf16 scalar, bf16 row
//   tool_fp8 q8|q4 R C        stdin: w float32 [R, C] -> stdout: codes (int8 [R, C] | uint8 [R, C/2]), fp16 scales [R, C/32]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "kernels/bf16.h"
#include "kernels/fp8.h"
#include "kernels/quant.h"

static float *read_floats(size_t *n) {
    size_t cap = 1 << 16, len = 0;
    float *x = xmalloc(cap * sizeof(float));
    size_t got;
    while ((got = fread(x + len, sizeof(float), cap - len, stdin)) > 0) {
        len += got;
        if (len == cap) { cap *= 2; x = xrealloc(x, cap * sizeof(float)); }
    }
    *n = len;
    return x;
}

static void put(const void *p, size_t n) {
    if (fwrite(p, 1, n, stdout) != n) fatal("tool_fp8: short write to stdout");
}

int main(int argc, char **argv) {
    if (argc < 2) fatal("usage: tool_fp8 encode|decode|act M K UE8M0|weight R C UE8M0");
    if (!strcmp(argv[1], "encode")) {
        size_t n;
        float *x = read_floats(&n);
        uint8_t *q = xmalloc(n + 1);
        for (size_t i = 0; i < n; i++) q[i] = fp8_e4m3_from_f32(x[i]);
        put(q, n);
        fp8_e4m3_encode_row(x, q, n);
        put(q, n);
        for (size_t i = 0; i < n; i++) q[i] = fp8_e5m2_from_f32(x[i]);
        put(q, n);
        free(x); free(q);
    } else if (!strcmp(argv[1], "decode")) {
        float out[256];
        uint8_t codes[256];
        for (int i = 0; i < 256; i++) { codes[i] = (uint8_t)i; out[i] = fp8_e4m3_to_f32((uint8_t)i); }
        put(out, sizeof out);
        put(fp8_e4m3_table(), sizeof out);
        fp8_e4m3_decode_row(codes, 1.0f, out, 256);
        put(out, sizeof out);
        for (int i = 0; i < 256; i++) out[i] = fp8_e5m2_to_f32((uint8_t)i);
        put(out, sizeof out);
        put(fp8_e5m2_table(), sizeof out);
    } else if ((!strcmp(argv[1], "act") || !strcmp(argv[1], "weight")) && argc == 5) {
        int R = atoi(argv[2]), C = atoi(argv[3]), ue = atoi(argv[4]);
        size_t n;
        float *x = read_floats(&n);
        if (R <= 0 || C <= 0 || n != (size_t)R * C) fatal("tool_fp8: expected %d x %d floats, got %zu", R, C, n);
        int nc = (C + 127) / 128, ns = !strcmp(argv[1], "act") ? R * nc : ((R + 127) / 128) * nc;
        uint8_t *q = xmalloc(n);
        float *s = xmalloc((size_t)ns * sizeof(float));
        if (!strcmp(argv[1], "act")) fp8_quant_act(x, R, C, q, s, ue);
        else fp8_quant_weight(x, R, C, q, s, ue);
        put(q, n);
        put(s, (size_t)ns * sizeof(float));
        free(x); free(q); free(s);
    } else if (!strcmp(argv[1], "half")) {
        size_t n;
        float *x = read_floats(&n);
        uint16_t *h = xmalloc(n * 2 + 2);
        for (size_t i = 0; i < n; i++) h[i] = f16_from_f32(x[i]);
        put(h, n * 2);
        f16_from_f32_row(x, h, n);
        put(h, n * 2);
        for (size_t i = 0; i < n; i++) h[i] = bf16_from_f32(x[i]);
        put(h, n * 2);
        bf16_from_f32_row(x, h, n);
        put(h, n * 2);
        uint16_t *codes = xmalloc(65536 * 2);
        float *f = xmalloc(65536 * 4);
        for (int i = 0; i < 65536; i++) codes[i] = (uint16_t)i;
        for (int i = 0; i < 65536; i++) f[i] = f16_to_f32((uint16_t)i);
        put(f, 65536 * 4);
        f16_to_f32_row(codes, f, 65536);
        put(f, 65536 * 4);
        for (int i = 0; i < 65536; i++) f[i] = bf16_to_f32((uint16_t)i);
        put(f, 65536 * 4);
        bf16_to_f32_row(codes, f, 65536);
        put(f, 65536 * 4);
        free(x); free(h); free(codes); free(f);
    } else if ((!strcmp(argv[1], "q8") || !strcmp(argv[1], "q4")) && argc == 4) {
        int R = atoi(argv[2]), C = atoi(argv[3]), is4 = argv[1][1] == '4';
        size_t n;
        float *x = read_floats(&n);
        if (R <= 0 || C <= 0 || C % 32 || n != (size_t)R * C) fatal("tool_fp8: expected %d x %d floats (C %% 32 == 0), got %zu", R, C, n);
        size_t qb = is4 ? n / 2 : n;
        uint8_t *q = xmalloc(qb);
        uint16_t *d = xmalloc(n / 32 * 2);
        for (int r = 0; r < R; r++) {
            if (is4) q4_quantize_row(x + (size_t)r * C, C, q + (size_t)r * C / 2, d + (size_t)r * C / 32);
            else q8_quantize_row(x + (size_t)r * C, C, (int8_t *)q + (size_t)r * C, d + (size_t)r * C / 32);
        }
        put(q, qb);
        put(d, n / 32 * 2);
        free(x); free(q); free(d);
    } else {
        fatal("tool_fp8: unknown mode '%s'", argv[1]);
    }
    return 0;
}
