// refine.h — iterative dataset refinement as in DeepSeekMath: train a classifier on the seed
// positives against random pool documents, score the pool, add the top-scored documents to the
// positives, and repeat; precision and recall are measured each round on a held-out labelled set.
#pragma once
#include "curate/classify.h"

typedef struct {
    int round;
    size_t positives;            // training positives this round (seeds + added)
    size_t added;                // pool documents added after this round
    double precision, recall;    // on the held-out set, predicting positive when p >= 0.5
    double added_precision;      // share of the added documents whose pool label is positive (-1 if unknown)
} RefineRound;

// pool labels are optional (used only for added_precision when they equal pos_label or not).
// Returns 0 and fills out[rounds]; *final (if not NULL) receives the last round's model.
int refine_run(const ClassifierConfig *c, const LabelledSet *seeds, const LabelledSet *pool,
               const LabelledSet *heldout, const char *pos_label, int rounds, size_t top_k,
               RefineRound *out, Classifier *final);
