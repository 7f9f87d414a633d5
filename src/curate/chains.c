// chains.c — verifiers, structure scores and filtering of reasoning chains.
#include "curate/chains.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include "curate/audit.h"
#include "curate/sandbox.h"
#include "curate/writer.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

void chains_default_options(ChainOptions *o) {
    memset(o, 0, sizeof *o);
    o->question_field = "question"; o->chain_field = "answer";
    o->tolerance = 1e-6; o->min_steps = 1; o->max_repetition = 0.5;
    o->timeout_s = 10; o->mem_bytes = (size_t)1 << 30; o->python = "python3";
    o->audit_per_stratum = 20; o->seed = 1;
}

// ---- arithmetic (recursive descent) ----
typedef struct { const char *s; size_t n, i; int err; } P;
static void ws(P *p) { while (p->i < p->n && isspace((unsigned char)p->s[p->i])) p->i++; }
static double expr(P *p);
static double atom(P *p) {
    ws(p);
    if (p->i < p->n && p->s[p->i] == '(') {
        p->i++;
        double v = expr(p);
        ws(p);
        if (p->i < p->n && p->s[p->i] == ')') p->i++; else p->err = 1;
        return v;
    }
    if (p->i < p->n && (p->s[p->i] == '-' || p->s[p->i] == '+')) { int neg = p->s[p->i++] == '-'; double v = atom(p); return neg ? -v : v; }
    char buf[64]; size_t k = 0;
    while (p->i < p->n && (isdigit((unsigned char)p->s[p->i]) || p->s[p->i] == '.' || p->s[p->i] == ',')) {
        if (p->s[p->i] != ',' && k < sizeof buf - 1) buf[k++] = p->s[p->i];
        p->i++;
    }
    buf[k] = 0;
    if (!k) { p->err = 1; return 0; }
    char *e;
    double v = strtod(buf, &e);
    if (*e) p->err = 1;
    return v;
}
static double power(P *p) {
    double v = atom(p);
    ws(p);
    if (p->i < p->n && (p->s[p->i] == '^' || (p->s[p->i] == '*' && p->i + 1 < p->n && p->s[p->i + 1] == '*'))) {
        p->i += p->s[p->i] == '^' ? 1 : 2;
        return pow(v, power(p));
    }
    return v;
}
static double term(P *p) {
    double v = power(p);
    for (;;) {
        ws(p);
        if (p->i >= p->n) return v;
        char c = p->s[p->i];
        if (c == '*' && !(p->i + 1 < p->n && p->s[p->i + 1] == '*')) { p->i++; v *= power(p); }
        else if (c == '/') { p->i++; double d = power(p); if (d == 0) p->err = 1; else v /= d; }
        else if (c == '%') { p->i++; double d = power(p); if (d == 0) p->err = 1; else v = fmod(v, d); }
        else return v;
    }
}
static double expr(P *p) {
    double v = term(p);
    for (;;) {
        ws(p);
        if (p->i >= p->n) return v;
        char c = p->s[p->i];
        if (c == '+') { p->i++; v += term(p); }
        else if (c == '-') { p->i++; v -= term(p); }
        else return v;
    }
}

int arith_eval(const char *s, size_t n, double *v) {
    P p = {s, n, 0, 0};
    double r = expr(&p);
    ws(&p);
    if (p.err || p.i != n || !isfinite(r)) return -1;
    *v = r;
    return 0;
}

int parse_number(const char *s, double *v) {
    while (*s && !isdigit((unsigned char)*s) && !((*s == '-' || *s == '.') && isdigit((unsigned char)s[1]))) s++;
    if (!*s) return -1;
    char buf[64]; size_t k = 0;
    if (*s == '-') buf[k++] = *s++;
    while (*s && (isdigit((unsigned char)*s) || *s == ',' || *s == '.') && k < sizeof buf - 1) { if (*s != ',') buf[k++] = *s; s++; }
    while (k && buf[k - 1] == '.') k--;   // "72." at the end of a sentence
    buf[k] = 0;
    char *e;
    *v = strtod(buf, &e);
    return *e || !k ? -1 : 0;
}

static int num_eq(double a, double b, double tol) { return fabs(a - b) <= tol * fmax(1.0, fmax(fabs(a), fabs(b))); }

