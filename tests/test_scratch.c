// test_scratch.c — base/scratch.h: buffers are aligned, zeroed by scratch_zeroed, kept (same address) while big
// enough, grown when asked for more, one per thread for a _Thread_local Scratch, and freed when its thread ends.
#include "test.h"
#include <omp.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "base/scratch.h"

static _Thread_local Scratch s;                      // as the header asks: registered with the thread's exit

TEST(aligned_zeroed_kept_grown) {
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

// A thread's buffers are freed when it ends: scratch_at_thread_exit functions run, in reverse order, after the
// thread's Scratch release (registered first) — checked through the order of two marks.
static int marks[2], nmarks;
static void mark(void *arg) { marks[nmarks++] = *(int *)arg; }
static void *thread_body(void *unused) {
    (void)unused;
    static int one = 1, two = 2;
    scratch_zeroed(&tls, 1 << 20);
    scratch_at_thread_exit(mark, &one);
    scratch_at_thread_exit(mark, &two);
    return NULL;
}

TEST(freed_when_the_thread_ends) {
    pthread_t t;
    nmarks = 0;
    CHECK(pthread_create(&t, NULL, thread_body, NULL) == 0, "pthread_create failed");
    pthread_join(t, NULL);
    CHECK(nmarks == 2 && marks[0] == 2 && marks[1] == 1, "exit functions ran %d times (%d, %d)", nmarks, marks[0], marks[1]);
}

int main(void) {
    RUN(aligned_zeroed_kept_grown);
    RUN(one_buffer_per_thread);
    RUN(freed_when_the_thread_ends);
    return test_summary();
}
