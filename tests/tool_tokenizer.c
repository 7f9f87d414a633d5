// tool_tokenizer.c — helper for tests/ref/test_tokenizer*.py: encode a batch of texts
// with deepc's tokenizer and check decode(encode(x)) == x, in one process.
//   tool_tokenizer TOKENIZER IN OUT [allow_special]
// IN:  records [u32 byte length][bytes]...
// OUT: records [u32 id count][i32 ids...][u8 1 if the round trip gave the same bytes]...
//   tool_tokenizer --chat TOKENIZER IN.json OUT.jsonl
// IN.json: [{"messages": [{"role", "content"}...], "add_generation_prompt": bool}...]
// OUT.jsonl: one {"ids": [...], "mask": [...]} per conversation (or {"error": "..."})
// Exit 1 with a message if the tokenizer does not load.
#include "data/tokenizer.h"
#include "data/chat.h"
#include "base/json.h"
#include "base/check.h"
#include "base/io.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int chat_mode(int argc, char **argv) {
    if (argc < 5) fatal("usage: tool_tokenizer --chat TOKENIZER IN.json OUT.jsonl");
    Tokenizer *t;
    if (tok_load(argv[2], &t) < 0) fatal_last();
    cJSON *root;
    if (json_load_file(argv[3], &root) < 0) fatal_last();
    FILE *f = fopen(argv[4], "w");
    if (!f) fatal("cannot write %s", argv[4]);
    const cJSON *conv;
    cJSON_ArrayForEach(conv, root) {
        const cJSON *msgs = cJSON_GetObjectItem(conv, "messages"), *m;
        int gen = cJSON_IsTrue(cJSON_GetObjectItem(conv, "add_generation_prompt"));
        size_t n = (size_t)cJSON_GetArraySize(msgs), k = 0;
        ChatMsg *cm = xcalloc(n + 1, sizeof *cm);
        cJSON_ArrayForEach(m, msgs) {
            cm[k].role = cJSON_GetObjectItem(m, "role")->valuestring;
            cm[k].content = cJSON_GetObjectItem(m, "content")->valuestring;
            k++;
        }
        int32_t *ids; uint8_t *mask; size_t len;
        if (chat_encode(t, cm, n, gen, &ids, &mask, &len) < 0) {
            cJSON *e = cJSON_CreateObject(); cJSON_AddStringToObject(e, "error", last_error());
            char *s = cJSON_PrintUnformatted(e); fprintf(f, "%s\n", s); free(s); cJSON_Delete(e);
        } else {
            fputs("{\"ids\": [", f);
            for (size_t i = 0; i < len; i++) fprintf(f, i ? ", %d" : "%d", ids[i]);
            fputs("], \"mask\": [", f);
            for (size_t i = 0; i < len; i++) fprintf(f, i ? ", %d" : "%d", mask[i]);
            fputs("]}\n", f);
            free(ids); free(mask);
        }
        free(cm);
    }
    fclose(f);
    cJSON_Delete(root);
    tok_free(t);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--chat")) return chat_mode(argc, argv);
    if (argc < 4) { fprintf(stderr, "usage: tool_tokenizer TOKENIZER IN OUT [allow_special]\n"); return 2; }
    Tokenizer *t;
    if (tok_load(argv[1], &t) < 0) fatal_last();
    int allow = argc > 4 ? atoi(argv[4]) : 1;
    char *in; size_t n;
    if (io_read_all(argv[2], &in, &n) < 0) fatal_last();
    FILE *f = fopen(argv[3], "wb");
    if (!f) fatal("cannot write %s", argv[3]);
    size_t p = 0;
    while (p + 4 <= n) {
        uint32_t len; memcpy(&len, in + p, 4); p += 4;
        if (p + len > n) fatal("%s: truncated record at byte %zu", argv[2], p);
        int32_t *ids; size_t k;
        if (tok_encode(t, in + p, len, allow, &ids, &k) < 0) fatal_last();
        char *back; size_t bl;
        uint8_t ok = 0;
        if (tok_decode(t, ids, k, &back, &bl) == 0) { ok = bl == len && !memcmp(back, in + p, len); free(back); }
        uint32_t k32 = (uint32_t)k;
        fwrite(&k32, 4, 1, f); fwrite(ids, 4, k, f); fwrite(&ok, 1, 1, f);
        free(ids);
        p += len;
    }
    fclose(f);
    free(in);
    tok_free(t);
    return 0;
}
