// classify.h — a fastText-style linear text classifier: hashed word n-grams and character
// n-grams are embedded ([buckets, dim]) and averaged, a linear layer ([labels, dim]) and softmax
// give label probabilities; trained by SGD with a linearly decaying learning rate. Single-threaded
// training, so a seed gives the same model on every machine. Used for domain (code / math /
// prose ...) and quality scores, and by the iterative refinement loop (curate/refine.h).
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int dim;            // embedding size (32)
    int buckets;        // hashed feature rows (1<<18)
    int word_ngrams;    // word n-grams 1..word_ngrams (2)
    int minn, maxn;     // character n-grams of "<word>" (3..5; maxn 0 = none)
    int epochs;         // 5
    float lr;           // 0.5, decays linearly to 0
    int max_chars;      // only the first max_chars bytes of a text are used (8192)
    uint64_t seed;
    int refine_neg_ratio;   // refinement: random pool negatives per positive (1, as DeepSeekMath)
} ClassifierConfig;

typedef struct {
    ClassifierConfig c;
    int nlabels;
    char **labels;      // [nlabels]
    float *E;           // [buckets, dim] feature embeddings
    float *W;           // [nlabels, dim] output layer
} Classifier;

typedef struct { uint32_t *f; size_t cap; } ClassifyScratch;   // per-thread feature ids

// A labelled set read from JSONL (text_field, label_field).
typedef struct { char **texts; size_t *lens; char **labels; size_t n, cap; } LabelledSet;

void classifier_default_config(ClassifierConfig *c);
// Train on n texts with label indices y[i] in [0, nlabels). Returns the mean loss of the last epoch.
double classifier_train(Classifier *m, const ClassifierConfig *c, const char *const *texts, const size_t *lens,
                        const int *y, size_t n, const char *const *label_names, int nlabels);
// Probabilities into probs[nlabels]; returns the argmax label.
int classifier_predict(const Classifier *m, ClassifyScratch *s, const char *text, size_t n, float *probs);
int classifier_label_index(const Classifier *m, const char *label);   // -1 if unknown
int classifier_save(const Classifier *m, const char *path);           // atomic write
int classifier_load(Classifier *m, const char *path);                 // -1 + fail() on a bad file
void classifier_free(Classifier *m);
void classify_scratch_free(ClassifyScratch *s);

int labelled_load(LabelledSet *s, const char *path, const char *text_field, const char *label_field);
void labelled_add(LabelledSet *s, const char *text, size_t n, const char *label);
void labelled_free(LabelledSet *s);
// Distinct labels in order of first appearance (heap array of pointers into s; free the array only).
const char **labelled_label_names(const LabelledSet *s, int *nlabels);
