// bias.c — term-list counts per domain and co-occurrence lift.
#include "curate/bias.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXL 16
#define MAXD 16

static const char *DEFAULT_TERMS =
    "{\"male\": [\"he\", \"him\", \"his\", \"himself\", \"man\", \"men\", \"boy\", \"boys\", \"father\", \"son\", \"brother\", \"husband\", \"king\", \"mr\"],"
    " \"female\": [\"she\", \"her\", \"hers\", \"herself\", \"woman\", \"women\", \"girl\", \"girls\", \"mother\", \"daughter\", \"sister\", \"wife\", \"queen\", \"mrs\", \"ms\"],"
    " \"occupation\": [\"doctor\", \"nurse\", \"engineer\", \"teacher\", \"programmer\", \"scientist\", \"lawyer\", \"secretary\", \"manager\", \"pilot\"]}";

typedef struct { char name[64]; char **terms; int n; } List;
typedef struct { char name[32]; double docs, words, hits[MAXL], docs_with[MAXL], both[MAXL][MAXL]; } Dom;

int bias_report(const char *data_path, const char *terms_path, const char *out_prefix) {
    cJSON *tj = NULL;
    if (terms_path) TRY(json_load_file(terms_path, &tj));
    else tj = cJSON_Parse(DEFAULT_TERMS);
    List L[MAXL]; int nl = 0;
    for (cJSON *c = tj ? tj->child : NULL; c; c = c->next) {
        if (nl == MAXL) {
            for (int i = 0; i < nl; i++) { for (int k = 0; k < L[i].n; k++) free(L[i].terms[k]); free(L[i].terms); }
            cJSON_Delete(tj);
            return fail("%s: at most %d term lists", terms_path, MAXL);
        }
        if (!cJSON_IsArray(c)) {
            fail("%s: \"%s\" must be an array of terms", terms_path ? terms_path : "terms", c->string);
            for (int i = 0; i < nl; i++) { for (int k = 0; k < L[i].n; k++) free(L[i].terms[k]); free(L[i].terms); }
            cJSON_Delete(tj);
            return -1;
        }
        snprintf(L[nl].name, sizeof L[nl].name, "%s", c->string);
        L[nl].n = 0; L[nl].terms = xcalloc(cJSON_GetArraySize(c) + 1, sizeof(char *));
        for (cJSON *t = c->child; t; t = t->next) if (cJSON_IsString(t)) {
            char *s = xstrdup(t->valuestring);
            for (char *q = s; *q; q++) *q = (char)tolower((unsigned char)*q);
            L[nl].terms[L[nl].n++] = s;
        }
        nl++;
    }
    cJSON_Delete(tj);
    if (!nl) return fail("bias: no term lists");
    char *buf; size_t len;
    if (io_read_all(data_path, &buf, &len) < 0) { for (int i = 0; i < nl; i++) { for (int k = 0; k < L[i].n; k++) free(L[i].terms[k]); free(L[i].terms); } return -1; }
    Dom *D = xcalloc(MAXD + 1, sizeof(Dom)); int nd = 0;
    char w[64];
    for (char *p = buf, *e; p < buf + len; p = e + 1) {
        e = memchr(p, '\n', (size_t)(buf + len - p));
        if (!e) e = buf + len;
        cJSON *o = cJSON_ParseWithLength(p, (size_t)(e - p));
        const cJSON *t = cJSON_GetObjectItem(o, "text"), *dm = cJSON_GetObjectItem(o, "domain");
        if (!cJSON_IsString(t)) { cJSON_Delete(o); continue; }
        const char *dn = cJSON_IsString(dm) ? dm->valuestring : "text";
        int d = 0;
        while (d < nd && strcmp(D[d].name, dn)) d++;
        if (d == nd) { if (nd < MAXD) { snprintf(D[nd].name, sizeof D[nd].name, "%s", dn); nd++; } else d = MAXD - 1; }
        int has[MAXL] = {0};
        const char *s = t->valuestring;
        while (*s) {
            // words: runs of letters, digits and '_' (so identifiers like he_llo stay whole)
            while (*s && !isalnum((unsigned char)*s) && *s != '_') s++;
            size_t k = 0;
            while (*s && (isalnum((unsigned char)*s) || *s == '_')) { if (k < sizeof w - 1) w[k++] = (char)tolower((unsigned char)*s); s++; }
            if (!k) break;
            w[k] = 0;
            D[d].words++;
            for (int i = 0; i < nl; i++)
                for (int j = 0; j < L[i].n; j++) if (!strcmp(L[i].terms[j], w)) { D[d].hits[i]++; has[i] = 1; break; }
        }
        D[d].docs++;
        for (int i = 0; i < nl; i++) if (has[i]) {
            D[d].docs_with[i]++;
            for (int j = 0; j < nl; j++) if (has[j]) D[d].both[i][j]++;
        }
        cJSON_Delete(o);
    }
    free(buf);
    cJSON *r = cJSON_CreateObject();
    cJSON *dj = cJSON_AddObjectToObject(r, "domains");
    size_t mcap = 4096, mn = 0;
    char *md = xmalloc(mcap);
#define MD(...) do { int k_ = snprintf(NULL, 0, __VA_ARGS__); if (mn + k_ + 1 > mcap) { mcap = (mn + k_ + 1) * 2; md = xrealloc(md, mcap); } mn += (size_t)snprintf(md + mn, mcap - mn, __VA_ARGS__); } while (0)
    MD("# Bias report\n\nData: %s. Terms are whole words, case-insensitive.\n", data_path);
    for (int d = 0; d < nd; d++) {
        cJSON *e = cJSON_AddObjectToObject(dj, D[d].name);
        cJSON_AddNumberToObject(e, "docs", D[d].docs);
        cJSON_AddNumberToObject(e, "words", D[d].words);
        MD("\n## %s (%.0f documents, %.0f words)\n\n| list | docs with a term | share | terms per 1000 words |\n|---|---:|---:|---:|\n", D[d].name, D[d].docs, D[d].words);
        cJSON *lj = cJSON_AddObjectToObject(e, "lists");
        for (int i = 0; i < nl; i++) {
            cJSON *x = cJSON_AddObjectToObject(lj, L[i].name);
            double share = D[d].docs ? D[d].docs_with[i] / D[d].docs : 0, rate = D[d].words ? 1000 * D[d].hits[i] / D[d].words : 0;
            cJSON_AddNumberToObject(x, "docs_with_term", D[d].docs_with[i]);
            cJSON_AddNumberToObject(x, "doc_share", share);
            cJSON_AddNumberToObject(x, "terms_per_1000_words", rate);
            MD("| %s | %.0f | %.4f | %.3f |\n", L[i].name, D[d].docs_with[i], share, rate);
        }
        MD("\n| lists | docs with both | lift P(A,B)/(P(A)P(B)) |\n|---|---:|---:|\n");
        cJSON *cj = cJSON_AddArrayToObject(e, "cooccurrence");
        for (int i = 0; i < nl; i++) for (int j = i + 1; j < nl; j++) {
            double pa = D[d].docs ? D[d].docs_with[i] / D[d].docs : 0, pb = D[d].docs ? D[d].docs_with[j] / D[d].docs : 0;
            double pab = D[d].docs ? D[d].both[i][j] / D[d].docs : 0;
            double lift = pa > 0 && pb > 0 ? pab / (pa * pb) : 0;
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "a", L[i].name); cJSON_AddStringToObject(x, "b", L[j].name);
            cJSON_AddNumberToObject(x, "docs_with_both", D[d].both[i][j]);
            cJSON_AddNumberToObject(x, "lift", lift);
            cJSON_AddItemToArray(cj, x);
            MD("| %s + %s | %.0f | %.3f |\n", L[i].name, L[j].name, D[d].both[i][j], lift);
        }
    }
#undef MD
    size_t pl = strlen(out_prefix) + 8;
    char *jp = xmalloc(pl), *mp = xmalloc(pl);
    snprintf(jp, pl, "%s.json", out_prefix); snprintf(mp, pl, "%s.md", out_prefix);
    int rc = json_save_file(jp, r);
    if (rc == 0) rc = io_write_file(mp, md, mn);
    cJSON_Delete(r); free(md); free(jp); free(mp); free(D);
    for (int i = 0; i < nl; i++) { for (int k = 0; k < L[i].n; k++) free(L[i].terms[k]); free(L[i].terms); }
    return rc;
}
