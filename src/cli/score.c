// score.c — `deepc score`: per-token log-probabilities and perplexity as JSON lines.
#include "base/args.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include "cli/cli.h"
#include "data/tokenizer.h"
#include "kernels/softmax.h"
#include "model/model.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Ids from a JSON array text.
static int parse_ids(const char *s, int32_t **ids, int *n) {
    cJSON *j;
    TRY(json_parse(s, strlen(s), "--tokens", &j));
    if (!cJSON_IsArray(j)) { cJSON_Delete(j); return fail("--tokens: expected a JSON array of token ids"); }
    int k = cJSON_GetArraySize(j);
    *ids = xmalloc(sizeof(int32_t) * (k ? k : 1));
    *n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0) {
            cJSON_Delete(j); free(*ids);
            return fail("--tokens: element %d is not a non-negative integer", *n);
        }
        (*ids)[(*n)++] = (int32_t)e->valuedouble;
    }
    cJSON_Delete(j);
    return 0;
}

int cmd_score(int argc, char **argv) {
    Opt o[] = {
        {"--model", "DIR", "model folder", NULL, NULL, 0},
        {"--text", "S", "text to score (needs the folder's tokenizer.json)", NULL, NULL, 0},
        {"--file", "F", "file whose text to score", NULL, NULL, 0},
        {"--tokens", "JSON", "token ids, e.g. [0, 17, 42]", NULL, NULL, 0},
    };
    int n = sizeof o / sizeof *o;
    const char *usage = "usage: deepc score --model DIR (--text S | --file F | --tokens JSON)";
    args_parse(argc, argv, o, n, usage, NULL, NULL);
    const char *dir = opt_str(o, n, "--model"), *text = opt_str(o, n, "--text"), *file = opt_str(o, n, "--file");
    const char *toks = opt_str(o, n, "--tokens");
    if (!dir || (!!text + !!file + !!toks) != 1) { args_usage(usage, o, n); return 2; }
    Model m;
    if (model_load(dir, &m) < 0) fatal_last();
    int32_t *ids = NULL; int nt = 0;
    Tokenizer *tok = NULL;
    if (toks) {
        if (parse_ids(toks, &ids, &nt) < 0) fatal_last();
    } else {
        char *buf = NULL; size_t len;
        if (file) { if (io_read_all(file, &buf, &len) < 0) fatal_last(); }
        else { buf = xstrdup(text); len = strlen(text); }
        if (tok_load(dir, &tok) < 0) fatal("%s (use --tokens to score ids without a tokenizer)", last_error());
        size_t k;
        int32_t *enc;
        if (tok_encode(tok, buf, len, 0, &enc, &k) < 0) fatal_last();
        int32_t bos = tok_bos(tok);
        ids = xmalloc(sizeof(int32_t) * (k + 1));
        nt = 0;
        if (bos >= 0) ids[nt++] = bos;
        memcpy(ids + nt, enc, sizeof(int32_t) * k);
        nt += (int)k;
        free(enc); free(buf);
    }
    if (nt < 2) fatal("need at least 2 tokens to score (got %d)", nt);
    if (nt > m.c.max_position_embeddings) fatal("%d tokens exceed the model's context of %d", nt, m.c.max_position_embeddings);
    int V = m.c.vocab_size;
    for (int i = 0; i < nt; i++) if (ids[i] >= V) fatal("token %d at position %d is outside the vocabulary [0, %d)", ids[i], i, V);
    int32_t *tgt = xmalloc(sizeof(int32_t) * nt);
    for (int i = 0; i < nt; i++) tgt[i] = i + 1 < nt ? ids[i + 1] : -1;
    float *logits = xmalloc(sizeof(float) * (size_t)nt * V);
    StepOpts so = {0, 0, 0, logits};
    StepOut out;
    if (model_step(&m, ids, tgt, 1, nt, &so, &out) < 0) fatal_last();
    double sum = 0;
    for (int i = 0; i + 1 < nt; i++) {
        float *l = logits + (size_t)i * V;
        softmax_row(l, V);
        double lp = log(fmax(l[ids[i + 1]], 1e-38));
        sum += lp;
        printf("{\"position\": %d, \"token\": %d", i + 1, ids[i + 1]);
        if (tok) {
            const char *b; size_t bl;
            if (tok_token_bytes(tok, ids[i + 1], &b, &bl) == 0) {
                char *s = xmalloc(bl + 1);
                memcpy(s, b, bl); s[bl] = 0;
                cJSON *js = cJSON_CreateString(s);
                char *q = cJSON_PrintUnformatted(js);
                printf(", \"text\": %s", q);
                free(q); cJSON_Delete(js); free(s);
            }
        }
        printf(", \"logprob\": %.6f}\n", lp);
    }
    printf("{\"tokens\": %d, \"mean_logprob\": %.6f, \"perplexity\": %.4f}\n", nt - 1, sum / (nt - 1), exp(-sum / (nt - 1)));
    free(ids); free(tgt); free(logits);
    if (tok) tok_free(tok);
    model_free(&m);
    return 0;
}
