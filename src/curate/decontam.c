// decontam.c — n-gram hash index of eval sets (open addressing, read-only after loading).
#include "curate/decontam.h"
#include "base/check.h"
#include "base/io.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct Decontam {
    int ngram, nfiles;
    char **files;
    uint64_t *keys; uint16_t *file; size_t cap, n;
};

static size_t words(DecontamScratch *s, const char *t, size_t n) {
    size_t nw = 0, i = 0;
    char w[128];
    while (i < n) {
        while (i < n && (unsigned char)t[i] < 0x80 && !isalnum((unsigned char)t[i])) i++;
        size_t wl = 0;
        while (i < n && ((unsigned char)t[i] >= 0x80 || isalnum((unsigned char)t[i]))) {
            if (wl < sizeof w) w[wl] = (char)tolower((unsigned char)t[i]);
            wl++; i++;
        }
        if (!wl) continue;
        if (nw == s->cap) { s->cap = s->cap ? 2 * s->cap : 4096; s->wh = xrealloc(s->wh, s->cap * sizeof(uint64_t)); }
        s->wh[nw++] = XXH3_64bits(w, wl < sizeof w ? wl : sizeof w);
    }
    return nw;
}

static uint64_t gram(const uint64_t *wh, int n) {
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (int k = 0; k < n; k++) { h ^= wh[k]; h *= 0xff51afd7ed558ccdull; h ^= h >> 32; }
    return h ? h : 1;
}

static void put(Decontam *d, uint64_t key, uint16_t file) {
    if (2 * (d->n + 1) > d->cap) {
        size_t nc = d->cap ? 2 * d->cap : 1 << 16;
        uint64_t *nk = xcalloc(nc, sizeof(uint64_t)); uint16_t *nf = xcalloc(nc, sizeof(uint16_t));
        for (size_t i = 0; i < d->cap; i++) if (d->keys[i]) {
            size_t j = (size_t)(d->keys[i] * 0x9E3779B97F4A7C15ull >> 11) & (nc - 1);
            while (nk[j]) j = (j + 1) & (nc - 1);
            nk[j] = d->keys[i]; nf[j] = d->file[i];
        }
        free(d->keys); free(d->file);
        d->keys = nk; d->file = nf; d->cap = nc;
    }
    size_t j = (size_t)(key * 0x9E3779B97F4A7C15ull >> 11) & (d->cap - 1);
    while (d->keys[j] && d->keys[j] != key) j = (j + 1) & (d->cap - 1);
    if (!d->keys[j]) { d->keys[j] = key; d->file[j] = file; d->n++; }
}

static void index_strings(Decontam *d, DecontamScratch *s, const cJSON *o, uint16_t file) {
    if (cJSON_IsString(o)) {
        size_t nw = words(s, o->valuestring, strlen(o->valuestring));
        for (size_t i = 0; i + d->ngram <= nw; i++) put(d, gram(s->wh + i, d->ngram), file);
        return;
    }
    for (const cJSON *c = o->child; c; c = c->next) index_strings(d, s, c, file);
}

Decontam *decontam_load(const char *const *paths, int n, int ngram) {
    Decontam *d = xcalloc(1, sizeof *d);
    d->ngram = ngram; d->nfiles = n;
    d->files = xcalloc(n + 1, sizeof(char *));
    DecontamScratch s = {0};
    for (int f = 0; f < n; f++) {
        d->files[f] = xstrdup(paths[f]);
        char *buf; size_t len;
        if (io_read_all(paths[f], &buf, &len) < 0) { decontam_free(d); decontam_scratch_free(&s); fail_ctx("eval set for decontamination: "); return NULL; }
        long line = 0;
        for (char *p = buf, *e; p < buf + len; p = e + 1) {
            e = memchr(p, '\n', (size_t)(buf + len - p));
            if (!e) e = buf + len;
            line++;
            size_t ln = (size_t)(e - p);
            size_t k = 0;
            while (k < ln && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r')) k++;
            if (k == ln) continue;
            cJSON *o = cJSON_ParseWithLength(p, ln);
            if (!o) {
                free(buf); decontam_free(d); decontam_scratch_free(&s);
                fail("%s:%ld: eval set line is not valid JSON (decontamination needs JSONL)", paths[f], line);
                return NULL;
            }
            index_strings(d, &s, o, (uint16_t)f);
            cJSON_Delete(o);
        }
        free(buf);
    }
    decontam_scratch_free(&s);
    return d;
}

void decontam_free(Decontam *d) {
    if (!d) return;
    for (int i = 0; i < d->nfiles; i++) free(d->files[i]);
    free(d->files); free(d->keys); free(d->file); free(d);
}

size_t decontam_ngrams(const Decontam *d) { return d->n; }
const char *decontam_file(const Decontam *d, int i) { return i >= 0 && i < d->nfiles ? d->files[i] : ""; }
void decontam_scratch_free(DecontamScratch *s) { free(s->wh); s->wh = NULL; s->cap = 0; }

int decontam_check(const Decontam *d, DecontamScratch *s, const char *text, size_t n) {
    if (!d->n) return -1;
    size_t nw = words(s, text, n);
    for (size_t i = 0; i + d->ngram <= nw; i++) {
        uint64_t key = gram(s->wh + i, d->ngram);
        size_t j = (size_t)(key * 0x9E3779B97F4A7C15ull >> 11) & (d->cap - 1);
        while (d->keys[j]) {
            if (d->keys[j] == key) return d->file[j];
            j = (j + 1) & (d->cap - 1);
        }
    }
    return -1;
}
