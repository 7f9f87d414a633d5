// dist.h — data parallelism across processes. Built with MPI when compiled with
// -DDEEPC_MPI and mpicc (`CFLAGS=-DDEEPC_MPI make CC=mpicc`); otherwise every
// call is a single-process no-op, so a plain build needs no MPI at run time.
#pragma once
#include <stdint.h>
#include "model/model.h"

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
