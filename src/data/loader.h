// loader.h — training batches from a folder of token shards.
//
// Documents (each starting with BOS, as `deepc tokenize` writes them) are
// packed into rows of T+1 tokens that start with BOS; a piece that does not
// start its document gets a BOS in front. inputs = row[0..T-1], targets =
// row[1..T] (row[T] is seen only as a target). Two ways to sample:
//
// - Whole documents with best fit (the default for split "train"): the largest
//   buffered piece that fits goes next; when none fits, a random piece longer
//   than a row (else the longest) is cropped and its rest stays buffered. Short
//   documents go first and long ones wait, so a run shorter than an epoch sees
//   short documents and the beginnings of long ones, and the next epoch's short
//   documents come round while long ones are pending. Measured on the speedrun
//   (docs/training.md), that per-document mixture trained a better tiny model
//   at 400 steps than the token-fair one below; it is kept until a deliberate
//   per-document cap replaces it.
// - Units (unit_tokens > 0; the default for other splits, 1024): documents are
//   cut into units of at most unit_tokens, units are shuffled, so every token is
//   equally likely to come early. Pieces wait in draw order; a row starts with
//   the oldest, then the oldest pieces that fit (first fit); when none fits, a
//   piece is cropped (the first of the 8 oldest that is longer than a row, else
//   the oldest). Its rest continues the same row of the next batch when
//   interleaving (the B rows of a batch come from B places; a unit filling 4
//   consecutive rows of an 8-row batch trained far worse), else it starts the
//   next row (one sequential stream: even the first few validation batches are
//   a fair per-token sample of the split).
//
// Order: seeded shuffled epochs, or score-ordered sampling with a pacing
// function (curriculum.h). Each data-parallel rank owns a disjoint slice of the
// documents (global document g, counting through the shards in name order,
// belongs to rank g % world).
// A cursor (JSON) restores exactly. BOS is detected as the first token shared
// by every document (-1 when they differ: then pieces get no BOS prefix).
#pragma once
#include "data/curriculum.h"
#include <cjson/cJSON.h>
#include <stdint.h>

typedef struct Loader Loader;

typedef struct {
    const char *dir;            // folder with <split>_XXXX.bin shards (and manifest.json)
    const char *split;          // "train" or "val"
    int rank, world;            // data-parallel slice (0, 1 for a single process)
    uint64_t seed;
    uint32_t expect_vocab;      // 0 = accept any; else refuse shards of another vocabulary size (exact; a model
                                // with a padded vocab should pass 0 and check loader_vocab_size(L) <= V)
    uint64_t expect_fingerprint;// 0 = accept any; else refuse shards of another tokenizer
    int buffer_docs;            // pieces looked at to fill a row (0 = default 256; capped at the slice's unit count)
    uint32_t unit_tokens;       // longest unit a document is cut into; 0 (default): whole documents with best
                                // fit for split "train", 1024 for other splits (keep it >= T: context)
    int interleave;             // units: 1 interleave rows (see above), 0 one stream; -1 (default): 1 for "train"
    int pad_not_crop;           // 1: when nothing fits, pad the row (targets -1) instead of cropping
    int32_t pad_id;             // token used for padding inputs (pad_not_crop)
    Curriculum curriculum;      // ordering / pacing (curriculum_default for plain shuffle)
} LoaderConfig;

// Fill cfg with defaults: split "train", rank 0 of 1, seed 0, default curriculum.
void loader_config_default(LoaderConfig *cfg, const char *dir);
// Open and validate every shard of the split up front.
int loader_open(Loader **out, const LoaderConfig *cfg);
void loader_close(Loader *L);

// Next batch for training step `step` (used for curriculum pacing):
// inputs, targets: [B, T] int32 (caller-allocated); targets -1 = ignore.
// pos (may be NULL): [B, T] position of each input token inside its piece
// (0 at every document start and at every continuation's BOS) for sample masking.
int loader_next_batch(Loader *L, int64_t step, int B, int T, int32_t *inputs, int32_t *targets, int32_t *pos);

// Replace the curriculum (e.g. once the run's total steps are known); validated;
// saved in the cursor from then on. Difficulty orders need per-document scores.
int loader_set_curriculum(Loader *L, const Curriculum *c);
const Curriculum *loader_curriculum(const Loader *L);

uint64_t loader_epoch(const Loader *L);         // passes over this rank's units drawn into the packing buffer
                                                // (which runs ahead of the rows by at most buffer_docs units)
uint64_t loader_tokens(const Loader *L);        // tokens delivered as inputs so far (padding excluded)
uint64_t loader_num_docs(const Loader *L);      // documents in this rank's slice
uint64_t loader_num_tokens(const Loader *L);    // tokens in this rank's slice
uint32_t loader_vocab_size(const Loader *L);    // vocab size recorded in the shards
int loader_has_scores(const Loader *L);         // 1 if every shard carries per-document scores (difficulty orders need them)
uint64_t loader_fingerprint(const Loader *L);   // tokenizer fingerprint recorded in the shards

// Cursor: everything needed to continue exactly (RNG, epoch, position,
// pending documents, counters). Restore checks it belongs to the same data,
// seed and rank/world.
cJSON *loader_cursor_save(const Loader *L);
int loader_cursor_restore(Loader *L, const cJSON *cursor);
// Back to the state right after loader_open (e.g. to replay the same val batches).
void loader_rewind(Loader *L);
