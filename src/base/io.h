// io.h — files: whole-file reads, mmap, atomic writes, folders.
// Every function returns 0 on success or -1 with a fail() message naming the path.
#pragma once
#include <stddef.h>
#include <stdio.h>

// Read a whole file into a NUL-terminated heap buffer (*len excludes the NUL).
int io_read_all(const char *path, char **buf, size_t *len);

// Read-only memory map of a whole file (an empty file maps to data = NULL, size 0).
typedef struct { void *data; size_t size; } MappedFile;
int io_map(const char *path, MappedFile *m);
void io_unmap(MappedFile *m);
// Bytes [p, p + n) of an io_map mapping that will not be read again (e.g. weights copied into another layout):
// the whole pages inside are dropped from this process's resident memory (a later read maps them in again).
void io_map_release(const void *p, size_t n);

// Atomic file: writes go to "<path>.tmp.<pid>", commit fsyncs and renames it onto
// path; abort (or a crash) leaves the old file, if any, untouched.
typedef struct { FILE *f; char *path; char *tmp; } AtomicFile;
int io_atomic_open(AtomicFile *a, const char *path);
int io_atomic_write(AtomicFile *a, const void *data, size_t n);
int io_atomic_commit(AtomicFile *a);
void io_atomic_abort(AtomicFile *a);
// Write a buffer to path atomically in one call.
int io_write_file(const char *path, const void *data, size_t n);
// Copy a whole file to `to` atomically.
int io_copy_file(const char *from, const char *to);

int io_mkdir_p(const char *path);             // like `mkdir -p`
int io_exists(const char *path);              // 1 if path exists (file or folder)
int io_is_dir(const char *path);              // 1 if path is a folder
int io_fsync_path(const char *path);          // fsync a file or folder
int io_rm_rf(const char *path);               // remove a file or folder tree
int io_file_size(const char *path, size_t *size);
// path_join: "a" + "b" -> "a/b" in a heap string.
char *path_join(const char *a, const char *b);
