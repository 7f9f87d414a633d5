// bias.h — bias report over a JSONL data set: for each term list (e.g. gendered or demographic
// terms; whole-word, case-insensitive) and each domain, the documents mentioning a term and the
// term rate per 1000 words; and for each pair of lists, documents mentioning both with the lift
// P(A and B) / (P(A) P(B)) (1 = independent). Writes bias.json and bias.md.
#pragma once

// terms_path: JSON object {"list name": ["term", ...], ...}, or NULL for the built-in lists
// (male, female, and occupation terms). out_prefix: "DIR/bias" → DIR/bias.json, DIR/bias.md.
int bias_report(const char *data_path, const char *terms_path, const char *out_prefix);
