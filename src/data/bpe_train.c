// bpe_train.c — byte-level BPE training (Hugging Face BpeTrainer's algorithm and
// tie-breaking, so merges agree), and writing tokenizer.json / tokenizer_config.json.
#include "data/bpe_train.h"
#include "data/bpe.h"
#include "data/bpe_tokenizer.h"
#include "data/tokenizer.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include "base/progress.h"
#include <omp.h>
#include <stdlib.h>
#include <string.h>

// ---- word counting
static void count_doc(const Pretok *pre, const char *s, size_t n, BpeMap *m, Pieces *ps) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n) { size_t k = utf8_valid_char(u + j, n - j); if (!k) break; j += k; }
        if (j > i) {
            pretok_run(pre, s + i, j - i, ps);
            for (size_t p = 0; p < ps->n; p++) (*bpe_map_put(m, ps->buf + ps->v[p].off, ps->v[p].len, 0, NULL))++;
        }
        size_t b = j;
        while (j < n && !utf8_valid_char(u + j, n - j)) j++;
        if (j > b) (*bpe_map_put(m, s + b, j - b, 0, NULL))++;
        i = j;
    }
}

void bpe_count_words(const Pretok *pre, const char *const *docs, const size_t *lens, size_t n, BpeMap *counts, int quiet) {
    double total = 0;
    for (size_t i = 0; i < n; i++) total += (double)lens[i];
    Progress pg;
    progress_start(&pg, "pre-tokenize", total / 1e6, "MB");
    pg.quiet = quiet;
    int nth = omp_get_max_threads();
    BpeMap *local = xcalloc((size_t)nth, sizeof *local);
    // split big documents so that threads share the work: whole documents, dynamic schedule
    double done = 0;   // MB counted so far (atomic adds; the master thread shows it)
    #pragma omp parallel num_threads(nth)
    {
        int me = omp_get_thread_num();
        bpe_map_init(&local[me], 1 << 16);
        Pieces ps = {0};
        #pragma omp for schedule(dynamic, 1)
        for (size_t i = 0; i < n; i++) {
            count_doc(pre, docs[i], lens[i], &local[me], &ps);
            #pragma omp atomic
            done += (double)lens[i] / 1e6;
            if (me == 0) {
                double d;
                #pragma omp atomic read
                d = done;
                progress_update(&pg, d);
            }
        }
        pieces_free(&ps);
    }
    for (int t = 0; t < nth; t++) {
        for (size_t s = 0; s < local[t].cap; s++) {
            const BpeSlot *sl = &local[t].slot[s];
            if (!sl->hash) continue;
            *bpe_map_put_h(counts, bpe_map_key(&local[t], s), sl->klen, sl->hash, 0, NULL) += sl->val;
        }
        bpe_map_free(&local[t]);
    }
    free(local);
    progress_update(&pg, total / 1e6);
    progress_end(&pg);
}

// ---- training
typedef struct { int64_t count; int32_t a, b; } HeapE;

static inline int heap_gt(HeapE x, HeapE y) {   // x pops before y
    if (x.count != y.count) return x.count > y.count;
    if (x.a != y.a) return x.a < y.a;
    return x.b < y.b;
}
static void hpush(HeapE **h, size_t *n, size_t *cap, HeapE e) {
    if (*n == *cap) { *cap = *cap ? *cap * 2 : 1024; *h = xrealloc(*h, *cap * sizeof **h); }
    size_t i = (*n)++;
    while (i > 0) { size_t p = (i - 1) / 2; if (!heap_gt(e, (*h)[p])) break; (*h)[i] = (*h)[p]; i = p; }
    (*h)[i] = e;
}
static HeapE hpop(HeapE *h, size_t *n) {
    HeapE top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i; HeapE best = last;
        if (l < *n && heap_gt(h[l], best)) { s = l; best = h[l]; }
        if (r < *n && heap_gt(h[r], best)) s = r;
        if (s == i) break;
        h[i] = h[s]; i = s;
    }
    if (*n) h[i] = last;
    return top;
}

