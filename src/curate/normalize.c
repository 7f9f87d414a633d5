// normalize.c — UTF-8 repair, line endings, controls, trailing whitespace, NFC (utf8proc).
#include "curate/normalize.h"
#include "base/check.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

// Length of the valid UTF-8 sequence at s (n bytes left) and its code point, or 0 if invalid.
static int utf8_seq(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    int len; uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; v = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; v = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

int utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) { i++; continue; }
        uint32_t cp;
        int l = utf8_seq(u + i, n - i, &cp);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

int normalize_text(const char *in, size_t n, char **out, size_t *outlen, NormStats *st) {
    const unsigned char *u = (const unsigned char *)in;
    char *o = xmalloc(3 * n + 1);
    size_t k = 0;                    // output length
    int nfc_safe = 1;                 // every code point is one that NFC never changes (see below)
    size_t i = 0;
    if (n >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) i = 3;
    size_t ws_start = (size_t)-1;    // start of the current run of spaces/tabs in the output
    while (i < n) {
        unsigned c = u[i];
        if (c < 0x80) {
            i++;
            if (c == '\r') {
                if (i < n && u[i] == '\n') i++;
                c = '\n';
                if (st) st->line_endings++;
            }
            if (c == '\n') {
                if (ws_start != (size_t)-1) k = ws_start;  // strip trailing whitespace of the line
                ws_start = (size_t)-1;
                o[k++] = '\n';
                continue;
            }
            if ((c < 0x20 && c != '\t') || c == 0x7F) { if (st) st->controls++; continue; }
            if (c == ' ' || c == '\t') { if (ws_start == (size_t)-1) ws_start = k; }
            else ws_start = (size_t)-1;
            o[k++] = (char)c;
            continue;
        }
        uint32_t cp;
        int l = utf8_seq(u + i, n - i, &cp);
        if (!l) {
            ws_start = (size_t)-1;   // one invalid byte → U+FFFD
            if (st) st->invalid_utf8++;
            o[k++] = (char)0xEF; o[k++] = (char)0xBF; o[k++] = (char)0xBD;
            i++;
            continue;
        }
        if (cp >= 0x80 && cp <= 0x9F) { if (st) st->controls++; i += l; continue; }   // C1 controls
        ws_start = (size_t)-1;
        // NFC leaves a string alone when it has no combining marks, singletons or composition
        // exclusions: true for every code point below U+0300, general punctuation (U+2010..U+205E,
        // not the spaces U+2000..U+200F) and U+FFFD. Anything else goes through utf8proc.
        if (!(cp < 0x300 || (cp >= 0x2010 && cp <= 0x205E) || cp == 0xFFFD)) nfc_safe = 0;
        memcpy(o + k, u + i, l);
        k += l; i += l;
    }
    // strip trailing whitespace (including newlines) at the end
    while (k && (o[k - 1] == ' ' || o[k - 1] == '\t' || o[k - 1] == '\n')) k--;
    o[k] = 0;
    if (!nfc_safe && k) {
        utf8proc_uint8_t *nfc = NULL;
        utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)o, (utf8proc_ssize_t)k, &nfc,
                                          UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (r < 0) { free(o); return fail("Unicode NFC failed: %s", utf8proc_errmsg(r)); }
        if ((size_t)r != k || memcmp(nfc, o, k)) {
            if (st) st->nfc_changed++;
            free(o);
            o = (char *)nfc;
            k = (size_t)r;
        } else free(nfc);
    }
    *out = o;
    *outlen = k;
    return 0;
}
