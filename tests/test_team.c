// test_team.c — base/team.h: team_run inside and outside a session hands every thread id exactly once,
// team_barrier separates steps, nested calls run inline, the leader sees the workers' writes, and sessions
// turned off fall back to plain OpenMP regions.
#include "test.h"
#include <omp.h>
#include <stdatomic.h>
#include "base/rng.h"
#include "base/team.h"

#define NT 3           // threads asked for: more than the cores of a small machine, so waits really wait

typedef struct {
    _Atomic int seen[8];     // calls per thread id
    _Atomic int nt_bad;      // calls whose nt was not the expected one
    int want_nt;
} Ids;

static void ids_job(void *ctx, int id, int nt) {
    Ids *I = ctx;
    if (nt != I->want_nt || id < 0 || id >= nt || id >= 8) { atomic_fetch_add(&I->nt_bad, 1); return; }
    atomic_fetch_add(&I->seen[id], 1);
}

static int ids_ok(Ids *I, int rounds) {
    if (atomic_load(&I->nt_bad)) return 0;
    for (int i = 0; i < I->want_nt; i++) if (atomic_load(&I->seen[i]) != rounds) return 0;
    return 1;
}

static void session_ids(void *ctx) {
    Ids *I = ctx;
    I->want_nt = team_threads();
    for (int r = 0; r < 1000; r++) team_run(1, ids_job, I);
}

TEST(run_hands_out_every_id_once) {
    omp_set_num_threads(NT);
    Ids a = {.want_nt = NT};
    for (int r = 0; r < 50; r++) team_run(1, ids_job, &a);
    CHECK(ids_ok(&a, 50), "outside a session: ids or nt wrong (nt_bad %d)", atomic_load(&a.nt_bad));
    Ids b = {0};
    team_session(session_ids, &b);
    CHECK(b.want_nt == NT, "a session of %d threads reported %d", NT, b.want_nt);
    CHECK(ids_ok(&b, 1000), "in a session: ids or nt wrong (nt_bad %d, id 0 seen %d)", atomic_load(&b.nt_bad),
          atomic_load(&b.seen[0]));
    Ids c = {.want_nt = 1};
    team_run(0, ids_job, &c);                         // par = 0: the calling thread alone
    CHECK(ids_ok(&c, 1), "par = 0 did not run as (0, 1)");
}

// Rounds of: every thread writes its slot, barrier, every thread checks all slots, barrier.
typedef struct { int slot[8]; _Atomic int bad; int rounds; } Steps;

static void steps_job(void *ctx, int id, int nt) {
    Steps *S = ctx;
    for (int r = 1; r <= S->rounds; r++) {
        S->slot[id] = r * 10 + id;
        team_barrier();
        for (int i = 0; i < nt; i++)
            if (S->slot[i] != r * 10 + i) atomic_fetch_add(&S->bad, 1);
        team_barrier();
    }
}

static void session_steps(void *ctx) {
    for (int k = 0; k < 20; k++) team_run(1, steps_job, ctx);
}

TEST(barrier_separates_steps) {
    omp_set_num_threads(NT);
    Steps a = {.rounds = 200};
    team_run(1, steps_job, &a);                       // OpenMP barrier
    CHECK(atomic_load(&a.bad) == 0, "outside a session: %d slots read before they were written", atomic_load(&a.bad));
    Steps b = {.rounds = 200};
    team_session(session_steps, &b);                  // spin barrier, 20 jobs of 200 rounds
    CHECK(atomic_load(&b.bad) == 0, "in a session: %d slots read before they were written", atomic_load(&b.bad));
}

typedef struct { _Atomic int inner_bad, outer; } Nest;

static void inner_job(void *ctx, int id, int nt) {
    Nest *N = ctx;
    if (id != 0 || nt != 1 || team_threads() != 1) atomic_fetch_add(&N->inner_bad, 1);
    team_barrier();                                   // alone: returns at once
}

