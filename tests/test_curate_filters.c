// test_curate_filters.c — every quality rule has a case that passes and a case that fails.
// Each test enables one rule group, checks that a clean document (random sentences of real
// English words) passes, then changes the document so that exactly the tested rule trips.
#include "test.h"
#include "base/check.h"
#include "base/rng.h"
#include "curate/filters.h"
#include <stdarg.h>

static const char *VOCAB[] = {
    "the", "of", "and", "to", "with", "that", "have", "be", "river", "mountain", "village", "teacher", "student",
    "morning", "evening", "garden", "window", "history", "science", "music", "question", "answer", "market", "city",
    "bridge", "forest", "winter", "summer", "letter", "story", "friend", "family", "doctor", "engine", "harbor",
    "island", "kitchen", "library", "machine", "number", "ocean", "picture", "silver", "theory", "valley", "weather",
    "yellow", "bright", "quiet", "ancient", "careful", "gentle", "honest", "modern", "narrow", "public", "simple",
    "walked", "carried", "opened", "painted", "studied", "watched", "built", "found", "wrote", "measured", "across",
    "between", "during", "under", "before", "after", "around", "through", "toward", "people", "season", "country",
    "problem", "reason", "system", "animal", "planet", "result", "energy", "health", "nature", "office", "travel"};
#define NV (sizeof VOCAB / sizeof *VOCAB)

typedef struct { char *p; size_t n, cap; } Sb;
static void sb(Sb *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[4096];
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (b->n + k + 1 > b->cap) { b->cap = (b->n + k + 1) * 2; b->p = xrealloc(b->p, b->cap); }
    memcpy(b->p + b->n, tmp, k + 1);
    b->n += k;
}

// `lines` lines of `sent` sentences each; every sentence has 8..14 random words.
static char *prose(uint64_t seed, int lines, int sent) {
    Rng r; rng_seed(&r, seed);
    Sb b = {0};
    for (int l = 0; l < lines; l++) {
        for (int s = 0; s < sent; s++) {
            int nw = 8 + (int)rng_below(&r, 7);
            for (int w = 0; w < nw; w++) {
                const char *v = VOCAB[rng_below(&r, NV)];
                if (w == 0) sb(&b, "%c%s", v[0] - 32, v + 1); else sb(&b, " %s", v);
            }
            sb(&b, ".%s", s + 1 < sent ? " " : "");
        }
        if (l + 1 < lines) sb(&b, "\n");
    }
    return b.p;
}

static FilterParams only(int group) {
    FilterParams p;
    filter_defaults_text(&p);
    p.gopher_quality = group == 0; p.gopher_rep = group == 1; p.c4 = group == 2; p.fineweb = group == 3; p.code = group == 4;
    return p;
}

static FilterScratch *S;

// Runs the filter on a copy; returns the rule ("" if kept).
static const char *run(const FilterParams *p, const char *text, const char *lang) {
    size_t n = strlen(text);
    char *t = xmalloc(n + 1);
    memcpy(t, text, n + 1);
    const char *r = filter_apply(p, S, &t, &n, lang);
    free(t);
    return r ? r : "";
}

#define EXPECT(p, text, lang, want) do { const char *got_ = run(p, text, lang); \
    CHECK(!strcmp(got_, want), "expected \"%s\", got \"%s\"", want, got_); } while (0)

