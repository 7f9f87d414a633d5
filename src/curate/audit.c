// audit.c — stratified review sheets and applying reviewer decisions with a ledger.
#include "curate/audit.h"
#include "base/check.h"
#include "base/io.h"
#include "base/rng.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { char *buf; char **line; size_t *len; size_t n; } Lines;

static int read_lines(const char *path, Lines *L, int missing_ok) {
    memset(L, 0, sizeof *L);
    size_t n;
    if (!io_exists(path) && missing_ok) return 0;
    TRY(io_read_all(path, &L->buf, &n));
    size_t cap = 0;
    for (char *p = L->buf, *e; p < L->buf + n; p = e + 1) {
        e = memchr(p, '\n', (size_t)(L->buf + n - p));
        if (!e) e = L->buf + n;
        if (L->n == cap) { cap = cap ? 2 * cap : 1024; L->line = xrealloc(L->line, cap * sizeof(char *)); L->len = xrealloc(L->len, cap * sizeof(size_t)); }
        L->line[L->n] = p; L->len[L->n] = (size_t)(e - p); L->n++;
    }
    return 0;
}

static void free_lines(Lines *L) { free(L->buf); free(L->line); free(L->len); memset(L, 0, sizeof *L); }

static const char *str_field(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

typedef struct { char *name; size_t *idx; int *file; size_t n, seen; } Stratum;

// ---- sample ----

static void csv_cell(FILE *f, const char *s, int last) {
    fputc('"', f);
    for (; *s; s++) { if (*s == '"') fputc('"', f); fputc(*s, f); }
    fputc('"', f);
    fputc(last ? '\n' : ',', f);
}

int audit_sample(const char *dir, const char *sheet_path, int per, uint64_t seed, size_t *rows) {
    const char *names[2] = {"data.jsonl", "removed.jsonl"};
    Lines L[2];
    for (int f = 0; f < 2; f++) {
        char *p = path_join(dir, names[f]);
        int rc = read_lines(p, &L[f], f == 1);
        free(p);
        if (rc < 0) { if (f) free_lines(&L[0]); return fail_ctx("audit sample (run `deepc curate` without --compress first): "); }
    }
    Stratum *st = NULL; int nst = 0;
    Rng r; rng_seed_stream(&r, seed, 0x617564ull);
    for (int f = 0; f < 2; f++)
        for (size_t i = 0; i < L[f].n; i++) {
            cJSON *o = cJSON_ParseWithLength(L[f].line[i], L[f].len[i]);
            if (!o) continue;
            char name[160];
            if (f == 0) snprintf(name, sizeof name, "kept:%s", str_field(o, "domain"));
            else snprintf(name, sizeof name, "%s", str_field(o, "curate_rule"));
            cJSON_Delete(o);
            int k = 0;
            while (k < nst && strcmp(st[k].name, name)) k++;
            if (k == nst) { st = xrealloc(st, (nst + 1) * sizeof(Stratum)); st[k] = (Stratum){xstrdup(name), xmalloc(per * sizeof(size_t) + 1), xmalloc(per * sizeof(int) + 1), 0, 0}; nst++; }
            Stratum *s = &st[k];
            s->seen++;   // reservoir sampling: every line of the stratum equally likely
            if (s->n < (size_t)per) { s->idx[s->n] = i; s->file[s->n] = f; s->n++; }
            else { uint64_t j = rng_below(&r, s->seen); if (j < (uint64_t)per) { s->idx[j] = i; s->file[j] = f; } }
        }
    AtomicFile aj, ac;
    char *csv_path = xmalloc(strlen(sheet_path) + 8);
    strcpy(csv_path, sheet_path);
    char *dot = strrchr(csv_path, '.');
    if (dot && !strchr(dot, '/')) strcpy(dot, ".csv"); else strcat(csv_path, ".csv");
    int rc = -1;
    if (io_atomic_open(&aj, sheet_path) < 0) goto out;
    if (io_atomic_open(&ac, csv_path) < 0) { io_atomic_abort(&aj); goto out; }
    fprintf(ac.f, "file,line,id,stratum,domain,decision,label,note,excerpt\n");
    size_t nrows = 0;
    for (int k = 0; k < nst; k++) {
        // sheet rows in file order within a stratum
        for (size_t a = 1; a < st[k].n; a++)
            for (size_t b = a; b > 0 && st[k].idx[b - 1] > st[k].idx[b]; b--) {
                size_t t = st[k].idx[b]; st[k].idx[b] = st[k].idx[b - 1]; st[k].idx[b - 1] = t;
            }
        for (size_t j = 0; j < st[k].n; j++) {
            int f = st[k].file[j]; size_t i = st[k].idx[j];
            cJSON *o = cJSON_ParseWithLength(L[f].line[i], L[f].len[i]);
            const char *text = str_field(o, "text");
            char ex[301]; size_t el = strlen(text) < 300 ? strlen(text) : 300;
            while (el && ((unsigned char)text[el] & 0xC0) == 0x80) el--;   // cut at a UTF-8 boundary
            memcpy(ex, text, el); ex[el] = 0;
            cJSON *row = cJSON_CreateObject();
            cJSON_AddStringToObject(row, "file", names[f]);
            cJSON_AddNumberToObject(row, "line", (double)(i + 1));
            cJSON_AddStringToObject(row, "id", str_field(o, "id"));
            cJSON_AddStringToObject(row, "stratum", st[k].name);
            cJSON_AddStringToObject(row, "domain", str_field(o, "domain"));
            cJSON_AddStringToObject(row, "decision", "");
            cJSON_AddStringToObject(row, "label", "");
            cJSON_AddStringToObject(row, "note", "");
            cJSON_AddStringToObject(row, "excerpt", ex);
            char *s = cJSON_PrintUnformatted(row);
            fprintf(aj.f, "%s\n", s);
            char ln[32]; snprintf(ln, sizeof ln, "%zu", i + 1);
            csv_cell(ac.f, names[f], 0); csv_cell(ac.f, ln, 0); csv_cell(ac.f, str_field(o, "id"), 0);
            csv_cell(ac.f, st[k].name, 0); csv_cell(ac.f, str_field(o, "domain"), 0);
            csv_cell(ac.f, "", 0); csv_cell(ac.f, "", 0); csv_cell(ac.f, "", 0); csv_cell(ac.f, ex, 1);
            free(s); cJSON_Delete(row); cJSON_Delete(o);
            nrows++;
        }
    }
    if (io_atomic_commit(&aj) < 0) { io_atomic_abort(&ac); goto out; }
    if (io_atomic_commit(&ac) < 0) goto out;
    if (rows) *rows = nrows;
    rc = 0;
out:
    for (int k = 0; k < nst; k++) { free(st[k].name); free(st[k].idx); free(st[k].file); }
    free(st); free(csv_path);
    free_lines(&L[0]); free_lines(&L[1]);
    return rc;
}

// ---- apply ----

typedef struct { int file; size_t line; char *id, *decision, *label, *note; } Row;

// Parse one CSV record starting at *p; returns the number of cells (up to max), advancing *p.
static int csv_record(const char **p, const char *end, char **cells, int max) {
    int n = 0;
    const char *s = *p;
    if (s >= end) return 0;
    for (;;) {
        size_t cap = 64, k = 0;
        char *c = xmalloc(cap);
        if (s < end && *s == '"') {
            s++;
            while (s < end) {
                if (*s == '"') { if (s + 1 < end && s[1] == '"') s++; else { s++; break; } }
                if (k + 2 > cap) { cap *= 2; c = xrealloc(c, cap); }
                c[k++] = *s++;
            }
        }
        while (s < end && *s != ',' && *s != '\n' && *s != '\r') { if (k + 2 > cap) { cap *= 2; c = xrealloc(c, cap); } c[k++] = *s++; }
        c[k] = 0;
        if (n < max) cells[n++] = c; else free(c);
        if (s < end && *s == ',') { s++; continue; }
        while (s < end && (*s == '\r' || *s == '\n')) { s++; if (s[-1] == '\n') break; }
        break;
    }
    *p = s;
    return n;
}

static int load_sheet(const char *path, Row **rows, size_t *nrows) {
    char *buf; size_t n;
    TRY(io_read_all(path, &buf, &n));
    *rows = NULL; *nrows = 0;
    size_t cap = 0;
    size_t pl = strlen(path);
    int csv = pl > 4 && !strcmp(path + pl - 4, ".csv");
    const char *p = buf, *end = buf + n;
    int col[9]; const char *want[9] = {"file", "line", "id", "decision", "label", "note", "stratum", "domain", "excerpt"};
    long rec = 0;
    if (csv) {
        char *h[16]; int nh = csv_record(&p, end, h, 16);
        for (int w = 0; w < 9; w++) { col[w] = -1; for (int i = 0; i < nh; i++) if (!strcmp(h[i], want[w])) col[w] = i; }
        for (int i = 0; i < nh; i++) free(h[i]);
        for (int w = 0; w < 6; w++) if (col[w] < 0) { free(buf); return fail("%s: CSV header lacks the column \"%s\"", path, want[w]); }
        rec = 1;
    }
    while (p < end) {
        rec++;
        char *fileS = NULL, *lineS = NULL, *id = NULL, *dec = NULL, *lab = NULL, *note = NULL;
        if (csv) {
            char *c[16] = {0}; int nc = csv_record(&p, end, c, 16);
            if (nc == 0) continue;
            if (nc == 1 && !c[0][0]) { free(c[0]); continue; }
            char *v[6];
            for (int w = 0; w < 6; w++) v[w] = col[w] < nc ? xstrdup(c[col[w]]) : xstrdup("");
            for (int i = 0; i < nc; i++) free(c[i]);
            fileS = v[0]; lineS = v[1]; id = v[2]; dec = v[3]; lab = v[4]; note = v[5];
        } else {
            const char *e = memchr(p, '\n', (size_t)(end - p));
            if (!e) e = end;
            size_t ln = (size_t)(e - p);
            const char *lp = p;
            p = e + (e < end);
            if (!ln) continue;
            cJSON *o = cJSON_ParseWithLength(lp, ln);
            if (!o) { free(buf); return fail("%s:%ld: not valid JSON; fix the sheet and run audit apply again", path, rec); }
            const cJSON *L = cJSON_GetObjectItemCaseSensitive(o, "line");
            char lb[32]; snprintf(lb, sizeof lb, "%.0f", cJSON_IsNumber(L) ? L->valuedouble : 0);
            fileS = xstrdup(str_field(o, "file")); lineS = xstrdup(lb); id = xstrdup(str_field(o, "id"));
            dec = xstrdup(str_field(o, "decision")); lab = xstrdup(str_field(o, "label")); note = xstrdup(str_field(o, "note"));
            cJSON_Delete(o);
        }
        int bad = 0;
        if (!dec[0]) { free(fileS); free(lineS); free(id); free(dec); free(lab); free(note); continue; }   // not reviewed
        if (strcmp(dec, "keep") && strcmp(dec, "drop") && strcmp(dec, "relabel")) bad = 1;
        else if (!strcmp(dec, "relabel") && !lab[0]) bad = 2;
        int f = !strcmp(fileS, "data.jsonl") ? 0 : !strcmp(fileS, "removed.jsonl") ? 1 : -1;
        long line = atol(lineS);
        if (!bad && (f < 0 || line < 1)) bad = 3;
        if (bad) {
            fail("%s: record %ld: %s", path, rec, bad == 1 ? "decision must be keep, drop or relabel" :
                 bad == 2 ? "relabel needs a label" : "file must be data.jsonl or removed.jsonl with a line >= 1");
            free(fileS); free(lineS); free(id); free(dec); free(lab); free(note); free(buf);
            return -1;
        }
        if (*nrows == cap) { cap = cap ? 2 * cap : 64; *rows = xrealloc(*rows, cap * sizeof(Row)); }
        (*rows)[(*nrows)++] = (Row){f, (size_t)line, id, dec, lab, note};
        free(fileS); free(lineS);
    }
    free(buf);
    return 0;
}

static void add_audit(cJSON *o, const Row *r, const char *reviewer) {
    cJSON_DeleteItemFromObjectCaseSensitive(o, "audit");
    cJSON *a = cJSON_AddObjectToObject(o, "audit");
    cJSON_AddStringToObject(a, "decision", r->decision);
    cJSON_AddStringToObject(a, "reviewer", reviewer);
    if (r->note[0]) cJSON_AddStringToObject(a, "note", r->note);
}

int audit_apply(const char *dir, const char *sheet_path, const char *reviewer, AuditCounts *cnt) {
    Row *rows; size_t nr;
    TRY(load_sheet(sheet_path, &rows, &nr));
    const char *names[2] = {"data.jsonl", "removed.jsonl"};
    Lines L[2] = {{0}, {0}};
    char *paths[2] = {path_join(dir, names[0]), path_join(dir, names[1])};
    int rc = -1;
    AuditCounts c = {0};
    Row **act[2] = {NULL, NULL};
    cJSON *ledger = NULL;
    for (int f = 0; f < 2; f++) if (read_lines(paths[f], &L[f], f == 1) < 0) goto out;
    for (int f = 0; f < 2; f++) act[f] = xcalloc(L[f].n + 1, sizeof(Row *));
    // check every row against the data before changing anything
    for (size_t i = 0; i < nr; i++) {
        Row *r = &rows[i];
        if (r->line > L[r->file].n) { fail("%s: %s line %zu does not exist (the sheet is stale: sample again)", sheet_path, names[r->file], r->line); goto out; }
        cJSON *o = cJSON_ParseWithLength(L[r->file].line[r->line - 1], L[r->file].len[r->line - 1]);
        int same = o && !strcmp(str_field(o, "id"), r->id);
        cJSON_Delete(o);
        if (!same) { fail("%s: %s line %zu is not document \"%s\" (the sheet is stale: sample again)", sheet_path, names[r->file], r->line, r->id); goto out; }
        if (act[r->file][r->line - 1]) { fail("%s: %s line %zu appears twice in the sheet", sheet_path, names[r->file], r->line); goto out; }
        act[r->file][r->line - 1] = r;
    }
    char stamp[32];
    time_t now = time(NULL);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    AtomicFile out[2];
    if (io_atomic_open(&out[0], paths[0]) < 0) goto out;
    if (io_atomic_open(&out[1], paths[1]) < 0) { io_atomic_abort(&out[0]); goto out; }
    ledger = cJSON_CreateArray();
    for (int f = 0; f < 2; f++)
        for (size_t i = 0; i < L[f].n; i++) {
            Row *r = act[f][i];
            if (!r) { fwrite(L[f].line[i], 1, L[f].len[i], out[f].f); fputc('\n', out[f].f); continue; }
            cJSON *o = cJSON_ParseWithLength(L[f].line[i], L[f].len[i]);
            const char *effect;
            int dest = f;
            if (!strcmp(r->decision, "keep")) {
                if (f == 1) { cJSON_DeleteItemFromObjectCaseSensitive(o, "curate_rule"); dest = 0; effect = "restored to data"; c.removed_to_kept++; }
                else { effect = "no change"; c.unchanged++; }
            } else if (!strcmp(r->decision, "drop")) {
                if (f == 0) { cJSON_DeleteItemFromObjectCaseSensitive(o, "curate_rule"); cJSON_AddStringToObject(o, "curate_rule", "audit:drop"); dest = 1; effect = "moved to removed"; c.kept_to_removed++; }
                else { effect = "no change"; c.unchanged++; }
            } else {
                cJSON_DeleteItemFromObjectCaseSensitive(o, "domain");
                cJSON_AddStringToObject(o, "domain", r->label);
                effect = "relabelled"; c.relabelled++;
            }
            if (strcmp(effect, "no change")) add_audit(o, r, reviewer);
            char *s = cJSON_PrintUnformatted(o);
            if (strcmp(effect, "no change")) { fputs(s, out[dest].f); fputc('\n', out[dest].f); }
            else { fwrite(L[f].line[i], 1, L[f].len[i], out[f].f); fputc('\n', out[f].f); }
            free(s); cJSON_Delete(o);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "time", stamp);
            cJSON_AddStringToObject(e, "reviewer", reviewer);
            cJSON_AddStringToObject(e, "sheet", sheet_path);
            cJSON_AddStringToObject(e, "id", r->id);
            cJSON_AddStringToObject(e, "file", names[f]);
            cJSON_AddNumberToObject(e, "line", (double)r->line);
            cJSON_AddStringToObject(e, "decision", r->decision);
            if (r->label[0]) cJSON_AddStringToObject(e, "label", r->label);
            cJSON_AddStringToObject(e, "note", r->note);
            cJSON_AddStringToObject(e, "effect", effect);
            cJSON_AddItemToArray(ledger, e);
            c.rows++;
        }
    // ledger: previous entries + this run's, written atomically
    {
        char *lp = path_join(dir, "ledger.jsonl");
        char *old = NULL; size_t on = 0;
        if (io_exists(lp) && io_read_all(lp, &old, &on) < 0) { free(lp); io_atomic_abort(&out[0]); io_atomic_abort(&out[1]); goto out; }
        size_t cap = on + 1024, n = 0;
        char *buf = xmalloc(cap);
        if (on) { memcpy(buf, old, on); n = on; }
        for (cJSON *e = ledger->child; e; e = e->next) {
            char *s = cJSON_PrintUnformatted(e);
            size_t k = strlen(s);
            if (n + k + 2 > cap) { cap = (n + k + 2) * 2; buf = xrealloc(buf, cap); }
            memcpy(buf + n, s, k); n += k; buf[n++] = '\n';
            free(s);
        }
        int lrc = io_write_file(lp, buf, n);
        free(buf); free(old); free(lp);
        if (lrc < 0) { io_atomic_abort(&out[0]); io_atomic_abort(&out[1]); goto out; }
    }
    if (io_atomic_commit(&out[0]) < 0) { io_atomic_abort(&out[1]); goto out; }
    if (io_atomic_commit(&out[1]) < 0) goto out;
    if (cnt) *cnt = c;
    rc = 0;
out:
    cJSON_Delete(ledger);
    for (int f = 0; f < 2; f++) { free(act[f]); free_lines(&L[f]); free(paths[f]); }
    for (size_t i = 0; i < nr; i++) { free(rows[i].id); free(rows[i].decision); free(rows[i].label); free(rows[i].note); }
    free(rows);
    return rc;
}
