// session.c — model + tokenizer for generate / chat (see session.h).
#include "infer/session.h"
#include <stdlib.h>
#include <string.h>
#include "base/check.h"
#include "base/io.h"
#include "base/progress.h"
#include "infer/generate.h"

int session_open(const char *dir, const char *dtype, Session *s) {
    memset(s, 0, sizeof *s);
    double t0 = now_seconds();
    if (!io_is_dir(dir)) return fail("model folder \"%s\" does not exist or is not a folder", dir);
    char *tj = path_join(dir, "tokenizer.json");
    int has = io_exists(tj);
    free(tj);
    if (!has) return fail("model folder \"%s\" has no tokenizer.json: generation needs the model's tokenizer "
                          "(copy it into the folder, or train one with `deepc tokenizer train`)", dir);
    if (tok_load(dir, &s->tok) < 0) return fail_ctx("model folder %s: tokenizer: ", dir);
    if (infer_model_load(dir, &s->m) < 0) { tok_free(s->tok); s->tok = NULL; return -1; }
    if (tok_vocab_size(s->tok) > s->m.c.vocab_size) {
        int rc = fail("model folder %s: the tokenizer has %d tokens but the model's vocabulary is %d", dir,
                      tok_vocab_size(s->tok), s->m.c.vocab_size);
        session_close(s);
        return rc;
    }
    if (dtype && strcmp(dtype, "native")) {
        QType t;
        if (qtype_parse(dtype, &t) < 0) { session_close(s); return fail_ctx("--dtype: "); }
        if (infer_model_convert(&s->m, t) < 0) { session_close(s); return fail_ctx("converting to %s: ", dtype); }
    }
    s->t_load = now_seconds() - t0;
    proc_memory(&s->rss, &s->peak);
    return 0;
}

void session_close(Session *s) {
    infer_model_free(&s->m);
    if (s->tok) tok_free(s->tok);
    memset(s, 0, sizeof *s);
}