TEST(gopher_quality_rules) {
    FilterParams p = only(0);
    char *good = prose(1, 6, 3);
    EXPECT(&p, good, NULL, "");
    // too few words: one short sentence
    EXPECT(&p, "The river and the valley of the city are quiet with people that have hope.", NULL, "gopher_quality:too_few_words");
    p.gq_max_words = 60;
    EXPECT(&p, good, NULL, "gopher_quality:too_many_words");
    p = only(0);
    // mean word length: replace every word by a 2-letter word
    Sb b = {0};
    for (int i = 0; i < 80; i++) sb(&b, "%s ", i % 4 == 0 ? "the" : i % 4 == 1 ? "of" : "to");
    EXPECT(&p, b.p, NULL, "gopher_quality:mean_word_length");
    free(b.p); b = (Sb){0};
    sb(&b, "%s", good);
    for (int i = 0; i < 30; i++) sb(&b, " #tag");
    EXPECT(&p, b.p, NULL, "gopher_quality:hash_ratio");
    free(b.p); b = (Sb){0};
    sb(&b, "%s", good);
    for (int i = 0; i < 30; i++) sb(&b, " more...");
    EXPECT(&p, b.p, NULL, "gopher_quality:ellipsis_ratio");
    free(b.p); b = (Sb){0};
    // bullets: every line starts with "- "
    char *many = prose(2, 20, 1);
    sb(&b, "- ");
    for (const char *c = many; *c; c++) { sb(&b, "%c", *c); if (*c == '\n') sb(&b, "- "); }
    EXPECT(&p, b.p, NULL, "gopher_quality:bullet_lines");
    free(b.p); b = (Sb){0};
    // ellipsis lines: lines end with an ellipsis character (only a few per word, so not the ratio rule)
    for (const char *c = many; *c; c++) { if (*c == '\n') sb(&b, " \xE2\x80\xA6"); sb(&b, "%c", *c); }
    p.gq_max_symbol_word = 1;
    EXPECT(&p, b.p, NULL, "gopher_quality:ellipsis_lines");
    p = only(0);
    free(b.p); b = (Sb){0};
    // alphabetic words below 80%: add numbers
    sb(&b, "%s", good);
    for (int i = 0; i < 60; i++) sb(&b, " %d", 1000 + i);
    EXPECT(&p, b.p, NULL, "gopher_quality:alpha_words");
    free(b.p); b = (Sb){0};
    // stop words: exactly one is too few, two pass
    for (int i = 0; i < 60; i++) sb(&b, "%s ", VOCAB[8 + i % 40]);
    sb(&b, "the garden");
    EXPECT(&p, b.p, NULL, "gopher_quality:stop_words");
    sb(&b, " with music");
    EXPECT(&p, b.p, NULL, "");
    free(b.p); free(good); free(many);
}

