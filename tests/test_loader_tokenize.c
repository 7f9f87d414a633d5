// test_loader_tokenize.c — the loader over real `deepc tokenize` output: a
// tokenizer trained by deepc, GSM8K test documents, then batches whose every
// whole document decodes back to one of the input documents.
#include "test.h"
#include "base/check.h"
#include "base/io.h"
#include "data/docs.h"
#include "data/fim.h"
#include "data/loader.h"
#include "data/shard.h"
#include "data/tokenizer.h"
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];
static uint64_t seed;

static int sh(const char *cmd) {
    int r = system(cmd);
    if (r != 0) printf("  command failed (%d): %s\n", r, cmd);
    return r;
}

TEST(loader_reads_tokenize_output) {
    const char *data = "../shared/data/gsm8k/test.jsonl";
    if (!io_exists(data) || !io_exists("deepc")) { printf("# %s or ./deepc missing; skipped\n", data); return; }
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "DEEPC_QUIET=1 ./deepc tokenizer train --input ../shared/data/tinyshakespeare/input.txt "
             "--vocab-size 1200 --out %s/tok >/dev/null 2>&1", tmpdir);
    if (sh(cmd)) { CHECK(0, "tokenizer train failed"); return; }
    snprintf(cmd, sizeof cmd, "DEEPC_QUIET=1 ./deepc tokenize --tokenizer %s/tok --input %s --text-field question,answer "
             "--out %s/shards --val-fraction 0.1 --shard-tokens 40000 --seed %llu 2>/dev/null", tmpdir, data, tmpdir,
             (unsigned long long)seed);
    if (sh(cmd)) { CHECK(0, "tokenize failed"); return; }
    char *tokdir = path_join(tmpdir, "tok"), *shards = path_join(tmpdir, "shards");
    Tokenizer *tok;
    if (tok_load(tokdir, &tok) < 0) { CHECK(0, "%s", last_error()); return; }
    // all input documents, each between \x01 marks, to look decoded documents up
    DocReader *rd;
    char *paths[1] = {(char *)data};
    if (docs_open(&rd, paths, 1, "question,answer", NULL) < 0) fatal_last();
    size_t cap = 1 << 20, n = 1, ndocs = 0;
    char *all = xmalloc(cap);
    all[0] = 1;
    Doc d;
    while (docs_next(rd, &d) == 1) {
        while (n + d.len + 2 > cap) all = xrealloc(all, cap *= 2);
        memcpy(all + n, d.text, d.len); n += d.len; all[n++] = 1;
        ndocs++;
    }
    all[n] = 0;
    docs_close(rd);
    LoaderConfig c;
    loader_config_default(&c, shards);
    c.seed = seed;
    c.expect_vocab = (uint32_t)tok_vocab_size(tok);
    if (shard_tokenizer_fingerprint(tokdir, &c.expect_fingerprint) < 0) fatal_last();
    Loader *L;
    CHECK(loader_open(&L, &c) == 0, "%s", last_error());
    int B = 4, T = 256, whole = 0, found = 0, bad_bos = 0, tails = 0;
    int32_t *in = xmalloc(sizeof(int32_t) * B * T), *tg = xmalloc(sizeof(int32_t) * B * T), *ps = xmalloc(sizeof(int32_t) * B * T);
    int32_t bos = tok_bos(tok), eos = tok_eos(tok);
    for (int s = 0; s < 40; s++) {
        CHECK(loader_next_batch(L, s, B, T, in, tg, ps) == 0, "%s", last_error());
        for (int b = 0; b < B; b++) {
            const int32_t *x = in + b * T, *p = ps + b * T;
            bad_bos += x[0] != bos;
            for (int j = 0; j < T;) {
                int k = j + 1;
                while (k < T && p[k] != 0) k++;
                if (x[j] == bos && x[k - 1] == eos && k - j >= 2) {   // a whole document inside the row
                    char *text; size_t len;
                    if (tok_decode(tok, x + j + 1, (size_t)(k - j - 2), &text, &len) == 0) {
                        char *needle = xmalloc(len + 3);
                        needle[0] = 1; memcpy(needle + 1, text, len); needle[len + 1] = 1; needle[len + 2] = 0;
                        // a whole document, or the tail of a cropped one (a later piece of a
                        // document longer than a row starts with an added BOS)
                        if (strstr(all, needle)) found++;
                        else if (strstr(all, needle + 1)) { found++; tails++; }
                        free(needle); free(text);
                    }
                    whole++;
                }
                j = k;
            }
        }
    }
    printf("# %d BOS..EOS runs in 40 batches, %d decode to an input document (%d of them to the tail of one)\n", whole, found, tails);
    CHECK(bad_bos == 0, "%d rows not starting with BOS", bad_bos);
    // GSM8K problems average ~280 tokens at this vocabulary, more than a row: a fair stream cuts
    // most of them, so many runs are tails; still, plenty must be whole documents
    CHECK(whole > 50 && whole - tails > 20 && found == whole, "%d of %d BOS..EOS runs decode to an input document or its "
          "tail (%d tails)", found, whole, tails);
    loader_close(L);
    // the val split holds about a tenth of the documents
    c.split = "val";
    CHECK(loader_open(&L, &c) == 0, "%s", last_error());
    if (L) {
        double f = (double)loader_num_docs(L) / (double)ndocs;
        CHECK(f > 0.06 && f < 0.14, "val holds %.3f of the documents", f);
        loader_close(L);
    }
    // a trainer with another tokenizer is refused
    c.split = "train";
    c.expect_vocab += 1;
    CHECK(loader_open(&L, &c) < 0 && strstr(last_error(), "vocabulary"), "wrong vocabulary accepted: %s", last_error());
    // a partly copied folder (a shard listed in manifest.json is missing) is refused
    c.expect_vocab -= 1;
    char *gone = path_join(shards, "train_0001.bin"), *moved = path_join(tmpdir, "moved.bin");
    CHECK(rename(gone, moved) == 0, "cannot move %s", gone);
    CHECK(loader_open(&L, &c) < 0 && strstr(last_error(), "train_0001.bin") && strstr(last_error(), "missing"),
          "missing shard not noticed: %s", last_error());
    // and a shard that is not in the manifest
    char *extra = path_join(shards, "train_9999.bin");
    CHECK(rename(moved, gone) == 0 && link(gone, extra) == 0, "cannot restore %s", gone);
    CHECK(loader_open(&L, &c) < 0 && strstr(last_error(), "train_9999.bin") && strstr(last_error(), "not listed"),
          "unlisted shard not noticed: %s", last_error());
    unlink(extra);
    CHECK(loader_open(&L, &c) == 0, "%s", last_error());
    if (L) loader_close(L);
    free(gone); free(moved); free(extra);
    c.expect_vocab += 1;
    // FIM: every transformed document, rearranged back with fim_restore and decoded, is an input document
    snprintf(cmd, sizeof cmd, "DEEPC_QUIET=1 ./deepc tokenize --tokenizer %s/tok --input %s --text-field question,answer "
             "--out %s/fim --fim-rate 0.5 --seed %llu 2>/dev/null", tmpdir, data, tmpdir, (unsigned long long)seed);
    if (sh(cmd) == 0) {
        char *fp = path_join(tmpdir, "fim/train_0000.bin");
        Shard s;
        CHECK(shard_open(&s, fp, c.expect_vocab - 1, c.expect_fingerprint) == 0, "%s", last_error());
        FimTokens ft = {tok_token_id(tok, TOK_FIM_BEGIN), tok_token_id(tok, TOK_FIM_HOLE), tok_token_id(tok, TOK_FIM_END)};
        int nfim = 0, ok = 0, total = 0;
        for (uint64_t d = 0; d < s.n_docs; d++) {
            uint64_t st, len;
            shard_doc(&s, d, &st, &len);
            int32_t *ids = xmalloc(len * sizeof *ids), *back = xmalloc(len * sizeof *back);
            shard_copy_tokens(&s, st, len, ids);
            total++;
            if (len >= 2 && ids[0] == bos && ids[len - 1] == eos) {
                const int32_t *body = ids + 1;
                size_t nb = len - 2;
                if (nb && body[0] == ft.begin) {
                    nfim++;
                    long m = fim_restore(&ft, body, nb, back);
                    body = back; nb = m < 0 ? 0 : (size_t)m;
                    if (m < 0) { free(ids); free(back); continue; }
                }
                char *text; size_t tl;
                if (tok_decode(tok, body, nb, &text, &tl) == 0) {
                    char *needle = xmalloc(tl + 3);
                    needle[0] = 1; memcpy(needle + 1, text, tl); needle[tl + 1] = 1; needle[tl + 2] = 0;
                    ok += strstr(all, needle) != NULL;
                    free(needle); free(text);
                }
            }
            free(ids); free(back);
        }
        printf("# FIM shards: %d of %d documents transformed, %d decode to an input document\n", nfim, total, ok);
        CHECK(ok == total && total == (int)ndocs, "%d of %d documents (of %zu) restored", ok, total, ndocs);
        double rate = (double)nfim / total, sd = sqrt(0.25 / total);
        CHECK(fabs(rate - 0.5) < 4 * sd, "FIM rate %.3f, asked 0.5", rate);
        shard_close(&s);
        free(fp);
    } else CHECK(0, "tokenize --fim-rate failed");
    free(in); free(tg); free(ps); free(all);
    tok_free(tok);
    free(tokdir); free(shards);
}

int main(void) {
    seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    printf("# seed %llu\n", (unsigned long long)seed);
    const char *td = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/deepc_test_loader_tok_%d", td && *td ? td : "/tmp", (int)getpid());
    if (io_mkdir_p(tmpdir) < 0) fatal_last();
    RUN(loader_reads_tokenize_output);
    io_rm_rf(tmpdir);
    return test_summary();
}
