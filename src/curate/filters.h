// filters.h — heuristic quality rules (Gopher quality and repetition, C4, FineWeb, DeepSeek-Coder
// code rules). Each removal names its rule, e.g. "gopher_quality:stop_words". Thresholds are
// per domain (see curate.h); defaults follow datatrove / FineWeb / DeepSeek-Coder.
#pragma once
#include <stddef.h>

typedef struct {
    // which rule groups run
    int gopher_quality, gopher_rep, c4, fineweb, code;
    // Gopher quality
    int gq_min_words, gq_max_words;             // non-symbol words: 50 .. 100000
    double gq_min_avg_word, gq_max_avg_word;    // 3 .. 10 characters
    double gq_max_symbol_word;                  // '#' per word, and ellipses per word: 0.1
    double gq_max_bullet_lines;                 // 0.9
    double gq_max_ellipsis_lines;               // 0.3
    double gq_min_alpha_words;                  // 0.8 (words containing a letter)
    int gq_min_stop_words;                      // 2 of {the, be, to, of, and, that, have, with}
    // Gopher repetition
    double gr_dup_line_frac, gr_dup_para_frac;            // 0.3, 0.3
    double gr_dup_line_char_frac, gr_dup_para_char_frac;  // 0.2, 0.2
    double gr_top_ngram[3];                               // n = 2, 3, 4: 0.20, 0.18, 0.16
    double gr_dup_ngram[6];                               // n = 5..10: 0.15 .. 0.10
    // C4
    int c4_terminal_punct;        // drop lines without terminal punctuation (0, as FineWeb runs it)
    int c4_min_words_line;        // 3
    int c4_min_sentences;         // 5
    int c4_max_word_len;          // 1000
    // FineWeb
    double fw_line_punct;         // min fraction of lines ending in punctuation: 0.12
    double fw_short_line;         // max fraction of lines <= fw_short_line_len chars: 0.67
    int fw_short_line_len;        // 30
    double fw_char_dup;           // max chars in duplicated lines / chars: 0.01 (datatrove code)
    double fw_newline_ratio;      // max newlines per word: 0.3
    // DeepSeek-Coder code rules
    double code_max_avg_line;     // 100
    double code_max_line;         // 1000
    double code_min_alpha;        // 0.25
    int code_min_json, code_max_json;  // JSON/YAML kept only with 50..5000 chars
    double code_min_html_text;    // HTML: visible text >= 20% ...
    int code_min_html_chars;      // ... and >= 100 chars
} FilterParams;

typedef struct FilterScratch FilterScratch;   // per-thread working memory

void filter_defaults_text(FilterParams *p);   // prose: Gopher + C4 + FineWeb
void filter_defaults_code(FilterParams *p);   // code: DeepSeek-Coder rules only
FilterScratch *filter_scratch_new(void);
void filter_scratch_free(FilterScratch *s);

// Apply the rules to one document. Returns NULL if it is kept, or the rule that removed it.
// C4 may drop lines: then *text is replaced (realloc'd) and *len updated. lang may be NULL.
const char *filter_apply(const FilterParams *p, FilterScratch *s, char **text, size_t *len, const char *lang);

// Set a parameter by name ("gq_min_words", "fw_char_dup", ...). -1 + fail() if unknown.
int filter_set(FilterParams *p, const char *name, double value);
