// test_scratch.c — base/scratch.h: buffers are aligned, zeroed by scratch_zeroed, kept (same address) while big
// enough, grown when asked for more, and one per thread for a _Thread_local Scratch.
#include "test.h"
#include <omp.h>
#include <stdint.h>
#include <string.h>
#include "base/scratch.h"

TEST(aligned_zeroed_kept_grown) {
    Scratch s = {0};
    unsigned char *p = scratch_zeroed(&s, 1000);
    CHECK(((uintptr_t)p & 63) == 0, "not 64-byte aligned: %p", (void *)p);
    int nz = 0;
    for (int i = 0; i < 1000; i++) nz += p[i] != 0;
    CHECK(nz == 0, "%d of 1000 bytes not zero", nz);
    memset(p, 0xAB, 1000);
    unsigned char *q = scratch_get(&s, 500);          // smaller: the same buffer, contents as left
    CHECK(q == p && q[0] == 0xAB && q[499] == 0xAB, "scratch_get moved or changed the buffer");
    q = scratch_zeroed(&s, 700);                      // zeroed again, up to what was asked
    nz = 0;
    for (int i = 0; i < 700; i++) nz += q[i] != 0;
    CHECK(q == p && nz == 0 && q[700] == 0xAB, "scratch_zeroed: moved %d, %d nonzero, byte 700 = %d", q != p, nz, q[700]);
    unsigned char *r = scratch_zeroed(&s, 100000);    // larger: a new buffer, all of it zero and writable
    nz = 0;
    for (int i = 0; i < 100000; i++) nz += r[i] != 0;
    CHECK(s.n >= 100000 && ((uintptr_t)r & 63) == 0 && nz == 0, "grown: n %zu, %d nonzero", s.n, nz);
    memset(r, 1, 100000);
    free(s.p);
}

static _Thread_local Scratch tls;

TEST(one_buffer_per_thread) {
    void *seen[2] = {NULL, NULL};
    int bad = 0;
    #pragma omp parallel num_threads(2)
    {
        int id = omp_get_thread_num();
        unsigned char *p = scratch_zeroed(&tls, 4096);
        memset(p, id + 1, 4096);                      // each thread fills its own
        #pragma omp barrier
        for (int i = 0; i < 4096; i++) if (p[i] != id + 1) { _Pragma("omp atomic") bad++; break; }
        if (id < 2) seen[id] = p;
    }
    CHECK(bad == 0, "a thread's buffer was written by another");
    CHECK(omp_get_max_threads() < 2 || seen[0] != seen[1], "two threads got the same buffer");
}

int main(void) {
    RUN(aligned_zeroed_kept_grown);
    RUN(one_buffer_per_thread);
    return test_summary();
}
