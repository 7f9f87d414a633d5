// tool_infer.c — helper driven by tests/ref/test_infer*.py: load a model folder,
// prefill a prompt, then decode given tokens one at a time with the cache, and
// write every position's logits as raw float32 [P + n_decode, V] to a file.
//   tool_infer DIR OUT.f32 ATTN(absorbed|naive|auto) PROMPT_IDS DECODE_IDS
//   (ids comma-separated; DECODE_IDS may be "-")
//   tool_infer sample LOGITS.f32 OUT.f32 V TEMP TOP_K TOP_P MIN_P REP_PENALTY HIST_IDS
//   writes the sampler's distribution [V] for the logits [V].
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/check.h"
#include "infer/engine.h"
#include "infer/sampler.h"

static int parse_ids(const char *s, int32_t *out, int cap) {
    int n = 0;
    if (!strcmp(s, "-")) return 0;
    while (*s && n < cap) {
        out[n++] = (int32_t)strtol(s, (char **)&s, 10);
        if (*s == ',') s++;
    }
    return n;
}

static int sample_mode(int argc, char **argv) {
    if (argc != 11) { fprintf(stderr, "usage: tool_infer sample LOGITS OUT V TEMP TOP_K TOP_P MIN_P REP HIST\n"); return 2; }
    int V = atoi(argv[4]);
    float *lg = xmalloc(sizeof(float) * V), *p = xmalloc(sizeof(float) * V);
    FILE *f = fopen(argv[2], "rb");
    if (!f || fread(lg, sizeof(float), V, f) != (size_t)V) fatal("cannot read %s", argv[2]);
    fclose(f);
    SamplerOpts o = sampler_defaults();
    o.temperature = atof(argv[5]); o.top_k = atoi(argv[6]); o.top_p = atof(argv[7]); o.min_p = atof(argv[8]);
    o.repetition_penalty = atof(argv[9]);
    static int32_t hist[4096];
    int nh = parse_ids(argv[10], hist, 4096);
    Sampler s;
    sampler_init(&s, &o, V);
    sampler_distribution(&s, lg, hist, nh, p);
    f = fopen(argv[3], "wb");
    if (!f || fwrite(p, sizeof(float), V, f) != (size_t)V) fatal("cannot write %s", argv[3]);
    fclose(f);
    sampler_free(&s); free(lg); free(p);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "sample")) return sample_mode(argc, argv);
    if (argc != 6) { fprintf(stderr, "usage: tool_infer DIR OUT ATTN PROMPT_IDS DECODE_IDS\n"); return 2; }
    InferModel m;
    if (infer_model_load(argv[1], &m) < 0) fatal_last();
    Engine e; engine_init(&e, &m);
    e.attn_mode = !strcmp(argv[3], "naive") ? ATTN_NAIVE : !strcmp(argv[3], "absorbed") ? ATTN_ABSORBED : ATTN_AUTO;
    if (e.attn_mode == ATTN_AUTO) e.naive_min_tokens = 4;
    static int32_t p[4096], d[4096];
    int np = parse_ids(argv[4], p, 4096), nd = parse_ids(argv[5], d, 4096);
    int V = m.c.vocab_size;
    float *lg = xmalloc(sizeof(float) * (size_t)(np + nd) * V);
    KVCache kv; engine_kv_init(&e, &kv, 0);
    SeqChunk ch = {&kv, p, np};
    if (engine_forward(&e, &ch, 1, lg, 1, NULL) < 0) fatal_last();
    for (int i = 0; i < nd; i++) {
        ch = (SeqChunk){&kv, d + i, 1};
        if (engine_forward(&e, &ch, 1, lg + (size_t)(np + i) * V, 0, NULL) < 0) fatal_last();
    }
    FILE *f = fopen(argv[2], "wb");
    if (!f || fwrite(lg, sizeof(float), (size_t)(np + nd) * V, f) != (size_t)(np + nd) * V) fatal("cannot write %s", argv[2]);
    fclose(f);
    kv_free(&kv); free(lg); infer_model_free(&m);
    return 0;
}