// pair → index map (open addressing over u64 keys)
typedef struct { uint64_t *key; int32_t *idx; size_t cap, n; } PairIdx;
static inline uint64_t pkey(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1); }
static inline uint64_t pmix(uint64_t x) { x ^= x >> 31; x *= 0x9E3779B97F4A7C15ULL; x ^= x >> 29; return x; }
static void pi_grow(PairIdx *p) {
    size_t oc = p->cap; uint64_t *ok = p->key; int32_t *oi = p->idx;
    p->cap = oc ? oc * 2 : 1 << 16;
    p->key = xcalloc(p->cap, sizeof *p->key); p->idx = xmalloc(p->cap * sizeof *p->idx);
    for (size_t i = 0; i < oc; i++) if (ok[i]) {
        size_t j = pmix(ok[i]) & (p->cap - 1);
        while (p->key[j]) j = (j + 1) & (p->cap - 1);
        p->key[j] = ok[i]; p->idx[j] = oi[i];
    }
    free(ok); free(oi);
}
// index of pair, creating it (as *next) if absent
static int32_t pi_get(PairIdx *p, int32_t a, int32_t b, int32_t *next) {
    if ((p->n + 1) * 2 > p->cap) pi_grow(p);
    uint64_t k = pkey(a, b);
    size_t j = pmix(k) & (p->cap - 1);
    while (p->key[j] && p->key[j] != k) j = (j + 1) & (p->cap - 1);
    if (p->key[j] == k) return p->idx[j];
    p->key[j] = k; p->idx[j] = (*next)++; p->n++;
    return p->idx[j];
}

typedef struct { int32_t *v; uint32_t n, cap; } WordList;   // words holding a pair (may repeat)

typedef struct {
    PairIdx pi;
    int64_t *count; int32_t *pa, *pb; WordList *pos; int32_t n, cap;
} Pairs;

static int32_t pairs_get(Pairs *P, int32_t a, int32_t b) {
    int32_t next = P->n;
    int32_t i = pi_get(&P->pi, a, b, &next);
    if (i == P->n) {
        if (P->n == P->cap) {
            P->cap = P->cap ? P->cap * 2 : 1 << 16;
            P->count = xrealloc(P->count, (size_t)P->cap * sizeof *P->count);
            P->pa = xrealloc(P->pa, (size_t)P->cap * sizeof *P->pa);
            P->pb = xrealloc(P->pb, (size_t)P->cap * sizeof *P->pb);
            P->pos = xrealloc(P->pos, (size_t)P->cap * sizeof *P->pos);
        }
        P->count[i] = 0; P->pa[i] = a; P->pb[i] = b; P->pos[i] = (WordList){0};
        P->n++;
    }
    return i;
}
static void wl_push(WordList *w, int32_t x) {
    if (w->n && w->v[w->n - 1] == x) return;
    if (w->n == w->cap) { w->cap = w->cap ? w->cap * 2 : 4; w->v = xrealloc(w->v, w->cap * sizeof *w->v); }
    w->v[w->n++] = x;
}

static char *byte_char_utf8(int b) {
    uint8_t x = (uint8_t)b; size_t n;
    return bpe_bytes_to_chars(&x, 1, &n);
}

