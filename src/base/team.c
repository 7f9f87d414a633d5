// team.c — sessions of spinning OpenMP threads for short parallel steps (see team.h).
#include "base/team.h"
#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

// Spins (each one pause instruction, ~20-50 ns) before a waiting thread starts calling sched_yield between
// polls, so that it gives way to other processes' threads when the step takes long or the core is shared.
#define SPINS_BEFORE_YIELD 1000

// Each counter on its own cache line: the waiting threads poll one line while others write another.
static struct {
    _Alignas(64) _Atomic unsigned job;     // bumped by the leader once per job, and once more to end the session
    TeamFn fn;                             // the current job; NULL with the last bump: the session ends
    void *ctx;
    int nt;                                // threads in the session
    _Alignas(64) _Atomic int pending;      // workers still running the current job
    _Alignas(64) _Atomic unsigned bar_gen; // spin barrier: generation ...
    _Alignas(64) _Atomic int bar_count;    // ... and threads arrived in it
} S;

// What this thread is doing: outside any team work, leading a session (its serial code), or running a
// job's function in a session / in a plain OpenMP region / alone (inline).
enum { T_NONE, T_LEADER, T_JOB_SESSION, T_JOB_OMP, T_JOB_INLINE };
static _Thread_local int tl_mode = T_NONE;
static _Thread_local int tl_nt = 1;     // nt of the job this thread runs

static _Atomic int enabled = -1;       // -1: not read from the environment yet

static int team_enabled(void) {
    int e = atomic_load(&enabled);
    if (e < 0) {                                       // first use: the environment decides
        const char *v = getenv("DEEPC_TEAM");
        e = !(v && !strcmp(v, "0"));
        atomic_store(&enabled, e);
    }
    return e;
}

int team_set_enabled(int on) {
    int old = team_enabled();
    atomic_store(&enabled, on ? 1 : 0);
    return old;
}

static void pause_or_yield(unsigned *spins) {
    if (*spins < SPINS_BEFORE_YIELD) {
        (*spins)++;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    } else {
        sched_yield();
    }
}

static void run_as(int mode, int nt, TeamFn fn, void *ctx, int id) {
    int m = tl_mode, n = tl_nt;
    tl_mode = mode; tl_nt = nt;
    fn(ctx, id, nt);
    tl_mode = m; tl_nt = n;
}

void team_run(int par, TeamFn fn, void *ctx) {
    if (!par || tl_mode >= T_JOB_SESSION || (tl_mode == T_NONE && (omp_in_parallel() || omp_get_max_threads() == 1)) ||
        (tl_mode == T_LEADER && S.nt == 1)) {
        run_as(T_JOB_INLINE, 1, fn, ctx, 0);
        return;
    }
    if (tl_mode == T_LEADER) {                         // hand the job to the spinning workers, run our share
        S.fn = fn; S.ctx = ctx;
        atomic_store_explicit(&S.pending, S.nt - 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&S.job, 1, memory_order_release);
        run_as(T_JOB_SESSION, S.nt, fn, ctx, 0);
        unsigned spins = 0;
        while (atomic_load_explicit(&S.pending, memory_order_acquire) > 0) pause_or_yield(&spins);
        return;
    }
    #pragma omp parallel
    run_as(T_JOB_OMP, omp_get_num_threads(), fn, ctx, omp_get_thread_num());
}

void team_barrier(void) {
    if (tl_nt <= 1) return;
    if (tl_mode == T_JOB_OMP) {
        #pragma omp barrier
        return;
    }
    unsigned g = atomic_load_explicit(&S.bar_gen, memory_order_acquire);
    if (atomic_fetch_add_explicit(&S.bar_count, 1, memory_order_acq_rel) == tl_nt - 1) {
        atomic_store_explicit(&S.bar_count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&S.bar_gen, 1, memory_order_release);
        return;
    }
    unsigned spins = 0;
    while (atomic_load_explicit(&S.bar_gen, memory_order_acquire) == g) pause_or_yield(&spins);
}

int team_threads(void) {
    if (tl_mode >= T_JOB_SESSION) return 1;
    if (tl_mode == T_LEADER) return S.nt;
    return omp_in_parallel() ? 1 : omp_get_max_threads();
}

static void worker_loop(int id) {
    unsigned seen = 0;
    for (;;) {
        unsigned j, spins = 0;
        while ((j = atomic_load_explicit(&S.job, memory_order_acquire)) == seen) pause_or_yield(&spins);
        seen = j;
        if (!S.fn) return;
        run_as(T_JOB_SESSION, S.nt, S.fn, S.ctx, id);
        atomic_fetch_sub_explicit(&S.pending, 1, memory_order_release);
    }
}

void team_session(void (*fn)(void *ctx), void *ctx) {
    int nt = omp_get_max_threads();
    if (nt <= 1 || tl_mode != T_NONE || omp_in_parallel() || !team_enabled()) { fn(ctx); return; }
    atomic_store(&S.job, 0); atomic_store(&S.pending, 0);
    atomic_store(&S.bar_gen, 0); atomic_store(&S.bar_count, 0);
    S.fn = NULL; S.ctx = NULL;
    #pragma omp parallel num_threads(nt)
    {
        if (omp_get_thread_num() == 0) {
            S.nt = omp_get_num_threads();              // workers read it only after a job's release
            tl_mode = T_LEADER;
            fn(ctx);
            tl_mode = T_NONE;
            S.fn = NULL;
            atomic_fetch_add_explicit(&S.job, 1, memory_order_release);
        } else {
            worker_loop(omp_get_thread_num());
        }
    }
}
