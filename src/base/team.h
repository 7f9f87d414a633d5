// team.h — short parallel steps without a fork/join each: a "session" keeps the OpenMP threads of one
// parallel region waiting on a shared counter (spinning, with sched_yield after a while) while its thread 0
// runs ordinary serial code; each team_run inside it hands a function to all of them at once.
//
// Why: one decoded token is ~60 parallel steps of 0.1-0.5 ms (matvecs, attention, experts). With
// OMP_WAIT_POLICY=passive (what shared machines want, and what `deepc speedrun` sets) each OpenMP
// fork/join or barrier is a futex wake-up, 10-30 µs on this kind of VM; a session's hand-off is an atomic
// store that a spinning thread sees in well under a microsecond. Between sessions OpenMP's own policy
// applies (nothing spins between tokens).
//
// Without a session team_run is a plain `#pragma omp parallel` region, so code that uses it is correct
// either way. Called from inside a team_run function, or inside any other OpenMP parallel region,
// team_run runs the function on the calling thread alone as (id 0, nt 1), like nested OpenMP regions.
// A result must never depend on which of these ran: work is split by (id, nt) only, and nt is the same.
#pragma once

typedef void (*TeamFn)(void *ctx, int id, int nt);

// Run fn(ctx, id, nt) on every thread of the team (in a session) or of a new parallel region; par = 0 runs
// it on the calling thread as (0, 1). Returns when every thread is done.
void team_run(int par, TeamFn fn, void *ctx);
// Inside a team_run function: wait until every thread of the team has reached it (spin barrier in a session,
// `omp barrier` otherwise, nothing when nt is 1).
void team_barrier(void);
// Threads a team_run from here would use (1 inside a team_run function or a nested region).
int team_threads(void);
// Run fn(ctx) on the calling thread with the other OpenMP threads waiting for its team_runs. Falls back to a
// plain call when there is one thread, when already inside a parallel region, or when sessions are off.
void team_session(void (*fn)(void *ctx), void *ctx);
// Sessions on (1, default) or off (0; env DEEPC_TEAM=0): A/B runs and tests. Returns the previous setting.
int team_set_enabled(int on);