int bpe_train(const BpeMap *counts, int vocab_size, const char *const *specials, int n_special,
              int min_frequency, int quiet, BpeVocab *out) {
    memset(out, 0, sizeof *out);
    if (vocab_size < n_special + 256)
        return fail("--vocab-size %d is too small: it must hold the %d special tokens and the 256 byte tokens (at least %d)",
                    vocab_size, n_special, n_special + 256);
    size_t cap = (size_t)vocab_size + 16;
    char **tok = xcalloc(cap, sizeof *tok);
    uint32_t *tlen = xcalloc(cap, sizeof *tlen);   // byte length of each token
    uint8_t **tbytes = xcalloc(cap, sizeof *tbytes);
    BpeMap str2id; bpe_map_init(&str2id, cap);
    int32_t V = 0;
    for (int i = 0; i < n_special; i++) {
        tok[V] = xstrdup(specials[i]); tlen[V] = 0; tbytes[V] = NULL;
        *bpe_map_put(&str2id, specials[i], strlen(specials[i]), V, NULL) = V;
        V++;
    }
    // alphabet: the 256 byte characters in code-point order (as HF sorts its alphabet)
    int32_t byte_id[256];
    for (uint32_t cp = 0; cp < 256 + 68; cp++) {
        int b = bpe_char_byte(cp);
        if (b < 0) continue;
        tok[V] = byte_char_utf8(b);
        tbytes[V] = xmalloc(1); tbytes[V][0] = (uint8_t)b; tlen[V] = 1;
        *bpe_map_put(&str2id, tok[V], strlen(tok[V]), V, NULL) = V;
        byte_id[b] = V++;
    }
    // words: symbol sequences (in place, shrinking) and counts
    size_t nw = counts->count, ns = 0;
    for (size_t s = 0; s < counts->cap; s++) if (counts->slot[s].hash) ns += counts->slot[s].klen;
    int32_t *sym = xmalloc((ns + 1) * sizeof *sym);
    size_t *woff = xmalloc((nw + 1) * sizeof *woff);
    uint32_t *wlen = xmalloc((nw + 1) * sizeof *wlen);
    int64_t *wcnt = xmalloc((nw + 1) * sizeof *wcnt);
    size_t w = 0, o = 0;
    for (size_t s = 0; s < counts->cap; s++) {
        const BpeSlot *sl = &counts->slot[s];
        if (!sl->hash) continue;
        const uint8_t *k = (const uint8_t *)bpe_map_key(counts, s);
        woff[w] = o; wlen[w] = sl->klen; wcnt[w] = sl->val;
        for (uint32_t j = 0; j < sl->klen; j++) sym[o++] = byte_id[k[j]];
        w++;
    }
    Pairs P = {0};
    for (size_t i = 0; i < nw; i++) {
        int32_t *x = sym + woff[i];
        for (uint32_t j = 0; j + 1 < wlen[i]; j++) {
            int32_t p = pairs_get(&P, x[j], x[j + 1]);
            P.count[p] += wcnt[i];
            wl_push(&P.pos[p], (int32_t)i);
        }
    }
    HeapE *heap = NULL; size_t hn = 0, hcap = 0;
    for (int32_t p = 0; p < P.n; p++) if (P.count[p] > 0) hpush(&heap, &hn, &hcap, (HeapE){P.count[p], P.pa[p], P.pb[p]});
    int32_t (*merges)[2] = xmalloc(cap * sizeof *merges);
    size_t nm = 0, mcap = cap;
    uint32_t *stamp = xcalloc(nw + 1, sizeof *stamp);   // words already merged at this step
    int32_t *touched = NULL; size_t tn = 0, tcap = 0;   // pairs that gained this step
    uint8_t *gained = NULL; size_t gcap = 0;
    Progress pg;
    progress_start(&pg, "merges", (double)(vocab_size - V), "merges");
    pg.quiet = quiet;
    uint32_t step = 0;
    while (V < vocab_size && hn) {
        HeapE top = hpop(heap, &hn);
        int32_t p = pairs_get(&P, top.a, top.b);
        if (top.count != P.count[p]) { top.count = P.count[p]; hpush(&heap, &hn, &hcap, top); continue; }
        if (top.count < 1 || top.count < min_frequency) break;
        // the new token
        uint32_t nl = tlen[top.a] + tlen[top.b];
        size_t la = strlen(tok[top.a]), lb = strlen(tok[top.b]);
        char *ns_ = xmalloc(la + lb + 1);
        memcpy(ns_, tok[top.a], la); memcpy(ns_ + la, tok[top.b], lb); ns_[la + lb] = 0;
        int added;
        int64_t *slot = bpe_map_put(&str2id, ns_, la + lb, V, &added);
        int32_t nid = (int32_t)*slot;
        if (added) {
            if ((size_t)V >= cap) fatal("internal: vocabulary overflow");
            tok[V] = ns_;
            tbytes[V] = xmalloc(nl); memcpy(tbytes[V], tbytes[top.a], tlen[top.a]); memcpy(tbytes[V] + tlen[top.a], tbytes[top.b], tlen[top.b]);
            tlen[V] = nl;
            V++;
        } else free(ns_);
        if (nm == mcap) { mcap *= 2; merges = xrealloc(merges, mcap * sizeof *merges); }
        merges[nm][0] = top.a; merges[nm][1] = top.b; nm++;
        step++;
        tn = 0;
        // merge in every word that holds the pair (left to right, non-overlapping)
        WordList wl = P.pos[p];
        for (uint32_t q = 0; q < wl.n; q++) {
            int32_t wi = wl.v[q];
            if (stamp[wi] == step) continue;
            stamp[wi] = step;
            int32_t *x = sym + woff[wi];
            uint32_t n = wlen[wi];
            int64_t c = wcnt[wi];
            for (uint32_t i = 0; i + 1 < n; i++) {
                if (x[i] != top.a || x[i + 1] != top.b) continue;
                if (i > 0) {
                    P.count[pairs_get(&P, x[i - 1], top.a)] -= c;
                    int32_t g = pairs_get(&P, x[i - 1], nid);
                    P.count[g] += c; wl_push(&P.pos[g], wi);
                    if ((size_t)g >= gcap) { size_t ng = gcap ? gcap : 1024; while (ng <= (size_t)g) ng *= 2; gained = xrealloc(gained, ng); memset(gained + gcap, 0, ng - gcap); gcap = ng; }
                    if (!gained[g]) { gained[g] = 1; if (tn == tcap) { tcap = tcap ? tcap * 2 : 1024; touched = xrealloc(touched, tcap * sizeof *touched); } touched[tn++] = g; }
                }
                x[i] = nid;
                memmove(x + i + 1, x + i + 2, (n - i - 2) * sizeof *x);
                n--;
                if (i + 1 < n) {
                    P.count[pairs_get(&P, top.b, x[i + 1])] -= c;
                    int32_t g = pairs_get(&P, nid, x[i + 1]);
                    P.count[g] += c; wl_push(&P.pos[g], wi);
                    if ((size_t)g >= gcap) { size_t ng = gcap ? gcap : 1024; while (ng <= (size_t)g) ng *= 2; gained = xrealloc(gained, ng); memset(gained + gcap, 0, ng - gcap); gcap = ng; }
                    if (!gained[g]) { gained[g] = 1; if (tn == tcap) { tcap = tcap ? tcap * 2 : 1024; touched = xrealloc(touched, tcap * sizeof *touched); } touched[tn++] = g; }
                }
            }
            wlen[wi] = n;
        }
        for (size_t k = 0; k < tn; k++) {
            int32_t g = touched[k];
            gained[g] = 0;
            if (P.count[g] > 0) hpush(&heap, &hn, &hcap, (HeapE){P.count[g], P.pa[g], P.pb[g]});
        }
        progress_update(&pg, (double)nm);
    }
    progress_end(&pg);
    for (int32_t p = 0; p < P.n; p++) free(P.pos[p].v);
    free(P.count); free(P.pa); free(P.pb); free(P.pos); free(P.pi.key); free(P.pi.idx);
    free(heap); free(stamp); free(touched); free(gained);
    free(sym); free(woff); free(wlen); free(wcnt);
    for (int32_t i = 0; i < V; i++) free(tbytes[i]);
    free(tbytes); free(tlen);
    bpe_map_free(&str2id);
    out->V = V; out->tok = tok; out->merges = merges; out->n_merges = nm; out->n_special = n_special;
    return 0;
}