TEST(gopher_repetition_rules) {
    FilterParams p = only(1);
    char *good = prose(3, 8, 2);
    EXPECT(&p, good, NULL, "");
    // duplicate paragraphs: the same paragraph four times among six
    char *para = prose(4, 1, 2), *other = prose(5, 1, 2), *o2 = prose(6, 1, 2);
    Sb b = {0};
    sb(&b, "%s\n\n%s\n\n%s\n\n%s\n\n%s\n\n%s", other, para, para, o2, para, para);
    EXPECT(&p, b.p, NULL, "gopher_rep:dup_para_frac");
    // duplicated paragraph chars without the fraction: one long paragraph repeated once among many short
    p.gr_dup_para_frac = 1;
    free(b.p); b = (Sb){0};
    char *longp = prose(7, 1, 6);
    sb(&b, "%s\n\n%s\n\n%s\n\nShort one.\n\nShort two.\n\nShort three.\n\nShort four.", other, longp, longp);
    EXPECT(&p, b.p, NULL, "gopher_rep:dup_para_char_frac");
    // lines (single newlines): same as above with line breaks
    p = only(1);
    free(b.p); b = (Sb){0};
    sb(&b, "%s\n%s\n%s\n%s\n%s\n%s", other, para, para, o2, para, para);
    p.gr_dup_para_frac = p.gr_dup_para_char_frac = 1;
    EXPECT(&p, b.p, NULL, "gopher_rep:dup_line_frac");
    p.gr_dup_line_frac = 1;
    free(b.p); b = (Sb){0};
    sb(&b, "%s\n%s\n%s\nShort one.\nShort two.\nShort three.\nShort four.", other, longp, longp);
    EXPECT(&p, b.p, NULL, "gopher_rep:dup_line_char_frac");
    // top n-grams: a repeated bigram / trigram / 4-gram in otherwise random text
    const char *grams[3] = {"deep sea", "deep blue sea", "deep blue cold sea"};
    const char *want[3] = {"gopher_rep:top_2gram", "gopher_rep:top_3gram", "gopher_rep:top_4gram"};
    for (int g = 0; g < 3; g++) {
        p = only(1);
        for (int k = 0; k < g; k++) p.gr_top_ngram[k] = 1;
        free(b.p); b = (Sb){0};
        Rng r; rng_seed(&r, 10 + g);
        for (int i = 0; i < 120; i++) {
            sb(&b, "%s %s ", VOCAB[rng_below(&r, NV)], VOCAB[rng_below(&r, NV)]);
            if (i % 2 == 0) sb(&b, "%s ", grams[g]);
        }
        EXPECT(&p, b.p, NULL, want[g]);
    }
    // duplicated n-grams (5..10): a 12-word phrase repeated, top n-gram rules off
    for (int n = 5; n <= 10; n++) {
        p = only(1);
        for (int k = 0; k < 3; k++) p.gr_top_ngram[k] = 1;
        for (int k = 0; k < n - 5; k++) p.gr_dup_ngram[k] = 1;
        free(b.p); b = (Sb){0};
        char *phrase = prose(20 + n, 1, 2);    // 16..28 words, repeated: about 40% of the text
        char *filler = prose(40 + n, 1, 4);
        sb(&b, "%s %s %s %s", phrase, filler, phrase, phrase);
        char want5[32]; snprintf(want5, sizeof want5, "gopher_rep:dup_%dgram", n);
        EXPECT(&p, b.p, NULL, want5);
        // the same phrase once in a long text stays under every threshold
        free(b.p); b = (Sb){0};
        char *big = prose(60 + n, 4, 4);
        sb(&b, "%s %s %s", phrase, big, phrase);
        EXPECT(&p, b.p, NULL, "");
        free(phrase); free(filler); free(big);
    }
    free(b.p); free(good); free(para); free(other); free(o2); free(longp);
}

TEST(c4_rules) {
    FilterParams p = only(2);
    char *good = prose(8, 6, 1);
    EXPECT(&p, good, NULL, "");
    Sb b = {0};
    sb(&b, "%s\nThis page uses lorem ipsum dolor sit amet.", good);
    EXPECT(&p, b.p, NULL, "c4:lorem_ipsum");
    free(b.p); b = (Sb){0};
    sb(&b, "%s\nint main() { return 0; } is a small program.", good);
    EXPECT(&p, b.p, NULL, "c4:curly_bracket");
    free(b.p); b = (Sb){0};
    sb(&b, "%s\nA word ", good);
    for (int i = 0; i < 1001; i++) sb(&b, "a");
    EXPECT(&p, b.p, NULL, "c4:long_word");
    char *few = prose(9, 4, 1);
    EXPECT(&p, few, NULL, "c4:too_few_sentences");
    // line removals: javascript / policy / short lines are dropped, the document then has too few sentences
    free(b.p); b = (Sb){0};
    sb(&b, "%s\nPlease enable JavaScript to view this page.\nRead our privacy policy now.\nOk.", few);
    EXPECT(&p, b.p, NULL, "c4:too_few_sentences");
    // citations are removed from kept lines
    free(b.p); b = (Sb){0};
    sb(&b, "%s\nThe river was measured in winter[12] by the doctor[edit].", good);
    size_t n = b.n; char *t = xstrdup(b.p);
    CHECK(filter_apply(&p, S, &t, &n, NULL) == NULL, "citation line must be kept");
    CHECK(!strstr(t, "[12]") && !strstr(t, "[edit]") && strstr(t, "in winter by the doctor."), "citations not removed: %s", t);
    CHECK(n == strlen(t), "length %zu vs %zu", n, strlen(t));
    free(t);
    // with terminal punctuation required, a line without it is dropped
    p.c4_terminal_punct = 1;
    free(b.p); b = (Sb){0};
    sb(&b, "%s\nthis line has no final stop", good);
    n = b.n; t = xstrdup(b.p);
    CHECK(filter_apply(&p, S, &t, &n, NULL) == NULL && !strstr(t, "final stop"), "unterminated line kept");
    free(t); free(b.p); free(good); free(few);
}

