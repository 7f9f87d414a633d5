// tokenizer_json.c — read a Hugging Face tokenizer.json (+ tokenizer_config.json)
// into a Tokenizer; write the tokenizer.json / tokenizer_config.json of a trained one.
#include "data/bpe_tokenizer.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include <stdlib.h>
#include <string.h>

static const char *SUPPORTED =
    "supported: model BPE (vocab, merges as \"a b\" strings or [a, b] lists, unk_token, fuse_unk, ignore_merges; "
    "no dropout, continuing_subword_prefix, end_of_word_suffix or byte_fallback); normalizer null, NFC, NFKC or a "
    "Sequence of them; pre_tokenizer ByteLevel, Split (Regex or String pattern, any behavior, invert) or a Sequence "
    "of them, with a ByteLevel step; decoder null or ByteLevel; added tokens without lstrip/rstrip/single_word";

// Byte offset of the first occurrence of "needle" (quoted) in the file text, for messages.
static long where(const char *text, size_t len, const char *needle) {
    if (!needle) return -1;
    char q[256];
    snprintf(q, sizeof q, "\"%s\"", needle);
    const char *p = memmem(text, len, q, strlen(q));
    return p ? (long)(p - text) : -1;
}

typedef struct { const char *path, *text; size_t len; } Ctx;

static int unsupported(const Ctx *c, const char *needle, const char *fmt, const char *what) {
    long off = where(c->text, c->len, needle);
    char at[64] = "";
    if (off >= 0) snprintf(at, sizeof at, " (byte %ld)", off);
    return fail("%s%s: unsupported %s \"%s\"; %s", c->path, at, fmt, what ? what : "?", SUPPORTED);
}

static int bad(const Ctx *c, const char *needle, const char *msg) {
    long off = where(c->text, c->len, needle);
    if (off >= 0) return fail("%s (byte %ld): %s", c->path, off, msg);
    return fail("%s: %s", c->path, msg);
}

static const char *type_of(const cJSON *o) {
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(ty) ? ty->valuestring : NULL;
}

static int load_normalizer(const Ctx *c, const cJSON *o, Normalizer *nz) {
    if (!o || cJSON_IsNull(o)) return 0;
    const char *ty = type_of(o);
    if (!ty) return bad(c, "normalizer", "normalizer has no \"type\"");
    if (!strcmp(ty, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "normalizers"), *e;
        if (!cJSON_IsArray(arr)) return bad(c, "normalizers", "normalizer Sequence needs a \"normalizers\" list");
        cJSON_ArrayForEach(e, arr) TRY(load_normalizer(c, e, nz));
        return 0;
    }
    int k = !strcmp(ty, "NFC") ? NORM_NFC : !strcmp(ty, "NFKC") ? NORM_NFKC : 0;
    if (!k) return unsupported(c, ty, "normalizer", ty);
    if (nz->n >= 8) return bad(c, "normalizers", "more than 8 normalizers");
    nz->kind[nz->n++] = k;
    return 0;
}

static int behavior_of(const char *b) {
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    for (int i = 0; i < 5; i++) if (!strcmp(b, names[i])) return i;
    return -1;
}

