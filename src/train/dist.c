// dist.c — data parallel over MPI (all-reduce of gradients and expert loads,
// all-gather of replica hashes, ZeRO-1 reduce-scatter / all-gather / gather),
// single-process no-ops without -DDEEPC_MPI.
#include "train/dist.h"
#include "base/check.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static double comm_s;   // seconds inside collectives

double dist_comm_seconds(void) { return comm_s; }

#ifdef DEEPC_MPI
#include <mpi.h>

static int inited;

int dist_init(int *argc, char ***argv) {
    if (inited) return 0;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) return fail("MPI_Init failed");
    inited = 1;
    return 0;
}
static float *stage_buf;   // the reduce-scatter's stage (below), kept between steps
static size_t stage_cap;
void dist_finalize(void) {
    if (inited) MPI_Finalize();
    inited = 0;
    free(stage_buf);
    stage_buf = NULL; stage_cap = 0;
}
int dist_rank(void) { int r = 0; if (inited) MPI_Comm_rank(MPI_COMM_WORLD, &r); return r; }
int dist_world(void) { int w = 1; if (inited) MPI_Comm_size(MPI_COMM_WORLD, &w); return w; }

// floats per collective call: MPI counts are int (tests shrink it to cross window edges)
static size_t chunk_floats(void) {
    static size_t ch;
    if (!ch) {
        const char *e = getenv("DEEPC_TEST_DIST_CHUNK");
        long long v = e ? atoll(e) : 0;
        ch = v > 0 ? (size_t)v : (size_t)1 << 28;
    }
    return ch;
}

static int allreduce_loads(int32_t *expert_load, int n_load) {
    if (n_load <= 0) return 0;
    double t0 = omp_get_wtime();
    int rc = MPI_Allreduce(MPI_IN_PLACE, expert_load, n_load, MPI_INT32_T, MPI_SUM, MPI_COMM_WORLD);
    comm_s += omp_get_wtime() - t0;
    return rc == MPI_SUCCESS ? 0 : fail("MPI_Allreduce of expert loads failed");
}

