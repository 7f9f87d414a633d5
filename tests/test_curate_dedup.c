// test_curate_dedup.c — exact and near-duplicate detection.
// The S-curve test plants near-duplicates at known edit rates, measures the true Jaccard
// similarity of their 5-gram sets here (independently of the library), and checks that the
// LSH detection rate per similarity bin follows 1-(1-s^r)^b.
#include "test.h"
#include "base/check.h"
#include "base/rng.h"
#include "curate/exact.h"
#include "curate/minhash.h"
#include <time.h>

static uint64_t SEED;

// A random lowercase word of 5 letters (digits would all simplify to 0).
static char *rand_word(Rng *r) {
    char b[8];
    for (int k = 0; k < 5; k++) b[k] = (char)('a' + rng_below(r, 26));
    b[5] = 0;
    return xstrdup(b);
}

// n random words from a vocabulary of 26^5 (no accidental shared 5-grams).
static char **rand_words(Rng *r, int n) {
    char **w = xmalloc(n * sizeof(char *));
    for (int i = 0; i < n; i++) w[i] = rand_word(r);
    return w;
}

static char *join(char **w, int n) {
    size_t len = 0;
    for (int i = 0; i < n; i++) len += strlen(w[i]) + 1;
    char *s = xmalloc(len + 1), *p = s;
    for (int i = 0; i < n; i++) p += sprintf(p, "%s%s", i ? " " : "", w[i]);
    return s;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Exact Jaccard of the word 5-gram sets, with strings and sorting (independent of minhash.c).
static double jaccard5(char **a, int na, char **b, int nb) {
    char **ga = xmalloc(na * sizeof(char *)), **gb = xmalloc(nb * sizeof(char *));
    int ma = 0, mb = 0;
    for (int i = 0; i + 5 <= na; i++) ga[ma++] = join(a + i, 5);
    for (int i = 0; i + 5 <= nb; i++) gb[mb++] = join(b + i, 5);
    qsort(ga, ma, sizeof(char *), cmp_str); qsort(gb, mb, sizeof(char *), cmp_str);
    int ua = 0, ub = 0;
    for (int i = 0; i < ma; i++) if (!ua || strcmp(ga[i], ga[ua - 1])) ga[ua++] = ga[i]; else free(ga[i]);
    for (int i = 0; i < mb; i++) if (!ub || strcmp(gb[i], gb[ub - 1])) gb[ub++] = gb[i]; else free(gb[i]);
    int i = 0, j = 0, inter = 0;
    while (i < ua && j < ub) { int c = strcmp(ga[i], gb[j]); if (!c) { inter++; i++; j++; } else if (c < 0) i++; else j++; }
    for (int k = 0; k < ua; k++) free(ga[k]);
    for (int k = 0; k < ub; k++) free(gb[k]);
    free(ga); free(gb);
    return (double)inter / (ua + ub - inter);
}

TEST(lsh_detection_follows_s_curve) {
    const int B = 14, R = 8, NW = 300, PAIRS = 3000;
    MinHasher m;
    minhash_init(&m, B, R, 5, SEED);
    MinhashScratch s = {0};
    Rng r; rng_seed_stream(&r, SEED, 1);
    enum { NB = 10 };
    double sum_exp[NB] = {0}; int hit[NB] = {0}, cnt[NB] = {0};
    double est_err = 0;
    int jac_mismatch = 0;
    uint32_t *s1 = xmalloc(B * R * 4), *s2 = xmalloc(B * R * 4);
    uint64_t k1[14], k2[14];
    for (int p = 0; p < PAIRS; p++) {
        char **a = rand_words(&r, NW);
        char **b = xmalloc(NW * sizeof(char *));
        double rate = 0.002 + 0.06 * rng_uniform(&r);      // word substitution rate: Jaccard ~0.25..0.99
        for (int i = 0; i < NW; i++) {
            if (rng_uniform(&r) < rate) b[i] = rand_word(&r);
            else b[i] = xstrdup(a[i]);
        }
        double J = jaccard5(a, NW, b, NW);
        char *ta = join(a, NW), *tb = join(b, NW);
        minhash_signature(&m, &s, ta, strlen(ta), s1);
        minhash_signature(&m, &s, tb, strlen(tb), s2);
        minhash_band_keys(&m, s1, k1); minhash_band_keys(&m, s2, k2);
        int det = 0;
        for (int k = 0; k < B; k++) det |= k1[k] == k2[k];
        est_err += minhash_similarity(s1, s2, B * R) - J;
        jac_mismatch += fabs(shingle_jaccard(ta, strlen(ta), tb, strlen(tb), 5) - J) > 1e-12;
        int bin = (int)(J * NB); if (bin >= NB) bin = NB - 1;
        cnt[bin]++; hit[bin] += det;
        sum_exp[bin] += 1 - pow(1 - pow(J, R), B);
        for (int i = 0; i < NW; i++) { free(a[i]); free(b[i]); }
        free(a); free(b); free(ta); free(tb);
    }
    est_err /= PAIRS;
    CHECK(jac_mismatch == 0, "library Jaccard differs from the test's in %d pairs", jac_mismatch);
    CHECK(fabs(est_err) < 0.01, "MinHash similarity is biased by %.4f", est_err);
    int bins_checked = 0;
    for (int k = 0; k < NB; k++) {
        if (cnt[k] < 40) continue;
        double rate = (double)hit[k] / cnt[k], exp = sum_exp[k] / cnt[k];
        double sd = sqrt(exp * (1 - exp) / cnt[k]);
        printf("  Jaccard [%.1f,%.1f): %4d pairs, detected %.3f, S-curve %.3f\n", k / (double)NB, (k + 1) / (double)NB, cnt[k], rate, exp);
        CHECK(fabs(rate - exp) <= 4 * sd + 0.03, "bin %d: detection %.3f vs S-curve %.3f (n=%d)", k, rate, exp, cnt[k]);
        bins_checked++;
    }
    CHECK(bins_checked >= 4, "only %d similarity bins had enough pairs", bins_checked);
    free(s1); free(s2);
    minhash_scratch_free(&s);
    minhash_free(&m);
}

TEST(lsh_clusters_keep_first) {
    MinHasher m;
    minhash_init(&m, 14, 8, 5, SEED);
    MinhashScratch s = {0};
    Rng r; rng_seed_stream(&r, SEED, 2);
    // docs 0, 2, 5 are near-duplicates (one word changed), 1, 3, 4 unrelated
    char **base = rand_words(&r, 200);
    char *docs[6];
    for (int d = 0; d < 6; d++) {
        if (d == 0 || d == 2 || d == 5) {
            char *save = base[50 + d]; base[50 + d] = "changed";
            docs[d] = join(base, 200);
            base[50 + d] = save;
        } else { char **o = rand_words(&r, 200); docs[d] = join(o, 200); for (int i = 0; i < 200; i++) free(o[i]); free(o); }
    }
    uint64_t keys[6 * 14];
    uint32_t sig[112];
    for (int d = 0; d < 6; d++) { minhash_signature(&m, &s, docs[d], strlen(docs[d]), sig); minhash_band_keys(&m, sig, keys + d * 14); }
    uint32_t root[6];
    lsh_cluster(keys, 6, 14, root);
    uint32_t want[6] = {0, 1, 0, 3, 4, 0};
    for (int d = 0; d < 6; d++) CHECK(root[d] == want[d], "doc %d root %u, want %u", d, root[d], want[d]);
    // empty keys never cluster
    memset(keys, 0, sizeof keys);
    lsh_cluster(keys, 6, 14, root);
    for (int d = 0; d < 6; d++) CHECK(root[d] == (uint32_t)d, "zero keys clustered doc %d", d);
    for (int d = 0; d < 6; d++) free(docs[d]);
    for (int i = 0; i < 200; i++) free(base[i]);
    free(base);
    minhash_scratch_free(&s);
    minhash_free(&m);
}

TEST(simplification_ignores_case_digits_punctuation) {
    MinHasher m;
    minhash_init(&m, 14, 8, 5, SEED);
    MinhashScratch s = {0};
    const char *a = "The Quick brown fox, jumped over 12 lazy dogs; and then it ran away to the river bank.";
    const char *b = "the quick brown fox jumped over 99 lazy dogs and then it ran away to the river bank";
    uint32_t sa[112], sb[112];
    minhash_signature(&m, &s, a, strlen(a), sa);
    minhash_signature(&m, &s, b, strlen(b), sb);
    CHECK(minhash_similarity(sa, sb, 112) == 1.0, "simplified texts must have equal signatures");
    CHECK(minhash_signature(&m, &s, "", 0, sa) == 0, "empty text has no shingles");
    CHECK(minhash_signature(&m, &s, "two words", 9, sa) == 1, "short text is one shingle");
    minhash_scratch_free(&s);
    minhash_free(&m);
}

TEST(exact_hash_set) {
    HashSet128 h;
    hashset_init(&h);
    Rng r; rng_seed_stream(&r, SEED, 3);
    int n = 50000, dup = 0;
    for (int i = 0; i < n; i++) {
        char b[32]; int k = snprintf(b, sizeof b, "doc %llu", (unsigned long long)rng_below(&r, 30000));
        dup += !hashset_insert(&h, content_hash(b, k));
    }
    // the number of distinct values drawn: count again with a plain array
    char *seen = xcalloc(30000, 1);
    rng_seed_stream(&r, SEED, 3);
    int dup2 = 0;
    for (int i = 0; i < n; i++) { uint64_t v = rng_below(&r, 30000); dup2 += seen[v]; seen[v] = 1; }
    CHECK(dup == dup2, "set found %d duplicates, truth %d", dup, dup2);
    CHECK(h.n == (size_t)(n - dup2), "size %zu", h.n);
    free(seen);
    hashset_free(&h);
}

int main(void) {
    SEED = (uint64_t)time(NULL);
    printf("# seed %llu\n", (unsigned long long)SEED);
    RUN(lsh_detection_follows_s_curve);
    RUN(lsh_clusters_keep_first);
    RUN(simplification_ignores_case_digits_punctuation);
    RUN(exact_hash_set);
    return test_summary();
}