static int load_pretok(const Ctx *c, const cJSON *o, Pretok *p) {
    if (!o || cJSON_IsNull(o)) return 0;
    const char *ty = type_of(o);
    if (!ty) return bad(c, "pre_tokenizer", "pre_tokenizer has no \"type\"");
    if (!strcmp(ty, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "pretokenizers"), *e;
        if (!cJSON_IsArray(arr)) return bad(c, "pretokenizers", "pre_tokenizer Sequence needs a \"pretokenizers\" list");
        cJSON_ArrayForEach(e, arr) TRY(load_pretok(c, e, p));
        return 0;
    }
    if (!strcmp(ty, "ByteLevel")) {
        int aps = 0, ur = 1;
        TRY(json_bool_opt(o, "add_prefix_space", c->path, 0, &aps));
        TRY(json_bool_opt(o, "use_regex", c->path, 1, &ur));
        if (pretok_add_bytelevel(p, aps, ur) < 0) return fail_ctx("%s: ", c->path);
        return 0;
    }
    if (!strcmp(ty, "Split")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(o, "pattern");
        const cJSON *re = pat ? cJSON_GetObjectItemCaseSensitive(pat, "Regex") : NULL;
        const cJSON *st = pat ? cJSON_GetObjectItemCaseSensitive(pat, "String") : NULL;
        const char *bs; int inv = 0;
        TRY(json_str_req(o, "behavior", c->path, &bs));
        TRY(json_bool_opt(o, "invert", c->path, 0, &inv));
        int b = behavior_of(bs);
        if (b < 0) return unsupported(c, bs, "Split behavior", bs);
        if (cJSON_IsString(re)) {
            if (pretok_add_split_regex(p, re->valuestring, b, inv) < 0) {
                long off = where(c->text, c->len, "Regex");
                return fail_ctx("%s (byte %ld): ", c->path, off);
            }
        } else if (cJSON_IsString(st)) {
            pretok_add_split_literal(p, st->valuestring, strlen(st->valuestring), b, inv);
        } else {
            return bad(c, "Split", "Split needs \"pattern\": {\"Regex\": ...} or {\"String\": ...}");
        }
        return 0;
    }
    return unsupported(c, ty, "pre_tokenizer", ty);
}

static int is_dsv3(const Pretok *p) {
    if (p->n != 4) return 0;
    const char *pats[3] = {PRETOK_DSV3_DIGITS, PRETOK_DSV3_CJK, PRETOK_DSV3_MAIN};
    for (int i = 0; i < 3; i++)
        if (p->steps[i].kind != PT_SPLIT || !p->steps[i].re || p->steps[i].behavior != SPLIT_ISOLATED ||
            p->steps[i].invert || strcmp(p->steps[i].pattern, pats[i])) return 0;
    return p->steps[3].kind == PT_BYTELEVEL && !p->steps[3].add_prefix_space && !p->steps[3].use_regex;
}

// Token string from a config value: "x" or {"content": "x"}.
static const char *config_token(const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) { const cJSON *s = cJSON_GetObjectItemCaseSensitive(v, "content"); if (cJSON_IsString(s)) return s->valuestring; }
    return NULL;
}

static uint64_t next_uid = 2;

