// hugemem.c — huge-page-backed regions for model weights (see hugemem.h).
#include "base/hugemem.h"
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "base/check.h"

#define HUGE_PAGE ((size_t)2 << 20)
#define REGION ((size_t)64 << 20)     // pieces up to REGION/4 are packed into regions of this size
#define MAX_REGIONS 4096

typedef struct {
    char *base;      // 2 MiB aligned
    size_t size;     // bytes usable from base
    size_t used;     // bump offset
    size_t live;     // pieces not yet freed
    void *map;       // what mmap returned (unaligned), and its length
    size_t map_len;
} Region;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static Region regions[MAX_REGIONS];
static int nregions;
static int current = -1;             // region being filled
static int enabled = -1;             // -1: read DEEPC_HUGEPAGES on first use

static int is_enabled(void) {
    if (enabled < 0) {
        const char *e = getenv("DEEPC_HUGEPAGES");
        enabled = !(e && e[0] == '0' && e[1] == 0);
    }
    return enabled;
}

int huge_set_enabled(int on) {
    pthread_mutex_lock(&mu);
    int old = is_enabled();
    enabled = on != 0;
    pthread_mutex_unlock(&mu);
    return old;
}

// A new region of at least `size` bytes, 2 MiB aligned; its index, or -1 when the table is full.
static int region_new(size_t size) {
    if (nregions == MAX_REGIONS) return -1;
    size = (size + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    size_t len = size + HUGE_PAGE;    // slack to align the start
    void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) fatal("out of memory mapping %zu bytes for model weights", len);
    char *base = (char *)(((uintptr_t)map + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
#ifdef MADV_HUGEPAGE
    madvise(base, size, MADV_HUGEPAGE);   // a hint: without THP support the region still works with small pages
#endif
    regions[nregions] = (Region){base, size, 0, 0, map, len};
    return nregions++;
}

void *huge_alloc(size_t n) {
    if (!is_enabled()) return xmalloc_aligned(n);
    size_t m = (n + 63) & ~(size_t)63;
    if (m == 0) m = 64;
    pthread_mutex_lock(&mu);
    int r;
    if (m > REGION / 4) {
        r = region_new(m);                // its own region, not the one being filled
    } else {
        if (current < 0 || regions[current].size - regions[current].used < m) current = region_new(REGION);
        r = current;
    }
    void *p = NULL;
    if (r >= 0) {
        p = regions[r].base + regions[r].used;
        regions[r].used += m;
        regions[r].live++;
    }
    pthread_mutex_unlock(&mu);
    return p ? p : xmalloc_aligned(n);   // region table full: plain memory (huge_free tells them apart)
}

void huge_free(void *p) {
    if (!p) return;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < nregions; i++) {
        Region *g = &regions[i];
        if ((char *)p < g->base || (char *)p >= g->base + g->size) continue;
        if (--g->live == 0) {             // last piece: give the region back
            munmap(g->map, g->map_len);
            if (current == i) current = -1;
            else if (current == nregions - 1) current = i;   // the last entry moves into slot i
            regions[i] = regions[--nregions];
        }
        pthread_mutex_unlock(&mu);
        return;
    }
    pthread_mutex_unlock(&mu);
    free(p);
}

size_t huge_mapped_bytes(void) {
    pthread_mutex_lock(&mu);
    size_t b = 0;
    for (int i = 0; i < nregions; i++) b += regions[i].size;
    pthread_mutex_unlock(&mu);
    return b;
}

size_t huge_live_pieces(void) {
    pthread_mutex_lock(&mu);
    size_t n = 0;
    for (int i = 0; i < nregions; i++) n += regions[i].live;
    pthread_mutex_unlock(&mu);
    return n;
}