int dist_allreduce_grads(Model *m, int32_t *expert_load, int n_load) {
    int w = dist_world();
    if (w == 1) return 0;
    double t0 = omp_get_wtime();
    // in windows of 256K floats: one all-reduce of a 15.7M-float block took 95-130 ms between 2
    // ranks on one machine (OpenMPI 4.1, shared memory), 1M-float windows 24-30 ms, 256K 20 ms
    const size_t chunk = chunk_floats() < ((size_t)1 << 18) ? chunk_floats() : (size_t)1 << 18;
    for (size_t off = 0; off < m->n_params; off += chunk) {
        size_t n = m->n_params - off < chunk ? m->n_params - off : chunk;
        if (MPI_Allreduce(MPI_IN_PLACE, m->grads + off, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
            return fail("MPI_Allreduce of gradients failed");
    }
    comm_s += omp_get_wtime() - t0;
    TRY(allreduce_loads(expert_load, n_load));
    float inv = 1.0f / (float)w;
    for (size_t i = 0; i < m->n_params; i++) m->grads[i] *= inv;
    return 0;
}

double dist_sum(double x) {
    if (dist_world() == 1) return x;
    double t0 = omp_get_wtime();
    double y = x;
    MPI_Allreduce(&x, &y, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    comm_s += omp_get_wtime() - t0;
    return y;
}

int dist_allgather_u64(uint64_t x, uint64_t *all) {
    if (dist_world() == 1) { all[0] = x; return 0; }
    if (MPI_Allgather(&x, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD) != MPI_SUCCESS)
        return fail("MPI_Allgather failed");
    return 0;
}

// Rank q's part of the window [a, b) of the block: counts[q] floats from displs[q] (window-relative).
static void window_split(const ZeroPlan *z, size_t a, size_t b, int *counts, int *displs) {
    for (int q = 0; q < z->world; q++) {
        size_t lo = z->bounds[q] > a ? z->bounds[q] : a, hi = z->bounds[q + 1] < b ? z->bounds[q + 1] : b;
        counts[q] = hi > lo ? (int)(hi - lo) : 0;
        displs[q] = hi > lo ? (int)(lo - a) : 0;
    }
}

// MPI_Reduce_scatter_block with padding (OpenMPI's MPI_Reduce_scatter with unequal counts
// was 1.5x slower than an all-reduce of the whole block here; the block form ~0.9x): in
// round k every rank's k-th piece of blk floats of every shard is staged at [q][blk] (zeros
// past a shard's end), summed, and rank q keeps its piece. The stage stays small (256K floats
// in all, 1 MB) and is kept between steps: measured with 2 ranks and 15.7M floats (OpenMPI 4.1,
// shared memory), stages of 128K or 256K floats took 25 ms a step, 1M 90-100 ms, the whole
// block 170-250 ms (an all-reduce in 256K windows 20 ms, one call 95-130 ms).
static int reduce_scatter_sum(float *g, const ZeroPlan *z, size_t n) {
    (void)n;
    size_t maxshard = 0;
    for (int q = 0; q < z->world; q++)
        if (z->bounds[q + 1] - z->bounds[q] > maxshard) maxshard = z->bounds[q + 1] - z->bounds[q];
    size_t cap = chunk_floats() < ((size_t)1 << 18) ? chunk_floats() : (size_t)1 << 18;
    size_t blk = cap / (size_t)z->world;
    if (blk < 1) blk = 1;
    if (blk > maxshard) blk = maxshard ? maxshard : 1;
    size_t need = ((size_t)z->world + 1) * blk;   // [world][blk] stage, then [blk] for this rank's sums
    if (need > stage_cap) { free(stage_buf); stage_buf = xmalloc(need * sizeof(float)); stage_cap = need; }
    float *stage = stage_buf, *mine = stage_buf + (size_t)z->world * blk;
    int rc = 0;
    for (size_t k = 0; k * blk < maxshard && rc == 0; k++) {
        for (int q = 0; q < z->world; q++) {
            size_t a = z->bounds[q] + k * blk, e = z->bounds[q + 1];
            size_t cnt = a < e ? (e - a < blk ? e - a : blk) : 0;
            if (cnt) memcpy(stage + (size_t)q * blk, g + a, cnt * sizeof(float));
            if (cnt < blk) memset(stage + (size_t)q * blk + cnt, 0, (blk - cnt) * sizeof(float));
        }
        if (MPI_Reduce_scatter_block(stage, mine, (int)blk, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) {
            rc = fail("MPI_Reduce_scatter_block of gradients (round %zu of pieces of %zu floats) failed", k, blk);
            break;
        }
        size_t a = z->bounds[z->rank] + k * blk, e = z->bounds[z->rank + 1];
        if (a < e) memcpy(g + a, mine, (e - a < blk ? e - a : blk) * sizeof(float));
    }
    return rc;
}

static int allgather_params(float *p, const ZeroPlan *z, size_t n) {
    const size_t chunk = chunk_floats();
    int *counts = xmalloc(2 * (size_t)z->world * sizeof(int)), *displs = counts + z->world;
    int rc = 0;
    for (size_t a = 0; a < n && rc == 0; a += chunk) {
        size_t b = n - a < chunk ? n : a + chunk;
        window_split(z, a, b, counts, displs);
        if (MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, p + a, counts, displs, MPI_FLOAT, MPI_COMM_WORLD) != MPI_SUCCESS)
            rc = fail("MPI_Allgatherv of parameters (floats %zu..%zu) failed", a, b);
    }
    free(counts);
    return rc;
}

// Floats [a, a + n) of the block to rank 0's dst (n <= INT_MAX): each rank sends its part of
// them from mine, its shard [bounds[rank], bounds[rank+1]).
static int gather_window(const float *mine, float *dst, const ZeroPlan *z, size_t a, size_t n) {
    int *counts = xmalloc(2 * (size_t)z->world * sizeof(int)), *displs = counts + z->world;
    window_split(z, a, a + n, counts, displs);
    const float *send = counts[z->rank] ? mine + (a + (size_t)displs[z->rank] - z->bounds[z->rank]) : mine;
    int rc = 0;
    if (MPI_Gatherv(send, counts[z->rank], MPI_FLOAT, z->rank == 0 ? dst : NULL, counts, displs, MPI_FLOAT, 0,
                    MPI_COMM_WORLD) != MPI_SUCCESS)
        rc = fail("MPI_Gatherv of AdamW moments (floats %zu..%zu) failed", a, a + n);
    free(counts);
    return rc;
}

// The chunk sums of every shard, in block order, on every rank (in place: part[n_chunks],
// this rank's at its offset).
static int allgather_partials(double *part, const ZeroPlan *z) {
    int *displs = xmalloc((size_t)z->world * sizeof(int));
    size_t d = 0;
    for (int q = 0; q < z->world; q++) { displs[q] = (int)d; d += (size_t)z->chunks[q]; }
    int rc = 0;
    if (MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, part, z->chunks, displs, MPI_DOUBLE, MPI_COMM_WORLD) != MPI_SUCCESS)
        rc = fail("MPI_Allgatherv of gradient-norm partial sums failed");
    free(displs);
    return rc;
}
#else
int dist_init(int *argc, char ***argv) { (void)argc; (void)argv; return 0; }
void dist_finalize(void) {}
int dist_rank(void) { return 0; }
int dist_world(void) { return 1; }
int dist_allreduce_grads(Model *m, int32_t *expert_load, int n_load) { (void)m; (void)expert_load; (void)n_load; return 0; }
double dist_sum(double x) { return x; }
int dist_allgather_u64(uint64_t x, uint64_t *all) { all[0] = x; return 0; }
// world is 1 without MPI: one shard, so the ZeRO-1 collectives below are never reached
static int reduce_scatter_sum(float *g, const ZeroPlan *z, size_t n) { (void)g; (void)z; (void)n; return 0; }
static int allgather_params(float *p, const ZeroPlan *z, size_t n) { (void)p; (void)z; (void)n; return 0; }
static int gather_window(const float *mine, float *dst, const ZeroPlan *z, size_t a, size_t n) {
    (void)z; memcpy(dst, mine + a, n * sizeof(float)); return 0;
}
static int allgather_partials(double *part, const ZeroPlan *z) { (void)part; (void)z; return 0; }
static int allreduce_loads(int32_t *expert_load, int n_load) { (void)expert_load; (void)n_load; return 0; }
#endif

void zero_plan(const Model *m, ZeroPlan *z) {
    z->world = dist_world();
    z->rank = dist_rank();
    z->bounds = xmalloc(((size_t)z->world + 1) * sizeof(size_t));
    z->chunks = xmalloc((size_t)z->world * sizeof(int));
    adamw_shard_bounds(m, z->world, z->bounds);
    z->n_chunks = adamw_norm_chunks(m);
    for (int q = 0; q < z->world; q++) {
        size_t first, cnt;
        adamw_norm_partials(m, z->bounds[q], z->bounds[q + 1], NULL, &first, &cnt);
        ASSERT(cnt < (size_t)1 << 30);
        z->chunks[q] = (int)cnt;
    }
}

void zero_plan_free(ZeroPlan *z) {
    free(z->bounds); free(z->chunks);
    memset(z, 0, sizeof *z);
}

int zero_reduce_scatter_grads(Model *m, const ZeroPlan *z, int32_t *expert_load, int n_load) {
    if (z->world == 1) return 0;
    double t0 = omp_get_wtime();
    int rc = reduce_scatter_sum(m->grads, z, m->n_params);
    comm_s += omp_get_wtime() - t0;
    TRY(rc);
    TRY(allreduce_loads(expert_load, n_load));   // as without sharding: the bias rule needs all of them
    float inv = 1.0f / (float)z->world;
    for (size_t i = z->bounds[z->rank]; i < z->bounds[z->rank + 1]; i++) m->grads[i] *= inv;
    return 0;
}

int zero_adamw_step(AdamW *o, Model *m, const ZeroPlan *z, const AdamWConfig *c, double lr, double gscale, double *norm) {
    size_t lo = z->bounds[z->rank], hi = z->bounds[z->rank + 1];
    ASSERT(o->lo == lo && o->n == hi - lo && m->grads);
    double *part = xmalloc((z->n_chunks ? z->n_chunks : 1) * sizeof(double));
    size_t first = 0, cnt = 0;
    adamw_norm_partials(m, lo, hi, part, &first, &cnt);   // at part[0..cnt)
    if (cnt && first) memmove(part + first, part, cnt * sizeof(double));
    double t0 = omp_get_wtime();
    int rc = z->world > 1 ? allgather_partials(part, z) : 0;
    comm_s += omp_get_wtime() - t0;
    if (rc < 0) { free(part); return -1; }
    double ss = 0;
    for (size_t k = 0; k < z->n_chunks; k++) ss += part[k];   // block order, as adamw_grad_norm
    free(part);
    *norm = sqrt(ss) * fabs(gscale);
    if (!isfinite(*norm)) return 0;
    double scale = adamw_clip_scale(c, *norm, gscale);
    o->t++;
    adamw_apply(o, m, c, lr, scale);
    if (z->world == 1) return 0;
    t0 = omp_get_wtime();
    rc = allgather_params(m->params, z, m->n_params);
    comm_s += omp_get_wtime() - t0;
    return rc;
}

size_t zero_window_floats(void) {
#ifdef DEEPC_MPI
    return chunk_floats() < ((size_t)1 << 18) ? chunk_floats() : (size_t)1 << 18;
#else
    return (size_t)1 << 18;
#endif
}

int zero_gather_window(const AdamW *o, const ZeroPlan *z, int which, size_t a, size_t n, float *dst) {
    ASSERT(n <= zero_window_floats() && a + n <= z->bounds[z->world] && (z->rank != 0 || dst));
    ASSERT(o->lo == z->bounds[z->rank] && o->n == z->bounds[z->rank + 1] - o->lo);
    double t0 = omp_get_wtime();
    int rc = gather_window(which ? o->v : o->m, dst, z, a, n);
    comm_s += omp_get_wtime() - t0;
    return rc;
}
