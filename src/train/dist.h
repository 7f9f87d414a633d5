// dist.h — data parallelism across processes. Built with MPI when compiled with
// -DDEEPC_MPI and mpicc (`CFLAGS=-DDEEPC_MPI make CC=mpicc`); otherwise every
// call is a single-process no-op, so a plain build needs no MPI at run time.
//
// ZeRO stage 1 (optimizer-state sharding): each rank owns a contiguous shard of the
// flat parameter block (ZeroPlan, boundaries at gradient-norm chunk starts), holds the
// AdamW moments of that shard only, receives its shard of the averaged gradient by a
// reduce-scatter, updates it, and all-gathers the parameters. The gradient norm is
// assembled from the per-chunk sums of squares in block order, so it has the same bits
// as the unsharded norm.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "model/model.h"
#include "train/adamw.h"

int dist_init(int *argc, char ***argv);   // MPI_Init (no-op without MPI)
void dist_finalize(void);
int dist_rank(void);                       // 0 without MPI
int dist_world(void);                      // 1 without MPI
// Average the gradient block over ranks and sum the expert loads [n_load].
int dist_allreduce_grads(Model *m, int32_t *expert_load, int n_load);
// Sum a double over ranks (loss / token counts for logs).
double dist_sum(double x);
// Every rank's x, in rank order, on every rank: all[world].
int dist_allgather_u64(uint64_t x, uint64_t *all);
// Seconds spent inside this file's collectives so far (waiting for slower ranks included).
double dist_comm_seconds(void);

// ---- ZeRO-1
typedef struct {
    int world, rank;
    size_t *bounds;        // [world + 1] shard q is floats [bounds[q], bounds[q+1]) of the block
    int *chunks;           // [world] gradient-norm chunks per shard (adamw.h)
    size_t n_chunks;       // all of them
} ZeroPlan;

// Shards of m's parameter block for this job's ranks (world 1: one shard, everything).
void zero_plan(const Model *m, ZeroPlan *z);
void zero_plan_free(ZeroPlan *z);
// Reduce-scatter: this rank's shard of mdl->grads becomes the mean over ranks (the
// rest of the block is left stale); expert loads [n_load] are summed on every rank.
int zero_reduce_scatter_grads(Model *m, const ZeroPlan *z, int32_t *expert_load, int n_load);
// The clipped AdamW update of this rank's shard (o covers exactly it), then the
// parameters all-gathered. *norm: the global gradient norm before clipping, the same on
// every rank; NaN/Inf: nothing updated anywhere (every rank sees it).
int zero_adamw_step(AdamW *o, Model *m, const ZeroPlan *z, const AdamWConfig *c, double lr, double gscale, double *norm);
// The most floats zero_gather_window moves at once: 256K (1 MB; tests shrink it with
// DEEPC_TEST_DIST_CHUNK to cross window edges).
size_t zero_window_floats(void);
// Collective: rank 0 gets floats [a, a + n) of the whole block's first (which 0) or second (1)
// AdamW moment in dst[n] (n <= zero_window_floats()), each rank sending its part; dst may be
// NULL off rank 0. Rank 0 never holds more than the window (checkpoints stream the moments).
int zero_gather_window(const AdamW *o, const ZeroPlan *z, int which, size_t a, size_t n, float *dst);
