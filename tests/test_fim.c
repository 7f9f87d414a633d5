// test_fim.c — FIM (PSM): rearranging back gives the original, splits fall on
// UTF-8 character boundaries (checked with utf8proc), uniform split points,
// observed rate close to the set rate, deterministic per seed.
// Token ids here are bytes + 3 (a byte-level stand-in for a tokenizer, so the
// test needs none); the tokenize test repeats the round trip with a real one.
#include "test.h"
#include "base/check.h"
#include "base/io.h"
#include "base/rng.h"
#include "data/fim.h"
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>

static uint64_t seed;
static const FimTokens FT = {0, 1, 2};

static size_t enc(const char *s, size_t n, int32_t *out) {
    for (size_t i = 0; i < n; i++) out[i] = (unsigned char)s[i] + 3;
    return n;
}

// 1 if s[0..n) is complete, valid UTF-8 (utf8proc decides).
static int valid_utf8(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) return 0;
        i += (size_t)k;
    }
    return 1;
}

static size_t nchars(const char *s, size_t n) {
    size_t i = 0, c = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        i += k > 0 ? (size_t)k : 1;
        c++;
    }
    return c;
}

// Transform, restore, compare; pieces must stay valid UTF-8 when the text is.
static int check_text(const char *text, size_t len, uint64_t key, int *not_utf8) {
    FimConfig c = {1.0, seed};
    size_t a, b;
    if (!fim_split(&c, key, text, len, &a, &b)) return len == 0 ? 0 : 1;
    if (!(a <= b && b <= len)) return 1;
    int32_t *pre = xmalloc((len + 1) * sizeof(int32_t)), *mid = xmalloc((len + 1) * sizeof(int32_t)),
            *suf = xmalloc((len + 1) * sizeof(int32_t)), *psm = xmalloc((len + 4) * sizeof(int32_t)),
            *back = xmalloc((len + 4) * sizeof(int32_t));
    size_t np = enc(text, a, pre), nm = enc(text + a, b - a, mid), ns = enc(text + b, len - b, suf);
    size_t n = fim_assemble(&FT, pre, np, suf, ns, mid, nm, psm);
    int bad = n != len + 3 || psm[0] != FT.begin || psm[np + 1] != FT.hole || psm[np + ns + 2] != FT.end;
    long m = fim_restore(&FT, psm, n, back);
    bad |= m != (long)len;
    for (size_t i = 0; !bad && i < len; i++) bad |= back[i] != (unsigned char)text[i] + 3;
    if (valid_utf8(text, len))
        *not_utf8 += !valid_utf8(text, a) || !valid_utf8(text + a, b - a) || !valid_utf8(text + b, len - b);
    free(pre); free(mid); free(suf); free(psm); free(back);
    return bad;
}

TEST(fim_roundtrip) {
    const char *samples[] = {
        "def add(a, b):\n    return a + b\n",
        "héllo wörld — “quotes” · naïve café",
        "日本語のテキストと中文混合",
        "emoji 👩‍👩‍👧‍👦 and flags 🇫🇷🇯🇵 with skin tones 👍🏽",
        "combining: e\xcc\x81 a\xcc\x8a\xcc\x81 and RTL: שלום עולם مرحبا",
        "x",
        "\xff\xfe invalid \x80\x80 bytes \xc3",
    };
    int bad = 0, not_utf8 = 0;
    for (size_t s = 0; s < sizeof samples / sizeof *samples; s++)
        for (uint64_t k = 0; k < 300; k++) bad += check_text(samples[s], strlen(samples[s]), k, &not_utf8);
    // real documents from ../shared/data, when the folder is beside the clone
    const char *files[] = {"../shared/data/humaneval/HumanEval.jsonl", "../shared/data/math/test.json"};
    int used = 0;
    for (size_t f = 0; f < 2; f++) {
        char *buf; size_t n;
        if (io_read_all(files[f], &buf, &n) < 0) continue;
        used++;
        // each line is a document
        size_t at = 0; uint64_t k = 0;
        while (at < n && k < 400) {
            char *nl = memchr(buf + at, '\n', n - at);
            size_t e = nl ? (size_t)(nl - buf) : n;
            bad += check_text(buf + at, e - at, k++, &not_utf8);
            at = e + 1;
        }
        free(buf);
    }
    printf("# %d real data files used\n", used);
    CHECK(bad == 0, "%d round trips failed", bad);
    CHECK(not_utf8 == 0, "%d splits cut a UTF-8 character", not_utf8);
}

