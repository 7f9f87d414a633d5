// pii.c — PII and secret patterns with PCRE2 (JIT), each gated by a cheap byte pre-check.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "curate/pii.h"
#include "base/check.h"
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

const char *const PII_NAMES[PII_KINDS] = {"email", "ip", "phone", "secret"};
static const char *const PLACEHOLDER[PII_KINDS] = {"<EMAIL>", "<IP>", "<PHONE>", "<SECRET>"};

static const char *const PATTERN[PII_KINDS] = {
    "[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}",
    "(?<![\\d.])(?:(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(?!\\d|\\.\\d)",
    "(?<![\\w+])(?:\\+\\d{1,3}[ .-]?)?(?:\\(\\d{3}\\)[ .-]?|\\d{3}[ .-])\\d{3}[ .-]\\d{4}(?!\\w)",
    "AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36}|sk-[A-Za-z0-9_-]{32,}|xox[baprs]-[A-Za-z0-9-]{10,}"
    "|-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[\\s\\S]*?-----END (?:[A-Z]+ )?PRIVATE KEY-----"
    "|(?i:api[_-]?key|secret[_-]?key|secret|password|passwd|access[_-]?token|auth[_-]?token|token)[\"']?\\s*[:=]\\s*[\"']?"
    "\\K(?=[A-Za-z_\\-/+=]*[0-9])[A-Za-z0-9_\\-/+=]{12,}",
};

struct Pii { pcre2_code *re[PII_KINDS]; };
struct PiiScratch { pcre2_match_data *md; char *buf; size_t cap; };

Pii *pii_new(void) {
    Pii *p = xcalloc(1, sizeof *p);
    for (int k = 0; k < PII_KINDS; k++) {
        int err; PCRE2_SIZE off;
        p->re[k] = pcre2_compile((PCRE2_SPTR)PATTERN[k], PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
        if (!p->re[k]) {
            char msg[256];
            pcre2_get_error_message(err, (PCRE2_UCHAR *)msg, sizeof msg);
            pii_free(p);
            fail("internal: PII pattern %s does not compile at offset %zu: %s", PII_NAMES[k], (size_t)off, msg);
            return NULL;
        }
        pcre2_jit_compile(p->re[k], PCRE2_JIT_COMPLETE);   // falls back to the interpreter if JIT is unavailable
    }
    return p;
}

void pii_free(Pii *p) {
    if (!p) return;
    for (int k = 0; k < PII_KINDS; k++) if (p->re[k]) pcre2_code_free(p->re[k]);
    free(p);
}

PiiScratch *pii_scratch_new(const Pii *p) {
    PiiScratch *s = xcalloc(1, sizeof *s);
    s->md = pcre2_match_data_create_from_pattern(p->re[PII_SECRET], NULL);
    if (!s->md) fatal("out of memory (PCRE2 match data)");
    return s;
}

void pii_scratch_free(PiiScratch *s) {
    if (!s) return;
    pcre2_match_data_free(s->md); free(s->buf); free(s);
}

static int public_ipv4(const char *t, size_t n) {
    int v[4] = {0}, k = 0;
    for (size_t i = 0; i < n && k < 4; i++) {
        if (t[i] == '.') k++;
        else v[k] = v[k] * 10 + (t[i] - '0');
    }
    if (v[0] == 0 || v[0] == 10 || v[0] == 127 || v[0] >= 224) return 0;
    if (v[0] == 169 && v[1] == 254) return 0;
    if (v[0] == 172 && v[1] >= 16 && v[1] <= 31) return 0;
    if (v[0] == 192 && v[1] == 168) return 0;
    return 1;
}

static int precheck(int k, const char *t, size_t n) {
    switch (k) {
    case PII_EMAIL: return memchr(t, '@', n) != NULL;
    case PII_IP: return memchr(t, '.', n) != NULL;
    case PII_PHONE: {
        int run = 0;   // some run of 3 digits
        for (size_t i = 0; i < n; i++) { if (t[i] >= '0' && t[i] <= '9') { if (++run >= 3) return 1; } else run = 0; }
        return 0;
    }
    default: return 1;
    }
}

size_t pii_redact(const Pii *p, PiiScratch *s, char **text, size_t *len, size_t *counts) {
    size_t total = 0;
    for (int k = 0; k < PII_KINDS; k++) {
        const char *t = *text; size_t n = *len;
        if (!precheck(k, t, n)) continue;
        size_t pos = 0, done = 0, out = 0, hits = 0;   // pos: search start; done: input copied so far
        size_t ph = strlen(PLACEHOLDER[k]);
        for (;;) {
            int rc = pcre2_match(p->re[k], (PCRE2_SPTR)t, n, pos, 0, s->md, NULL);
            if (rc < 0) break;
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
            size_t a = ov[0], b = ov[1];
            if (b <= a) { pos = a + 1; if (pos > n) break; continue; }
            if (k == PII_IP && !public_ipv4(t + a, b - a)) { pos = b; continue; }
            size_t need = out + (a - done) + ph + (n - b) + 1;
            if (need > s->cap) { s->cap = need * 2; s->buf = xrealloc(s->buf, s->cap); }
            memcpy(s->buf + out, t + done, a - done); out += a - done;
            memcpy(s->buf + out, PLACEHOLDER[k], ph); out += ph;
            pos = done = b;
            hits++;
        }
        if (!hits) continue;
        memcpy(s->buf + out, t + done, n - done); out += n - done;
        *text = xrealloc(*text, out + 1);
        memcpy(*text, s->buf, out);
        (*text)[out] = 0;
        *len = out;
        counts[k] += hits;
        total += hits;
    }
    return total;
}
