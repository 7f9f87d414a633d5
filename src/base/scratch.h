// scratch.h — per-thread buffers kept from one call to the next, for hot paths that would otherwise
// allocate on every call (a decode token runs the same few hundred kernels with the same small buffers;
// glibc's aligned allocation of them, with its free-list consolidation, cost ~4 % of a token).
//
//   static _Thread_local Scratch s;          // at the call site: one buffer per thread and call site
//   float *buf = scratch_zeroed(&s, bytes);  // valid until this thread's next scratch_zeroed(&s, ...)
//
// A buffer grows (never shrinks) to the largest size asked of it and lives until its thread ends (it is
// freed then). The Scratch itself must be _Thread_local (it is registered with its thread's exit). The
// caller must not hold it across another use of the same Scratch on the same thread; other threads may
// read and write it while the owner waits for them (a parallel step over it).
#pragma once
#include <stddef.h>

typedef struct {
    void *p;      // 64-byte aligned, or NULL
    size_t n;     // bytes held
} Scratch;

// At least n bytes, 64-byte aligned, the first n zeroed (as xmalloc_aligned). Fatal when out of memory.
void *scratch_zeroed(Scratch *s, size_t n);
// The same without the zeroing: whatever the last use left there (for buffers written before they are read).
void *scratch_get(Scratch *s, size_t n);
// Run fn(arg) when the calling thread ends (for per-thread state other than a Scratch; at most 64 per thread).
void scratch_at_thread_exit(void (*fn)(void *), void *arg);
