// pii.h — personal data and secrets replaced by placeholders: e-mail addresses → <EMAIL>,
// public IPv4 addresses → <IP>, phone numbers → <PHONE>, keys and secrets (AWS/GitHub/OpenAI/
// Slack tokens, private-key blocks, `password = value` style assignments) → <SECRET>.
#pragma once
#include <stddef.h>

enum { PII_EMAIL, PII_IP, PII_PHONE, PII_SECRET, PII_KINDS };
extern const char *const PII_NAMES[PII_KINDS];         // "email", "ip", "phone", "secret"
typedef struct Pii Pii;                                  // compiled patterns, shared by threads
typedef struct PiiScratch PiiScratch;                    // per-thread match data

Pii *pii_new(void);                  // NULL + fail() if a pattern does not compile
void pii_free(Pii *p);
PiiScratch *pii_scratch_new(const Pii *p);
void pii_scratch_free(PiiScratch *s);
// Replace every hit in *text (realloc'd, NUL-terminated); adds hits per kind to counts[PII_KINDS].
// Returns the total number of replacements.
size_t pii_redact(const Pii *p, PiiScratch *s, char **text, size_t *len, size_t *counts);