static int build(const Ctx *c, const cJSON *root, Tokenizer *t) {
    if (!cJSON_IsObject(root)) return bad(c, NULL, "the top level is not a JSON object");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return bad(c, "model", "no \"model\" object");
    const char *mt = type_of(model);
    if (mt && strcmp(mt, "BPE")) return unsupported(c, mt, "model type", mt);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsObject(vocab)) return bad(c, "vocab", "model has no \"vocab\" object (BPE needs one)");
    if (!cJSON_IsArray(merges)) return bad(c, "merges", "model has no \"merges\" list (BPE needs one)");
    const cJSON *x;
    if ((x = cJSON_GetObjectItemCaseSensitive(model, "dropout")) && !cJSON_IsNull(x) && !(cJSON_IsNumber(x) && x->valuedouble == 0))
        return unsupported(c, "dropout", "BPE option", "dropout");
    if ((x = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix")) && !cJSON_IsNull(x) && !(cJSON_IsString(x) && !*x->valuestring))
        return unsupported(c, "continuing_subword_prefix", "BPE option", "continuing_subword_prefix");
    if ((x = cJSON_GetObjectItemCaseSensitive(model, "end_of_word_suffix")) && !cJSON_IsNull(x) && !(cJSON_IsString(x) && !*x->valuestring))
        return unsupported(c, "end_of_word_suffix", "BPE option", "end_of_word_suffix");
    if ((x = cJSON_GetObjectItemCaseSensitive(model, "byte_fallback")) && cJSON_IsTrue(x))
        return unsupported(c, "byte_fallback", "BPE option", "byte_fallback");
    // size: the largest id among vocab and added tokens
    long long maxid = -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 16777216 || e->valuedouble != (double)(long long)e->valuedouble)
            return bad(c, e->string, "a vocab id is not an integer in 0..16777216");
        if ((long long)e->valuedouble > maxid) maxid = (long long)e->valuedouble;
    }
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added)) return bad(c, "added_tokens", "\"added_tokens\" is not a list");
    cJSON_ArrayForEach(e, added) {
        long long id;
        if (json_int_req(e, "id", c->path, &id) < 0) return fail_ctx("in added_tokens: ");
        if (id < 0 || id > 16777216) return bad(c, "added_tokens", "an added token id is out of range 0..16777216");
        if (id > maxid) maxid = id;
    }
    if (maxid < 0) return bad(c, "vocab", "the vocabulary is empty");
    bpe_model_init(&t->bpe, (int32_t)(maxid + 1));
    bpe_map_init(&t->raw_to_id, (size_t)maxid + 1);
    cJSON_ArrayForEach(e, vocab) {
        int32_t id = (int32_t)e->valuedouble;
        size_t n = strlen(e->string);
        if (bpe_model_set_token(&t->bpe, id, e->string, n) < 0) {
            char msg[160]; snprintf(msg, sizeof msg, "vocab id %d is used by two tokens", id);
            return bad(c, e->string, msg);
        }
        *bpe_map_put(&t->raw_to_id, e->string, n, id, NULL) = id;
    }
    cJSON_ArrayForEach(e, added) {
        const char *content; long long id; int single = 0, lstrip = 0, rstrip = 0, norm = 1, special = 0;
        TRY(json_str_req(e, "content", c->path, &content));
        json_int_req(e, "id", c->path, &id);
        TRY(json_bool_opt(e, "single_word", c->path, 0, &single));
        TRY(json_bool_opt(e, "lstrip", c->path, 0, &lstrip));
        TRY(json_bool_opt(e, "rstrip", c->path, 0, &rstrip));
        TRY(json_bool_opt(e, "special", c->path, 0, &special));
        TRY(json_bool_opt(e, "normalized", c->path, !special, &norm));
        if (single || lstrip || rstrip) return unsupported(c, content, "added token option (single_word/lstrip/rstrip) on", content);
        size_t n = strlen(content);
        if (!t->bpe.present[id]) bpe_model_set_token(&t->bpe, (int32_t)id, content, n);
        // an added token decodes to its content (HF's ByteLevel decoder keeps non-byte-level strings as they are)
        *bpe_map_put(&t->raw_to_id, content, n, id, NULL) = id;
        t->added = xrealloc(t->added, (size_t)(t->n_added + 1) * sizeof *t->added);
        t->added[t->n_added++] = (AddedTok){xstrdup(content), n, (int32_t)id, special, norm};
    }
    // merges
    int32_t rank = 0;
    cJSON_ArrayForEach(e, merges) {
        const char *a, *b; size_t an, bn;
        char *tmp = NULL;
        if (cJSON_IsString(e)) {
            const char *sp = strchr(e->valuestring, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                char msg[200]; snprintf(msg, sizeof msg, "merge #%d \"%.60s\" is not two tokens separated by one space", rank, e->valuestring);
                return bad(c, e->valuestring, msg);
            }
            tmp = xstrdup(e->valuestring);
            a = tmp; an = (size_t)(sp - e->valuestring); tmp[an] = 0;
            b = tmp + an + 1; bn = strlen(b);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(cJSON_GetArrayItem(e, 0)) && cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            a = cJSON_GetArrayItem(e, 0)->valuestring; an = strlen(a);
            b = cJSON_GetArrayItem(e, 1)->valuestring; bn = strlen(b);
        } else {
            char msg[120]; snprintf(msg, sizeof msg, "merge #%d is neither \"a b\" nor [\"a\", \"b\"]", rank);
            return bad(c, "merges", msg);
        }
        int64_t *ia = bpe_map_find(&t->raw_to_id, a, an), *ib = bpe_map_find(&t->raw_to_id, b, bn);
        char *ab = xmalloc(an + bn + 1);
        memcpy(ab, a, an); memcpy(ab + an, b, bn); ab[an + bn] = 0;
        int64_t *iab = bpe_map_find(&t->raw_to_id, ab, an + bn);
        if (!ia || !ib || !iab) {
            char msg[300];
            snprintf(msg, sizeof msg, "merge #%d (\"%.40s\" + \"%.40s\") uses a token missing from the vocabulary", rank, a, b);
            free(ab);
            int r = bad(c, a, msg);
            free(tmp);
            return r;
        }
        bpe_model_add_merge(&t->bpe, (int32_t)*ia, (int32_t)*ib, (int32_t)*iab, rank);
        free(ab); free(tmp);
        rank++;
    }
    const char *unk = NULL;
    TRY(json_str_opt(model, "unk_token", c->path, NULL, &unk));
    if (unk) { int64_t *u = bpe_map_find(&t->raw_to_id, unk, strlen(unk)); t->bpe.unk_id = u ? (int32_t)*u : -1; }
    TRY(json_bool_opt(model, "fuse_unk", c->path, 0, &t->bpe.fuse_unk));
    TRY(json_bool_opt(model, "ignore_merges", c->path, 0, &t->bpe.ignore_merges));
    TRY(load_normalizer(c, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), &t->norm));
    TRY(load_pretok(c, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), &t->pre));
    if (!t->pre.has_bytelevel) return unsupported(c, "pre_tokenizer", "pre_tokenizer without a ByteLevel step:", "pre_tokenizer");
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    if (dec && !cJSON_IsNull(dec)) {
        const char *dt = type_of(dec);
        if (!dt || strcmp(dt, "ByteLevel")) return unsupported(c, dt, "decoder", dt);
    }
    // normalized added tokens are matched in normalized text: match their normalized form (as HF does)
    for (int i = 0; i < t->n_added && t->norm.n; i++) {
        if (!t->added[i].normalized) continue;
        char *ns; size_t nn;
        if (norm_apply(&t->norm, t->added[i].s, t->added[i].n, &ns, &nn) < 0) return fail_ctx("%s: added token: ", c->path);
        free(t->added[i].s);
        t->added[i].s = ns; t->added[i].n = nn;
    }
    tok_index_added(t);
    t->chunk_safe = is_dsv3(&t->pre) && t->norm.n == 0;
    for (int i = 0; i < t->n_added; i++) if (memchr(t->added[i].s, '\n', t->added[i].n)) t->chunk_safe = 0;
    return 0;
}