TEST(fineweb_rules) {
    FilterParams p = only(3);
    char *good = prose(11, 10, 2);
    EXPECT(&p, good, NULL, "");
    Sb b = {0};
    // lines without terminal punctuation: strip all the periods
    for (const char *c = good; *c; c++) if (*c != '.') sb(&b, "%c", *c);
    EXPECT(&p, b.p, NULL, "fineweb:line_punct_ratio");
    free(b.p); b = (Sb){0};
    // many short lines (<= 30 chars)
    for (int i = 0; i < 30; i++) sb(&b, "%s %s %s.\n", VOCAB[i % NV], VOCAB[(i * 7) % NV], VOCAB[(i * 13) % NV]);
    sb(&b, "%s", good);
    EXPECT(&p, b.p, NULL, "fineweb:short_line_ratio");
    free(b.p); b = (Sb){0};
    // a duplicated line (chars in duplicated lines > 1%)
    char *line = prose(12, 1, 2);
    sb(&b, "%s\n%s\n%s", line, good, line);
    EXPECT(&p, b.p, NULL, "fineweb:char_dup_ratio");
    // list ratio: more than 0.3 newlines per word (three-word lines ending in periods, long enough)
    free(b.p); b = (Sb){0};
    for (int i = 0; i < 40; i++) sb(&b, "Extraordinarily%s comprehensive%s documentation.\n", VOCAB[i % NV], VOCAB[(i * 3) % NV]);
    p.fw_short_line = 1;
    EXPECT(&p, b.p, NULL, "fineweb:list_ratio");
    free(b.p); free(good); free(line);
}

TEST(code_rules) {
    FilterParams p;
    filter_defaults_code(&p);
    const char *good = "#include <stdio.h>\n\nint main(void) {\n    printf(\"hello\\n\");\n    return 0;\n}\n";
    EXPECT(&p, good, "c", "");
    Sb b = {0};
    // average line length > 100
    for (int i = 0; i < 5; i++) { sb(&b, "int v%d = ", i); for (int k = 0; k < 30; k++) sb(&b, "a%d + ", k); sb(&b, "0;\n"); }
    EXPECT(&p, b.p, "c", "code:avg_line_length");
    // one line > 1000 chars among short ones
    free(b.p); b = (Sb){0};
    for (int i = 0; i < 40; i++) sb(&b, "int x%d = %d;\n", i, i);
    sb(&b, "static const char *blob = \"");
    for (int i = 0; i < 1100; i++) sb(&b, "x");
    sb(&b, "\";\n");
    EXPECT(&p, b.p, "c", "code:max_line_length");
    // alphabetic fraction < 25%: a table of numbers
    free(b.p); b = (Sb){0};
    sb(&b, "int t[] = {\n");
    for (int i = 0; i < 50; i++) sb(&b, "  %d, %d, %d, %d,\n", i * 1000, i * 77, i * 3, i);
    sb(&b, "};\n");
    EXPECT(&p, b.p, "c", "code:alpha_fraction");
    EXPECT(&p, "<?xml version=\"1.0\"?>\n<root><item name=\"alpha\">value</item></root>\n", "xml", "code:xml");
    EXPECT(&p, "<?xml version=\"1.0\"?>\n<xsl:stylesheet version=\"1.0\"><xsl:template match=\"/\"/></xsl:stylesheet>\n", "xml", "");
    EXPECT(&p, "// Code generated by protoc-gen-go. DO NOT EDIT.\npackage foo\n\nfunc Bar() int { return 1 }\n", "go", "code:generated");
    EXPECT(&p, "{\"alpha\": \"beta\"}", "json", "code:json_yaml_size");
    EXPECT(&p, "{\"name\": \"deepc\", \"version\": \"1.0\", \"description\": \"curation tests\"}", "json", "");
    free(b.p); b = (Sb){0};
    sb(&b, "<html><head><script src=\"a.js\"></script><link rel=\"stylesheet\" href=\"s.css\"></head><body><div class=\"x\"><span class=\"y\">Hi</span></div></body></html>\n");
    EXPECT(&p, b.p, "html", "code:html_visible_text");
    free(b.p); b = (Sb){0};
    char *text = prose(13, 8, 1);
    sb(&b, "<html><body>\n");
    for (char *c = strtok(text, "\n"); c; c = strtok(NULL, "\n")) sb(&b, "<p>%s</p>\n", c);
    sb(&b, "</body></html>\n");
    EXPECT(&p, b.p, "html", "");
    free(b.p); free(text);
}

