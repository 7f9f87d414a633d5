// tokenizer.c — encode throughput of deepc's tokenizer over a batch of documents
// (driven by bench/tokenizer.py, which runs HF tokenizers on the same input).
//   build/bench/tokenizer TOKENIZER DOCS.bin [repeats]
// DOCS.bin: records [u32 length][bytes]. Threads: OMP_NUM_THREADS (documents in parallel).
// Prints one line: "deepc_encode threads=N bytes=B tokens=K seconds=S MBps=X".
#include "data/tokenizer.h"
#include "base/check.h"
#include "base/io.h"
#include "base/progress.h"
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: tokenizer TOKENIZER DOCS.bin [repeats]\n"); return 2; }
    Tokenizer *t;
    if (tok_load(argv[1], &t) < 0) fatal_last();
    char *buf; size_t len;
    if (io_read_all(argv[2], &buf, &len) < 0) fatal_last();
    int reps = argc > 3 ? atoi(argv[3]) : 3;
    size_t n = 0, cap = 1024;
    const char **doc = xmalloc(cap * sizeof *doc); size_t *dl = xmalloc(cap * sizeof *dl);
    for (size_t p = 0; p + 4 <= len;) {
        uint32_t l; memcpy(&l, buf + p, 4); p += 4;
        if (p + l > len) fatal("%s: truncated record at byte %zu", argv[2], p);
        if (n == cap) { cap *= 2; doc = xrealloc(doc, cap * sizeof *doc); dl = xrealloc(dl, cap * sizeof *dl); }
        doc[n] = buf + p; dl[n] = l; n++; p += l;
    }
    size_t bytes = 0; for (size_t i = 0; i < n; i++) bytes += dl[i];
    double best = 1e30; size_t tokens = 0;
    for (int r = 0; r < reps; r++) {
        // a fresh tokenizer each repeat: no warm cache carried over between runs
        Tokenizer *u;
        if (tok_load(argv[1], &u) < 0) fatal_last();
        double t0 = now_seconds();
        size_t tok = 0;
        #pragma omp parallel for schedule(dynamic, 16) reduction(+:tok)
        for (size_t i = 0; i < n; i++) {
            int32_t *ids; size_t k;
            if (tok_encode(u, doc[i], dl[i], 1, &ids, &k) == 0) { tok += k; free(ids); }
        }
        double dt = now_seconds() - t0;
        if (dt < best) best = dt;
        tokens = tok;
        tok_free(u);
    }
    printf("deepc_encode threads=%d bytes=%zu tokens=%zu seconds=%.4f MBps=%.3f\n", omp_get_max_threads(), bytes, tokens, best, bytes / 1e6 / best);
    free(doc); free(dl); free(buf); tok_free(t);
    return 0;
}
