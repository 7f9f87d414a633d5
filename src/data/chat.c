// chat.c — render chat messages to token ids with a loss mask on assistant content.
#include "data/chat.h"
#include "data/bpe.h"
#include "base/check.h"
#include <stdlib.h>
#include <string.h>

static void push(IdVec *ids, IdVec *mask, int32_t id, int m) { idvec_push(ids, id); idvec_push(mask, m); }

int chat_encode(const Tokenizer *t, const ChatMsg *msgs, size_t n_msgs, int add_generation_prompt,
                int32_t **ids_out, uint8_t **mask_out, size_t *n_out) {
    int32_t bos = tok_bos(t), eos = tok_eos(t);
    int32_t rs = tok_token_id(t, TOK_SYSTEM), ru = tok_token_id(t, TOK_USER), ra = tok_token_id(t, TOK_ASSISTANT);
    if (bos < 0 || eos < 0 || rs < 0 || ru < 0 || ra < 0)
        return fail("this tokenizer lacks deepc's chat tokens (BOS, EOS, %s, %s, %s); train one with `deepc tokenizer train`",
                    TOK_SYSTEM, TOK_USER, TOK_ASSISTANT);
    IdVec ids = {0}, mask = {0};
    push(&ids, &mask, bos, 0);
    for (size_t i = 0; i < n_msgs; i++) {
        const char *r = msgs[i].role, *c = msgs[i].content ? msgs[i].content : "";
        int assistant = 0;
        if (!strcmp(r, "system")) push(&ids, &mask, rs, 0);
        else if (!strcmp(r, "user")) push(&ids, &mask, ru, 0);
        else if (!strcmp(r, "assistant")) { push(&ids, &mask, ra, 0); assistant = 1; }
        else { free(ids.v); free(mask.v); return fail("message %zu has role \"%s\"; roles are system, user, assistant", i, r); }
        int32_t *x; size_t k;
        if (tok_encode(t, c, strlen(c), 0, &x, &k) < 0) { free(ids.v); free(mask.v); return -1; }
        for (size_t j = 0; j < k; j++) push(&ids, &mask, x[j], assistant);
        free(x);
        if (assistant) push(&ids, &mask, eos, 1);
    }
    if (add_generation_prompt) push(&ids, &mask, ra, 0);
    uint8_t *m = xmalloc(ids.n + 1);
    for (size_t i = 0; i < ids.n; i++) m[i] = (uint8_t)mask.v[i];
    free(mask.v);
    *ids_out = ids.v; *mask_out = m; *n_out = ids.n;
    return 0;
}