static void outer_job(void *ctx, int id, int nt) {
    (void)id; (void)nt;
    Nest *N = ctx;
    if (team_threads() != 1) atomic_fetch_add(&N->inner_bad, 1);
    team_run(1, inner_job, N);
    atomic_fetch_add(&N->outer, 1);
}

static void session_nest(void *ctx) { team_run(1, outer_job, ctx); }

TEST(nested_runs_are_inline) {
    omp_set_num_threads(NT);
    Nest a = {0};
    team_run(1, outer_job, &a);
    CHECK(atomic_load(&a.outer) == NT && atomic_load(&a.inner_bad) == 0, "outside: outer %d, inner wrong %d",
          atomic_load(&a.outer), atomic_load(&a.inner_bad));
    Nest b = {0};
    team_session(session_nest, &b);
    CHECK(atomic_load(&b.outer) == NT && atomic_load(&b.inner_bad) == 0, "in a session: outer %d, inner wrong %d",
          atomic_load(&b.outer), atomic_load(&b.inner_bad));
    Nest c = {0};
    #pragma omp parallel num_threads(2)
    team_run(1, inner_job, &c);                       // inside another OpenMP region: inline, like nested OpenMP
    CHECK(atomic_load(&c.inner_bad) == 0, "inside an OpenMP region: %d inner runs were not (0, 1)", atomic_load(&c.inner_bad));
}

// Partial sums by thread; the leader adds them in its serial code after each run (sees the workers' writes).
typedef struct { const float *x; int n; double part[8]; } Sum;

static void sum_job(void *ctx, int id, int nt) {
    Sum *S = ctx;
    double s = 0;
    for (int i = S->n * id / nt; i < S->n * (id + 1) / nt; i++) s += S->x[i];
    S->part[id] = s;
}

typedef struct { float *x; int n, runs, bad; } SumRuns;

static void session_sums(void *ctx) {
    SumRuns *R = ctx;
    Rng r; rng_seed(&r, 77);
    for (int k = 0; k < R->runs; k++) {
        for (int i = 0; i < R->n; i++) R->x[i] = (float)(int)rng_below(&r, 1000);   // new data each run
        double want = 0;
        for (int i = 0; i < R->n; i++) want += R->x[i];
        Sum S = {R->x, R->n, {0}};
        team_run(1, sum_job, &S);
        double got = 0;
        for (int t = 0; t < team_threads(); t++) got += S.part[t];
        if (got != want) R->bad++;
    }
}

TEST(leader_sees_workers_results) {
    omp_set_num_threads(NT);
    float x[300];
    SumRuns R = {x, 300, 3000, 0};
    team_session(session_sums, &R);
    CHECK(R.bad == 0, "%d of %d runs: the leader summed stale parts", R.bad, R.runs);
}

TEST(sessions_off_fall_back) {
    omp_set_num_threads(NT);
    int old = team_set_enabled(0);
    Ids a = {0};
    team_session(session_ids, &a);                    // a plain call: each team_run is an OpenMP region
    CHECK(a.want_nt == NT && ids_ok(&a, 1000), "sessions off: nt %d, nt_bad %d", a.want_nt, atomic_load(&a.nt_bad));
    team_set_enabled(old);
    omp_set_num_threads(1);
    Ids b = {0};
    team_session(session_ids, &b);                    // one thread: no session, inline runs
    CHECK(b.want_nt == 1 && ids_ok(&b, 1000), "one thread: nt %d, nt_bad %d", b.want_nt, atomic_load(&b.nt_bad));
}

int main(void) {
    team_set_enabled(1);                              // what is tested here, whatever DEEPC_TEAM says
    RUN(run_hands_out_every_id_once);
    RUN(barrier_separates_steps);
    RUN(nested_runs_are_inline);
    RUN(leader_sees_workers_results);
    RUN(sessions_off_fall_back);
    return test_summary();
}