// ---- structure ----
static void structure(const char *t, size_t n, int *steps, int *words, double *rep) {
    *steps = 0; *words = 0;
    uint64_t *h = xmalloc((n / 2 + 2) * sizeof(uint64_t));
    size_t nl = 0, dup = 0;
    for (size_t i = 0, b = 0; i <= n; i++) {
        if (i == n || t[i] == '\n') {
            size_t a = b, e = i;
            while (a < e && isspace((unsigned char)t[a])) a++;
            while (e > a && isspace((unsigned char)t[e - 1])) e--;
            if (e > a) {
                uint64_t x = XXH3_64bits(t + a, e - a);
                for (size_t k = 0; k < nl; k++) if (h[k] == x) { dup++; break; }
                h[nl++] = x;
                (*steps)++;
            }
            b = i + 1;
        }
    }
    for (size_t i = 0; i < n;) {
        while (i < n && isspace((unsigned char)t[i])) i++;
        if (i < n) (*words)++;
        while (i < n && !isspace((unsigned char)t[i])) i++;
    }
    *rep = nl ? (double)dup / nl : 0;
    free(h);
}

// ---- code ----
static char *code_program(const cJSON *o) {
    const cJSON *code = cJSON_GetObjectItem(o, "code"), *tl = cJSON_GetObjectItem(o, "test_list");
    const cJSON *setup = cJSON_GetObjectItem(o, "test_setup_code");
    const cJSON *prompt = cJSON_GetObjectItem(o, "prompt"), *sol = cJSON_GetObjectItem(o, "canonical_solution");
    const cJSON *test = cJSON_GetObjectItem(o, "test"), *ep = cJSON_GetObjectItem(o, "entry_point");
    size_t cap = 4096, n = 0;
    char *s = xmalloc(cap);
#define ADD(str) do { size_t k_ = strlen(str); if (n + k_ + 2 > cap) { cap = (n + k_ + 2) * 2; s = xrealloc(s, cap); } memcpy(s + n, str, k_); n += k_; s[n++] = '\n'; s[n] = 0; } while (0)
    if (cJSON_IsString(code) && cJSON_IsArray(tl)) {           // MBPP
        if (cJSON_IsString(setup)) ADD(setup->valuestring);
        ADD(code->valuestring);
        for (const cJSON *t = tl->child; t; t = t->next) if (cJSON_IsString(t)) ADD(t->valuestring);
        return s;
    }
    if (cJSON_IsString(prompt) && cJSON_IsString(sol) && cJSON_IsString(test) && cJSON_IsString(ep)) {   // HumanEval
        ADD(prompt->valuestring); ADD(sol->valuestring); ADD(test->valuestring);
        char call[256]; snprintf(call, sizeof call, "check(%s)", ep->valuestring);
        ADD(call);
        return s;
    }
#undef ADD
    free(s);
    return NULL;
}