TEST(fim_rate) {
    const char *t = "int main(void) { return 0; }";
    double rates[] = {0.0, 0.1, 0.5, 1.0};
    int n = 20000;
    for (int i = 0; i < 4; i++) {
        FimConfig c = {rates[i], seed};
        int k = 0;
        size_t a, b;
        for (int d = 0; d < n; d++) k += fim_split(&c, (uint64_t)d * 0x9e3779b97f4a7c15ULL, t, strlen(t), &a, &b);
        double obs = (double)k / n, sd = sqrt(rates[i] * (1 - rates[i]) / n);
        printf("# rate %.2f: observed %.4f\n", rates[i], obs);
        CHECK(fabs(obs - rates[i]) <= 4 * sd + 1e-12, "rate %g: observed %g (%d of %d)", rates[i], obs, k, n);
    }
}

// Split points are two uniform draws over the character boundaries, sorted:
// E[min] = 1/3, E[max] = 2/3 of the characters.
TEST(fim_uniform_character_splits) {
    const char *cjk = "漢字仮名交じり文";   // 3-byte characters
    char text[3 * 8 * 40 + 1] = {0};
    for (int i = 0; i < 40; i++) strcat(text, cjk);
    size_t len = strlen(text), nc = nchars(text, len);
    FimConfig c = {1.0, seed};
    double sa = 0, sb = 0;
    int n = 20000, off_boundary = 0;
    for (int d = 0; d < n; d++) {
        size_t a, b;
        fim_split(&c, (uint64_t)d, text, len, &a, &b);
        off_boundary += a % 3 != 0 || b % 3 != 0;
        sa += (double)nchars(text, a) / nc;
        sb += (double)nchars(text, b) / nc;
    }
    sa /= n; sb /= n;
    CHECK(off_boundary == 0, "%d splits inside a 3-byte character", off_boundary);
    CHECK(fabs(sa - 1.0 / 3) < 0.01 && fabs(sb - 2.0 / 3) < 0.01, "mean split points %.4f, %.4f (1/3, 2/3)", sa, sb);
}

TEST(fim_deterministic) {
    const char *t = "The quick brown fox jumps over the lazy dog, again and again and again.";
    FimConfig c1 = {0.5, seed}, c2 = {0.5, seed + 1};
    int same = 0, differ = 0;
    for (uint64_t k = 0; k < 2000; k++) {
        size_t a1, b1, a2, b2, a3, b3;
        int r1 = fim_split(&c1, k, t, strlen(t), &a1, &b1);
        int r2 = fim_split(&c1, k, t, strlen(t), &a2, &b2);
        int r3 = fim_split(&c2, k, t, strlen(t), &a3, &b3);
        same += r1 == r2 && a1 == a2 && b1 == b2;
        differ += r1 != r3 || a1 != a3 || b1 != b3;
    }
    CHECK(same == 2000, "the same seed and key gave different splits %d times", 2000 - same);
    CHECK(differ > 1000, "another seed changed only %d of 2000 decisions", differ);
    int32_t bad1[] = {5, 1, 2}, bad2[] = {0, 4, 5}, bad3[] = {0, 2, 1, 4}, out[8];
    CHECK(fim_restore(&FT, bad1, 3, out) < 0 && fim_restore(&FT, bad2, 3, out) < 0 && fim_restore(&FT, bad3, 4, out) < 0,
          "malformed PSM sequences accepted");
}

int main(void) {
    seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    printf("# seed %llu\n", (unsigned long long)seed);
    RUN(fim_roundtrip);
    RUN(fim_rate);
    RUN(fim_uniform_character_splits);
    RUN(fim_deterministic);
    return test_summary();
}
