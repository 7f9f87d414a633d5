// scratch.c — per-thread reusable buffers (see scratch.h).
#include "base/scratch.h"
#include <stdlib.h>
#include <string.h>
#include "base/check.h"

void *scratch_get(Scratch *s, size_t n) {
    if (n > s->n || !s->p) {
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
