// hugemem.h — memory for large, long-lived, read-mostly data (model weights): 64-byte aligned pieces
// of 2 MiB-aligned regions that the kernel is asked to back with transparent huge pages
// (madvise MADV_HUGEPAGE; Linux's default THP mode is "madvise", so plain malloc gets 4 KiB pages).
// Streaming weights from DRAM at decode crosses a 4 KiB page every few hundred nanoseconds, and the
// hardware prefetchers stop at page boundaries: one core's matvec reads 15-35 % faster from huge
// pages (docs/performance.md). Pieces are packed into 64 MiB regions (larger requests get their own);
// a region is returned to the system when its last piece is freed.
#pragma once
#include <stddef.h>

void *huge_alloc(size_t n);       // zeroed, 64-byte aligned; fatal when out of memory
// Free p from huge_alloc; anything else (malloc / xmalloc_aligned / NULL) goes to free(), so owners
// that mix both can free through here.
void huge_free(void *p);
// On by default; DEEPC_HUGEPAGES=0 in the environment, or huge_set_enabled(0), makes huge_alloc plain
// xmalloc_aligned (for A/B runs). Returns the previous setting.
int huge_set_enabled(int on);
// Bytes mapped in regions right now, and live pieces (tests, --stats).
size_t huge_mapped_bytes(void);
size_t huge_live_pieces(void);