static const char *text_of(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int chains_run(const ChainOptions *o, ChainCounts *cnt) {
    ChainCounts c = {0};
    TRY(io_mkdir_p(o->out_dir));
    char *buf; size_t len;
    TRY(io_read_all(o->input, &buf, &len));
    char *dp = path_join(o->out_dir, "data.jsonl"), *rp = path_join(o->out_dir, "removed.jsonl");
    char *work = path_join(o->out_dir, ".sandbox");
    io_mkdir_p(work);
    DocWriter kw, rw;
    int rc = -1;
    if (writer_open(&kw, dp) < 0) goto out0;
    if (writer_open(&rw, rp) < 0) { writer_abort(&kw); goto out0; }
    size_t rules_n[16] = {0};
    const char *rule_names[16] = {0};
    int nrules = 0;
    long line = 0;
    for (char *p = buf, *e; p < buf + len; p = e + 1) {
        e = memchr(p, '\n', (size_t)(buf + len - p));
        if (!e) e = buf + len;
        line++;
        if (e == p) continue;
        cJSON *rec = cJSON_ParseWithLength(p, (size_t)(e - p));
        if (!rec || !cJSON_IsObject(rec)) {
            fprintf(stderr, "deepc: warning: %s:%ld: not a JSON object; skipped\n", o->input, line);
            cJSON_Delete(rec);
            continue;
        }
        c.records++;
        const char *rule = NULL;
        char *program = code_program(rec);
        const char *q = text_of(rec, o->question_field), *ch = text_of(rec, o->chain_field);
        if (!text_of(rec, "id")) { char id[64]; snprintf(id, sizeof id, "%ld", line); cJSON_AddStringToObject(rec, "id", id); }
        if (program) {
            const char *argv[] = {o->python, "-", NULL};
            SandboxResult sr;
            c.code_runs++;
            if (sandbox_run(argv, program, strlen(program), work, o->timeout_s, o->mem_bytes, &sr) < 0) { free(program); cJSON_Delete(rec); goto fail; }
            if (sr.timed_out) rule = "code:timeout";
            else if (sr.exit_code != 0) rule = "code:tests_failed";
            else c.code_pass++;
            cJSON_AddNumberToObject(rec, "run_seconds", sr.seconds);
            if (!text_of(rec, "text")) cJSON_AddStringToObject(rec, "text", program);
            free(program);
        } else if (!ch) {
            rule = "chain:missing";
        } else {
            const char *hash = strstr(ch, "####");
            size_t chain_len = hash ? (size_t)(hash - ch) : strlen(ch);
            double final = 0;
            int has_final = hash && parse_number(hash + 4, &final) == 0;
            if (!has_final) rule = "math:no_final_answer";
            if (!rule && o->reference_field) {
                const cJSON *ref = cJSON_GetObjectItemCaseSensitive(rec, o->reference_field);
                double rv;
                int ok = cJSON_IsNumber(ref) ? (rv = ref->valuedouble, 1) : cJSON_IsString(ref) ? parse_number(ref->valuestring, &rv) == 0 : 0;
                if (!ok) rule = "math:no_reference";
                else if (!num_eq(final, rv, o->tolerance)) rule = "math:wrong_answer";
            }
            // calculator annotations <<expr=value>>
            int checked = 0;
            for (const char *a = strstr(ch, "<<"); !rule && a && a < ch + chain_len; a = strstr(a + 2, "<<")) {
                const char *b = strstr(a, ">>"), *eq = NULL;
                if (!b) break;
                for (const char *x = a; x < b; x++) if (*x == '=') eq = x;
                double lhs, rhs;
                if (!eq || arith_eval(a + 2, (size_t)(eq - a - 2), &lhs) < 0 || arith_eval(eq + 1, (size_t)(b - eq - 1), &rhs) < 0) continue;
                checked++;
                if (!num_eq(lhs, rhs, 1e-4)) rule = "math:bad_calculation";
            }
            int steps, words; double rep;
            structure(ch, chain_len, &steps, &words, &rep);
            if (!rule && steps < o->min_steps) rule = "chain:too_few_steps";
            if (!rule && rep > o->max_repetition) rule = "chain:repetitive";
            cJSON_AddNumberToObject(rec, "chain_steps", steps);
            cJSON_AddNumberToObject(rec, "chain_words", words);
            cJSON_AddNumberToObject(rec, "chain_repetition", rep);
            cJSON_AddNumberToObject(rec, "calculations_checked", checked);
            if (has_final) cJSON_AddNumberToObject(rec, "final_answer", final);
            if (!text_of(rec, "text")) {
                size_t tl = (q ? strlen(q) : 0) + strlen(ch) + 2;
                char *t = xmalloc(tl);
                snprintf(t, tl, "%s\n%s", q ? q : "", ch);
                cJSON_AddStringToObject(rec, "text", t);
                free(t);
            }
        }
        if (!cJSON_GetObjectItem(rec, "domain")) cJSON_AddStringToObject(rec, "domain", cJSON_GetObjectItem(rec, "run_seconds") ? "code" : "math");
        if (rule) {
            cJSON_AddStringToObject(rec, "curate_rule", rule);
            int k = 0;
            while (k < nrules && strcmp(rule_names[k], rule)) k++;
            if (k == nrules && nrules < 16) rule_names[nrules++] = rule;
            if (k < 16) rules_n[k]++;
            c.removed++;
        } else c.kept++;
        char *s = cJSON_PrintUnformatted(rec);
        DocWriter *w = rule ? &rw : &kw;
        int wr = writer_write(w, s, strlen(s)) < 0 || writer_write(w, "\n", 1) < 0;
        free(s); cJSON_Delete(rec);
        if (wr) goto fail;
    }
    if (writer_commit(&kw) < 0) { writer_abort(&rw); goto out0; }
    if (writer_commit(&rw) < 0) goto out0;
    {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "input", o->input);
        cJSON_AddNumberToObject(r, "records", (double)c.records);
        cJSON_AddNumberToObject(r, "kept", (double)c.kept);
        cJSON_AddNumberToObject(r, "removed", (double)c.removed);
        cJSON_AddNumberToObject(r, "code_runs", (double)c.code_runs);
        cJSON_AddNumberToObject(r, "code_passed", (double)c.code_pass);
        cJSON *rm = cJSON_AddObjectToObject(r, "removed_by_rule");
        for (int k = 0; k < nrules; k++) cJSON_AddNumberToObject(rm, rule_names[k], (double)rules_n[k]);
        char *jp = path_join(o->out_dir, "report.json");
        int jr = json_save_file(jp, r);
        free(jp); cJSON_Delete(r);
        if (jr < 0) goto out0;
    }
    if (o->audit_per_stratum > 0) {
        char *sp = path_join(o->out_dir, "audit_sheet.jsonl");
        int ar = audit_sample(o->out_dir, sp, o->audit_per_stratum, o->seed, NULL);
        free(sp);
        if (ar < 0) goto out0;
    }
    if (cnt) *cnt = c;
    rc = 0;
    goto out0;
fail:
    writer_abort(&kw); writer_abort(&rw);
out0:
    io_rm_rf(work);
    free(work); free(dp); free(rp); free(buf);
    return rc;
}
