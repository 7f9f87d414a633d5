// dist.c — data parallel over MPI (all-reduce of gradients and expert loads,
// all-gather of replica hashes), single-process no-ops without -DDEEPC_MPI.
#include "train/dist.h"
#include "base/check.h"
#ifdef DEEPC_MPI
#include <mpi.h>

static int inited;

int dist_init(int *argc, char ***argv) {
    if (inited) return 0;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) return fail("MPI_Init failed");
    inited = 1;
    return 0;
}
void dist_finalize(void) { if (inited) MPI_Finalize(); inited = 0; }
int dist_rank(void) { int r = 0; if (inited) MPI_Comm_rank(MPI_COMM_WORLD, &r); return r; }
int dist_world(void) { int w = 1; if (inited) MPI_Comm_size(MPI_COMM_WORLD, &w); return w; }

int dist_allreduce_grads(Model *m, int32_t *expert_load, int n_load) {
    int w = dist_world();
    if (w == 1) return 0;
    // in chunks: MPI counts are int
    const size_t chunk = (size_t)1 << 28;
    for (size_t off = 0; off < m->n_params; off += chunk) {
        size_t n = m->n_params - off < chunk ? m->n_params - off : chunk;
        if (MPI_Allreduce(MPI_IN_PLACE, m->grads + off, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
            return fail("MPI_Allreduce of gradients failed");
    }
    float inv = 1.0f / (float)w;
    for (size_t i = 0; i < m->n_params; i++) m->grads[i] *= inv;
    if (n_load > 0 && MPI_Allreduce(MPI_IN_PLACE, expert_load, n_load, MPI_INT32_T, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
        return fail("MPI_Allreduce of expert loads failed");
    return 0;
}

double dist_sum(double x) {
    if (dist_world() == 1) return x;
    double y = x;
    MPI_Allreduce(&x, &y, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return y;
}

int dist_allgather_u64(uint64_t x, uint64_t *all) {
    if (dist_world() == 1) { all[0] = x; return 0; }
    if (MPI_Allgather(&x, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD) != MPI_SUCCESS)
        return fail("MPI_Allgather failed");
    return 0;
}
#else
int dist_init(int *argc, char ***argv) { (void)argc; (void)argv; return 0; }
void dist_finalize(void) {}
int dist_rank(void) { return 0; }
int dist_world(void) { return 1; }
int dist_allreduce_grads(Model *m, int32_t *expert_load, int n_load) { (void)m; (void)expert_load; (void)n_load; return 0; }
double dist_sum(double x) { return x; }
int dist_allgather_u64(uint64_t x, uint64_t *all) { all[0] = x; return 0; }
#endif
