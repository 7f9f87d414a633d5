// stream.c — UTF-8-safe, stop-string-aware output (see stream.h).
#include "infer/stream.h"
#include <stdlib.h>
#include <string.h>
#include "base/check.h"

void stream_init(TextStream *s, const char **stops, int nstops, StreamOut out, void *ctx) {
    memset(s, 0, sizeof *s);
    s->stops = stops; s->nstops = nstops; s->out = out; s->ctx = ctx;
}

void stream_free(TextStream *s) { free(s->buf); s->buf = NULL; s->len = s->cap = 0; }

// Bytes at the end of buf[0..n) that form an incomplete UTF-8 sequence (0 if complete or invalid).
static size_t utf8_incomplete_tail(const char *b, size_t n) {
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned char c = (unsigned char)b[n - k];
        if ((c & 0xC0) == 0x80) continue;              // continuation: look further back
        size_t need = c >= 0xF0 && c < 0xF8 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > k ? k : 0;
    }
    return 0;
}

static void emit(TextStream *s, size_t n) {
    if (n == 0) return;
    if (s->out) s->out(s->buf, n, s->ctx);
    memmove(s->buf, s->buf + n, s->len - n);
    s->len -= n;
}

int stream_push(TextStream *s, const char *bytes, size_t n) {
    if (s->stopped) return 1;
    if (s->len + n + 1 > s->cap) { s->cap = (s->len + n + 1) * 2; s->buf = xrealloc(s->buf, s->cap); }
    memcpy(s->buf + s->len, bytes, n);
    s->len += n;
    // A complete stop string: emit the text before the earliest one and stop.
    size_t first = (size_t)-1;
    for (int i = 0; i < s->nstops; i++) {
        size_t sl = strlen(s->stops[i]);
        if (sl == 0 || sl > s->len) continue;
        for (size_t p = 0; p + sl <= s->len; p++)
            if (!memcmp(s->buf + p, s->stops[i], sl)) { if (p < first) first = p; break; }
    }
    if (first != (size_t)-1) {
        emit(s, first);
        s->len = 0;
        s->stopped = 1;
        return 1;
    }
    // Hold back the longest tail that is a proper prefix of some stop string, and incomplete UTF-8.
    size_t hold = 0;
    for (int i = 0; i < s->nstops; i++) {
        size_t sl = strlen(s->stops[i]);
        for (size_t k = sl - 1; k > hold && sl > 0; k--)
            if (k <= s->len && !memcmp(s->buf + s->len - k, s->stops[i], k)) { hold = k; break; }
    }
    size_t inc = utf8_incomplete_tail(s->buf, s->len - hold);
    emit(s, s->len - hold - inc);
    return 0;
}

void stream_finish(TextStream *s) {
    if (!s->stopped) emit(s, s->len);
    s->len = 0;
}

// Length of the well-formed UTF-8 sequence at s[0..n) (Unicode table 3-7), or minus the length of its maximal
// ill-formed subpart (the lead byte and the continuation bytes that were still possible).
static int utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int need;
    unsigned lo = 0x80, hi = 0xBF;                     // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) { need = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
    else return -1;
    int k = 1;
    for (; k <= need; k++) {
        if ((size_t)k >= n) return -k;
        unsigned d = s[k];
        if (k == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xBF)) return -k;
    }
    return k;
}

char *utf8_lossy(const char *b, size_t n, size_t *len) {
    char *out = xmalloc(n * 3 + 1);                    // each bad byte becomes at most 3 bytes
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int l = utf8_seq((const unsigned char *)b + i, n - i);
        if (l > 0) { memcpy(out + o, b + i, (size_t)l); o += (size_t)l; i += (size_t)l; }
        else { memcpy(out + o, "\xEF\xBF\xBD", 3); o += 3; i += (size_t)-l; }
    }
    out[o] = 0;
    *len = o;
    return out;
}