int tok_load(const char *path, Tokenizer **out) {
    *out = NULL;
    char *file = NULL, *cfgpath = NULL;
    if (io_is_dir(path)) {
        file = path_join(path, "tokenizer.json");
        cfgpath = path_join(path, "tokenizer_config.json");
    } else {
        file = xstrdup(path);
        const char *sl = strrchr(path, '/');
        if (sl) { char *dir = strndup(path, (size_t)(sl - path)); cfgpath = path_join(dir, "tokenizer_config.json"); free(dir); }
        else cfgpath = xstrdup("tokenizer_config.json");
    }
    char *text; size_t len;
    if (io_read_all(file, &text, &len) < 0) { free(file); free(cfgpath); return -1; }
    cJSON *root;
    if (json_parse(text, len, file, &root) < 0) { free(text); free(file); free(cfgpath); return -1; }
    Tokenizer *t = xcalloc(1, sizeof *t);
    t->uid = __atomic_fetch_add(&next_uid, 1, __ATOMIC_RELAXED);
    Ctx c = {file, text, len};
    int rc = build(&c, root, t);
    cJSON_Delete(root);
    free(text);
    if (rc < 0) { tok_free(t); free(file); free(cfgpath); return -1; }
    // special tokens: tokenizer_config.json if present, else deepc's spellings
    t->bos = tok_token_id(t, TOK_BOS); t->eos = tok_token_id(t, TOK_EOS); t->pad = tok_token_id(t, TOK_PAD);
    if (io_exists(cfgpath)) {
        cJSON *cfg;
        if (json_load_file(cfgpath, &cfg) < 0) { tok_free(t); free(file); free(cfgpath); return -1; }
        const char *s;
        if ((s = config_token(cfg, "bos_token"))) t->bos = tok_token_id(t, s);
        if ((s = config_token(cfg, "eos_token"))) t->eos = tok_token_id(t, s);
        if ((s = config_token(cfg, "pad_token"))) t->pad = tok_token_id(t, s);
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
        if (cJSON_IsString(ct)) t->chat_template = xstrdup(ct->valuestring);
        cJSON_Delete(cfg);
    }
    free(file); free(cfgpath);
    *out = t;
    return 0;
}
