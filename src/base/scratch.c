// scratch.c — per-thread reusable buffers (see scratch.h).
#include "base/scratch.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "base/check.h"

// What this thread frees when it ends: a pthread key's destructor runs the registered functions (OpenMP ends
// threads when the thread count changes; their buffers would otherwise leak).
#define AT_EXIT_MAX 64
static _Thread_local struct { void (*fn)(void *); void *arg; } at_exit_fns[AT_EXIT_MAX];
static _Thread_local int at_exit_n;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void run_at_exit(void *unused) {
    (void)unused;
    for (int i = at_exit_n - 1; i >= 0; i--) at_exit_fns[i].fn(at_exit_fns[i].arg);
    at_exit_n = 0;
}

static void make_exit_key(void) {
    if (pthread_key_create(&exit_key, run_at_exit) != 0) fatal("scratch: cannot create a thread-exit key");
}

void scratch_at_thread_exit(void (*fn)(void *), void *arg) {
    pthread_once(&exit_once, make_exit_key);
    if (at_exit_n == AT_EXIT_MAX) fatal("scratch: more than %d per-thread buffers on one thread", AT_EXIT_MAX);
    at_exit_fns[at_exit_n].fn = fn;
    at_exit_fns[at_exit_n].arg = arg;
    at_exit_n++;
    pthread_setspecific(exit_key, (void *)1);         // non-NULL, so that the destructor runs
}

static void scratch_release(void *arg) {
    Scratch *s = arg;
    free(s->p);
    s->p = NULL;
    s->n = 0;
}

void *scratch_get(Scratch *s, size_t n) {
    if (n > s->n || !s->p) {
        if (!s->p) scratch_at_thread_exit(scratch_release, s);   // first use on this thread
        size_t m = n > 2 * s->n ? n : 2 * s->n;      // grow geometrically: few reallocations over sizes
        m = (m + 63) & ~(size_t)63;
        free(s->p);
        s->p = xmalloc_aligned(m ? m : 64);
        s->n = m ? m : 64;
    }
    return s->p;
}

void *scratch_zeroed(Scratch *s, size_t n) {
    return memset(scratch_get(s, n), 0, n);
}