TEST(filter_set_names) {
    FilterParams p;
    filter_defaults_text(&p);
    CHECK(filter_set(&p, "gq_min_words", 10) == 0 && p.gq_min_words == 10, "gq_min_words");
    CHECK(filter_set(&p, "gr_dup_7gram", 0.5) == 0 && p.gr_dup_ngram[2] == 0.5, "gr_dup_7gram");
    CHECK(filter_set(&p, "no_such_rule", 1) < 0 && strstr(last_error(), "no_such_rule"), "unknown name must fail");
}

TEST(real_text_mostly_passes) {
    // tinyshakespeare cut into 40-line passages: real English should mostly be kept by Gopher + C4 +
    // FineWeb, and the same passages with every line doubled must be removed (repetition rules).
    FILE *f = fopen("../shared/data/tinyshakespeare/input.txt", "rb");
    if (!f) { printf("  (skipped: ../shared/data not present)\n"); return; }
    char *buf = xmalloc(200000);
    size_t n = fread(buf, 1, 199999, f);
    fclose(f);
    buf[n] = 0;
    FilterParams p; filter_defaults_text(&p);
    int kept = 0, doubled_removed = 0, total = 0;
    char *s = buf;
    for (int k = 0; k < 20; k++) {
        char *e = s;
        for (int l = 0; l < 40 && *e; l++) { char *nl = strchr(e, '\n'); e = nl ? nl + 1 : e + strlen(e); }
        if (e == s) break;
        char c = *e; *e = 0;
        kept += !strcmp(run(&p, s, NULL), "");
        Sb d = {0};
        for (char *l = s; *l;) { char *nl = strchr(l, '\n'); size_t ln = nl ? (size_t)(nl - l) : strlen(l);
            sb(&d, "%.*s\n%.*s\n", (int)ln, l, (int)ln, l); l += ln + (nl != NULL); }
        doubled_removed += strncmp(run(&p, d.p, NULL), "gopher_rep:", 11) == 0;
        free(d.p);
        total++;
        *e = c; s = e;
    }
    CHECK(total == 20 && kept >= 15, "real passages kept: %d of %d", kept, total);
    CHECK(doubled_removed == total, "doubled passages removed by repetition rules: %d of %d", doubled_removed, total);
    free(buf);
}

int main(void) {
    S = filter_scratch_new();
    RUN(gopher_quality_rules);
    RUN(gopher_repetition_rules);
    RUN(c4_rules);
    RUN(fineweb_rules);
    RUN(code_rules);
    RUN(filter_set_names);
    RUN(real_text_mostly_passes);
    filter_scratch_free(S);
    return test_summary();
}
