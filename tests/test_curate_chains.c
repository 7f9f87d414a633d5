// test_curate_chains.c — reasoning-chain checks: GSM8K chains from ../shared/data pass, mutated
// ones are removed by the right rule; MBPP/HumanEval code runs in the sandbox (a wrong solution,
// an endless loop and a memory hog are caught); the arithmetic verifier agrees with known values.
#include "test.h"
#include "base/check.h"
#include "base/io.h"
#include "curate/audit.h"
#include "curate/chains.h"
#include "curate/sandbox.h"
#include <cjson/cJSON.h>
#include <unistd.h>

static char tmpdir[256];

TEST(arithmetic_verifier) {
    struct { const char *e; double v; int ok; } c[] = {
        {"48/2", 24, 1}, {"2+3*4", 14, 1}, {"(1+2)*3", 9, 1}, {"2^3", 8, 1}, {"2**3*2", 16, 1}, {"1,000*2", 2000, 1},
        {"10-2-3", 5, 1}, {"-3+5", 2, 1}, {"7%4", 3, 1}, {"0.5*12", 6, 1}, {"3-", 0, 0}, {"4/0", 0, 0}, {"2 x 3", 0, 0}, {"", 0, 0}};
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        double v = -1;
        int r = arith_eval(c[i].e, strlen(c[i].e), &v);
        CHECK((r == 0) == c[i].ok && (!c[i].ok || fabs(v - c[i].v) < 1e-12), "%s -> rc %d value %g", c[i].e, r, v);
    }
    double v;
    CHECK(parse_number(" 1,234 apples", &v) == 0 && v == 1234, "1,234");
    CHECK(parse_number("$-3.5.", &v) == 0 && v == -3.5, "-3.5");
    CHECK(parse_number("none", &v) < 0, "no number");
}

static void write_lines(const char *path, char **lines, int n) {
    FILE *f = fopen(path, "w");
    for (int i = 0; i < n; i++) fprintf(f, "%s\n", lines[i]);
    fclose(f);
}

static cJSON *report(const char *dir) {
    char *p = path_join(dir, "report.json"), *b; size_t n;
    cJSON *r = io_read_all(p, &b, &n) == 0 ? cJSON_Parse(b) : NULL;
    if (r) free(b);
    free(p);
    return r;
}

static double rule_count(cJSON *r, const char *rule) {
    cJSON *e = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "removed_by_rule"), rule);
    return e ? e->valuedouble : 0;
}

TEST(gsm8k_chains_and_mutations) {
    char *buf; size_t n;
    if (io_read_all("../shared/data/gsm8k/test.jsonl", &buf, &n) < 0) { printf("  (skipped: no ../shared/data)\n"); return; }
    // 200 real records with a reference field = their own final answer; then 4 kinds of damage
    char *lines[260]; int nl = 0;
    char *p = buf;
    for (int i = 0; i < 200; i++) {
        char *e = strchr(p, '\n'); *e = 0;
        cJSON *o = cJSON_Parse(p);
        const char *ans = cJSON_GetObjectItem(o, "answer")->valuestring;
        const char *fin = strstr(ans, "####") + 4;
        cJSON_AddStringToObject(o, "ref", fin);
        char id[16]; snprintf(id, sizeof id, "g%d", i);
        cJSON_AddStringToObject(o, "id", id);
        if (i < 10) {           // wrong final answer (reference kept)
            char *a = xstrdup(ans); char *h = strstr(a, "####");
            snprintf(h, strlen(h) + 1, "#### 987654");
            cJSON_ReplaceItemInObject(o, "answer", cJSON_CreateString(a)); free(a);
        } else if (i < 20) {    // a calculator annotation with a wrong value
            char *a = xstrdup(ans); char *c = strstr(a, "<<"), *eq = c ? strchr(c, '=') : NULL;
            if (eq) { eq[1] = eq[1] == '9' ? '1' : '9'; }
            cJSON_ReplaceItemInObject(o, "answer", cJSON_CreateString(a)); free(a);
        } else if (i < 25) {    // no final answer
            char *a = xstrdup(ans); *strstr(a, "####") = 0;
            cJSON_ReplaceItemInObject(o, "answer", cJSON_CreateString(a)); free(a);
        } else if (i < 30) {    // the same step over and over
            cJSON_ReplaceItemInObject(o, "answer", cJSON_CreateString("He has 3.\nHe has 3.\nHe has 3.\nHe has 3.\n#### 3"));
            cJSON_ReplaceItemInObject(o, "ref", cJSON_CreateString("3"));
        }
        lines[nl++] = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        p = e + 1;
    }
    free(buf);
    char *in = path_join(tmpdir, "g.jsonl"), *out = path_join(tmpdir, "g_out");
    write_lines(in, lines, nl);
    ChainOptions o; chains_default_options(&o);
    o.input = in; o.out_dir = out; o.reference_field = "ref"; o.audit_per_stratum = 5;
    ChainCounts c;
    CHECK(chains_run(&o, &c) == 0, "%s", last_error());
    cJSON *r = report(out);
    CHECK(r && c.records == 200, "records %zu", c.records);
    if (!r) return;
    CHECK(rule_count(r, "math:wrong_answer") == 10, "wrong answers %g", rule_count(r, "math:wrong_answer"));
    double badc = rule_count(r, "math:bad_calculation");
    CHECK(badc >= 8 && badc <= 10, "bad calculations %g (records without annotations cannot be caught)", badc);
    CHECK(rule_count(r, "math:no_final_answer") == 5, "no final %g", rule_count(r, "math:no_final_answer"));
    CHECK(rule_count(r, "chain:repetitive") == 5, "repetitive %g", rule_count(r, "chain:repetitive"));
    CHECK(c.kept == 200 - 30 + (size_t)(10 - badc), "kept %zu: untouched real chains must all pass", c.kept);
    // the sample goes to the audit flow: the sheet applies
    char *sheet = path_join(out, "audit_sheet.jsonl");
    CHECK(io_exists(sheet), "no audit sheet");
    cJSON_Delete(r);
    for (int i = 0; i < nl; i++) free(lines[i]);
    free(in); free(out); free(sheet);
}

