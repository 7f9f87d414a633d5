// pretok.h — what happens to text before the BPE model: Unicode normalization
// (NFC / NFKC through utf8proc) and pre-tokenization (a sequence of Split steps
// with a PCRE2 regex or a literal, and ByteLevel), with Hugging Face tokenizers'
// semantics. Input must be valid UTF-8 (the caller cuts invalid bytes out).
#pragma once
#include <stddef.h>
#include <stdint.h>

enum { NORM_NFC = 1, NORM_NFKC = 2 };
typedef struct { int n; int kind[8]; } Normalizer;
// Apply the normalizer steps; *out is a heap string (also when there are no steps).
int norm_apply(const Normalizer *nz, const char *s, size_t n, char **out, size_t *outn);

enum { SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS };
enum { PT_SPLIT, PT_BYTELEVEL };
typedef struct {
    int kind;                   // PT_SPLIT or PT_BYTELEVEL
    void *re;                   // pcre2_code* (Split with a regex), NULL for a literal
    char *literal; size_t lit_len;
    char *pattern;              // the regex source (Split with a regex)
    uint8_t first[256];         // bytes a match can start with (PCRE2's first-code-unit bitmap)
    int has_first;              // 1: skip the regex on pieces holding none of those bytes
    int behavior, invert;       // Split
    int add_prefix_space, use_regex;  // ByteLevel
} PretokStep;

typedef struct { PretokStep *steps; int n; int has_bytelevel; } Pretok;

// The GPT-2 pattern that ByteLevel uses when use_regex is true.
extern const char *PRETOK_GPT2_PATTERN;
// DeepSeek-V3's splitting rules (three Split steps: digits, CJK runs, the rest).
extern const char *PRETOK_DSV3_DIGITS, *PRETOK_DSV3_CJK, *PRETOK_DSV3_MAIN;

int pretok_add_split_regex(Pretok *p, const char *pattern, int behavior, int invert);  // fails on a bad regex
void pretok_add_split_literal(Pretok *p, const char *lit, size_t n, int behavior, int invert);
int pretok_add_bytelevel(Pretok *p, int add_prefix_space, int use_regex);
void pretok_free(Pretok *p);

// Pieces of text: byte ranges of buf.
typedef struct { uint32_t off, len; } Piece;
typedef struct {
    char *buf; size_t len, cap;     // working text (a copy; ByteLevel may insert prefix spaces)
    Piece *v; size_t n, cap_v;
    Piece *tmp; size_t cap_tmp;
    char *buf2; size_t cap2;
    void *md;                        // pcre2_match_data*
} Pieces;
void pieces_free(Pieces *ps);
// Split text into pre-tokens (ps->v[0..n) over ps->buf).
void pretok_run(const Pretok *p, const char *text, size_t len, Pieces *ps);
