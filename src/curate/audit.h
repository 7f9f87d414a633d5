// audit.h — human review of a curation run. `audit_sample` draws a stratified sample (per removal
// rule, and per domain of the kept documents) from DIR/data.jsonl and DIR/removed.jsonl into a
// review sheet (JSONL and CSV). The reviewer fills "decision" (keep / drop / relabel), "label"
// (for relabel) and "note". `audit_apply` carries the decisions back into the data set (kept
// documents dropped, removed ones restored, domains relabelled) and appends one line per decision
// to DIR/ledger.jsonl (who, when, why, what changed), so every iteration is reproducible.
// Works on uncompressed output (run `deepc curate` without --compress).
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct { size_t rows, kept_to_removed, removed_to_kept, relabelled, unchanged; } AuditCounts;

// sheet_path ends in .jsonl; a .csv twin is written next to it. per_stratum rows per stratum.
int audit_sample(const char *dir, const char *sheet_path, int per_stratum, uint64_t seed, size_t *rows);
// sheet_path: the reviewed sheet (.jsonl or .csv). Fails (changing nothing) on a stale or malformed sheet.
int audit_apply(const char *dir, const char *sheet_path, const char *reviewer, AuditCounts *counts);