TEST(code_records_run_in_sandbox) {
    char *buf; size_t n;
    if (io_read_all("../shared/data/mbpp/mbpp.jsonl", &buf, &n) < 0) { printf("  (skipped: no ../shared/data)\n"); return; }
    char *lines[8]; int nl = 0;
    char *p = buf;
    for (int i = 0; i < 5; i++) {
        char *e = strchr(p, '\n'); *e = 0;
        cJSON *o = cJSON_Parse(p);
        if (i == 1) cJSON_ReplaceItemInObject(o, "code", cJSON_CreateString("def remove_Occ(s, ch):\n    return s"));
        if (i == 2) cJSON_ReplaceItemInObject(o, "code", cJSON_CreateString("while True:\n    pass"));
        if (i == 3) cJSON_ReplaceItemInObject(o, "code", cJSON_CreateString("x = bytearray(2 * 1024 * 1024 * 1024)"));
        lines[nl++] = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        p = e + 1;
    }
    free(buf);
    char *in = path_join(tmpdir, "m.jsonl"), *out = path_join(tmpdir, "m_out");
    write_lines(in, lines, nl);
    ChainOptions o; chains_default_options(&o);
    o.input = in; o.out_dir = out; o.timeout_s = 3; o.mem_bytes = (size_t)512 << 20; o.audit_per_stratum = 0;
    ChainCounts c;
    CHECK(chains_run(&o, &c) == 0, "%s", last_error());
    cJSON *r = report(out);
    CHECK(c.code_runs == 5 && c.code_pass == 2, "runs %zu passed %zu", c.code_runs, c.code_pass);
    CHECK(r && rule_count(r, "code:timeout") == 1 && rule_count(r, "code:tests_failed") == 2, "timeout %g failed %g",
          rule_count(r, "code:timeout"), rule_count(r, "code:tests_failed"));
    cJSON_Delete(r);
    // the sandbox itself: exit codes, a missing program
    SandboxResult sr;
    const char *ok[] = {"python3", "-c", "import sys; sys.exit(int(sys.stdin.read()))", NULL};
    CHECK(sandbox_run(ok, "7", 1, NULL, 5, 0, &sr) == 0 && sr.exit_code == 7 && !sr.timed_out, "exit code %d", sr.exit_code);
    const char *nope[] = {"deepc-no-such-program", NULL};
    CHECK(sandbox_run(nope, "", 0, NULL, 5, 0, &sr) < 0 && strstr(last_error(), "deepc-no-such-program"), "missing program: %s", last_error());
    for (int i = 0; i < nl; i++) free(lines[i]);
    free(in); free(out);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/deepc_test_chains_%d", (int)getpid());
    io_mkdir_p(tmpdir);
    RUN(arithmetic_verifier);
    RUN(gsm8k_chains_and_mutations);
    RUN(code_records_run_in_sandbox);
    io_rm_rf(tmpdir);
    return test_summary();
}
