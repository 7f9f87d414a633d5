// chains.h — checks of reasoning chains (question, chain, answer records): rule-based verifiers
// and structure scores, then filtering and a sample for the audit flow.
//   math (GSM8K format: chain then "#### answer"): the final answer must parse as a number and,
//     when a reference field is given, equal it within a tolerance; every calculator annotation
//     <<expression=value>> in the chain must evaluate to its value.
//   code (MBPP {"code","test_list"} or HumanEval {"prompt","canonical_solution","test",
//     "entry_point"}, or --code-field/--tests-field): the code and its tests run in python3 in a
//     sandboxed subprocess with time and memory limits; exit status 0 passes.
// Structure: steps (non-empty chain lines), words, repetition (share of duplicated lines).
// Output in DIR: data.jsonl (kept), removed.jsonl (with "curate_rule"), report.json, and
// audit_sheet.jsonl/.csv (a stratified sample, ready for `deepc curate audit apply`).
#pragma once
#include <stddef.h>

typedef struct {
    const char *input, *out_dir;
    const char *question_field;   // "question"
    const char *chain_field;      // "answer" (GSM8K: chain and "#### final")
    const char *reference_field;  // numeric reference answer, or NULL
    double tolerance;             // relative/absolute tolerance for numbers (1e-6)
    int min_steps;                // fewer chain steps: removed (1)
    double max_repetition;        // more duplicated lines: removed (0.5)
    double timeout_s;             // code: wall-clock limit per record (10)
    size_t mem_bytes;             // code: address-space limit (1 GiB)
    const char *python;           // "python3"
    int audit_per_stratum;        // rows per stratum in the audit sheet (20; 0 = none)
    unsigned long long seed;
} ChainOptions;

typedef struct { size_t records, kept, removed, code_runs, code_pass; } ChainCounts;

void chains_default_options(ChainOptions *o);
int chains_run(const ChainOptions *o, ChainCounts *c);
// Evaluate an arithmetic expression (+ - * / ^ % parentheses, decimals, commas in numbers).
// Returns 0 and *v, or -1 if it does not parse.
int arith_eval(const char *s, size_t n, double *v);
// The number in a final-answer string ("1,234", "$5", "-3.5", "72 apples"); -1 if none.
int parse_number(const char *s, double *v);