void bpe_vocab_free(BpeVocab *v) {
    for (int32_t i = 0; i < v->V; i++) free(v->tok[i]);
    free(v->tok); free(v->merges);
    memset(v, 0, sizeof *v);
}

// ---- writing
static const char *CHAT_TEMPLATE =
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}" TOK_SYSTEM "{{ message['content'] }}"
    "{% elif message['role'] == 'user' %}" TOK_USER "{{ message['content'] }}"
    "{% elif message['role'] == 'assistant' %}" TOK_ASSISTANT "{{ message['content'] }}{{ eos_token }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}" TOK_ASSISTANT "{% endif %}";

static cJSON *bytelevel(int aps) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "ByteLevel");
    cJSON_AddBoolToObject(o, "add_prefix_space", aps);
    cJSON_AddBoolToObject(o, "trim_offsets", 1);
    cJSON_AddBoolToObject(o, "use_regex", 0);
    return o;
}

int bpe_write_tokenizer(const char *dir, const BpeVocab *v, const char *const *split_patterns, int n_patterns) {
    TRY(io_mkdir_p(dir));
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (int32_t i = 0; i < v->n_special; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", i);
        cJSON_AddStringToObject(a, "content", v->tok[i]);
        cJSON_AddBoolToObject(a, "single_word", 0);
        cJSON_AddBoolToObject(a, "lstrip", 0);
        cJSON_AddBoolToObject(a, "rstrip", 0);
        cJSON_AddBoolToObject(a, "normalized", 0);
        cJSON_AddBoolToObject(a, "special", 1);
        cJSON_AddItemToArray(added, a);
    }
    cJSON_AddNullToObject(root, "normalizer");
    cJSON *pt = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pt, "type", "Sequence");
    cJSON *seq = cJSON_AddArrayToObject(pt, "pretokenizers");
    for (int i = 0; i < n_patterns; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "type", "Split");
        cJSON *pat = cJSON_AddObjectToObject(s, "pattern");
        cJSON_AddStringToObject(pat, "Regex", split_patterns[i]);
        cJSON_AddStringToObject(s, "behavior", "Isolated");
        cJSON_AddBoolToObject(s, "invert", 0);
        cJSON_AddItemToArray(seq, s);
    }
    cJSON_AddItemToArray(seq, bytelevel(0));
    cJSON_AddNullToObject(root, "post_processor");
    cJSON_AddItemToObject(root, "decoder", bytelevel(0));
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddBoolToObject(model, "fuse_unk", 0);
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    cJSON_AddBoolToObject(model, "ignore_merges", 0);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int32_t i = 0; i < v->V; i++) cJSON_AddNumberToObject(vocab, v->tok[i], i);
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    for (size_t i = 0; i < v->n_merges; i++) {
        const char *ab[2] = {v->tok[v->merges[i][0]], v->tok[v->merges[i][1]]};
        cJSON_AddItemToArray(merges, cJSON_CreateStringArray(ab, 2));
    }
    char *p = path_join(dir, "tokenizer.json");
    int rc = json_save_file(p, root);
    free(p);
    cJSON_Delete(root);
    TRY(rc);
    cJSON *cfg = cJSON_CreateObject();
    cJSON_AddStringToObject(cfg, "tokenizer_class", "PreTrainedTokenizerFast");
    cJSON_AddStringToObject(cfg, "bos_token", TOK_BOS);
    cJSON_AddStringToObject(cfg, "eos_token", TOK_EOS);
    cJSON_AddStringToObject(cfg, "pad_token", TOK_PAD);
    cJSON_AddBoolToObject(cfg, "add_bos_token", 0);
    cJSON_AddBoolToObject(cfg, "add_eos_token", 0);
    cJSON_AddBoolToObject(cfg, "clean_up_tokenization_spaces", 0);
    cJSON_AddNumberToObject(cfg, "model_max_length", 1048576);
    cJSON_AddStringToObject(cfg, "chat_template", CHAT_TEMPLATE);
    p = path_join(dir, "tokenizer_config.json");
    rc = json_save_file(p, cfg);
    free(p);
    cJSON_Delete(cfg);
    return rc;
}
