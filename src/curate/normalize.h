// normalize.h — text normalization for curation: UTF-8 validation and repair (invalid bytes
// become U+FFFD), a leading BOM dropped, CRLF/CR → LF, control characters removed (tab and
// newline kept), trailing whitespace stripped from every line and from the end, Unicode NFC.
#pragma once
#include <stddef.h>

typedef struct {
    size_t invalid_utf8;     // invalid byte sequences replaced by U+FFFD
    size_t controls;         // control characters removed
    size_t line_endings;     // CR / CRLF rewritten
    size_t nfc_changed;      // documents whose text NFC changed
} NormStats;

// Normalize n bytes of in into a new heap string (*out, *outlen; NUL-terminated).
// Returns 0, or -1 with fail() if utf8proc fails (out of memory).
int normalize_text(const char *in, size_t n, char **out, size_t *outlen, NormStats *st);
// 1 if s[0..n) is valid UTF-8 (no surrogates, no overlongs, <= U+10FFFF).
int utf8_valid(const char *s, size_t n);
