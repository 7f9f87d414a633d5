// safetensors.h — read (mmap) and write safetensors files and sharded folders
// (model.safetensors.index.json). Dtypes: F32, BF16, F16, F8_E4M3 (and I32/I64
// for data tensors). Every offset and shape in a header is checked against the
// file before use; lies are reported with the file, the tensor and the byte.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/io.h"

typedef enum { ST_F32, ST_BF16, ST_F16, ST_F8_E4M3, ST_I32, ST_I64, ST_U8, ST_I8 } StDtype;

typedef struct {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[8];
    const void *data;      // points into the mapping
    size_t nbytes;
    int file;              // which file of a sharded set
    const char *path;      // that file's path (owned by the StFile), for messages
} StTensor;

typedef struct {
    StTensor *tensors; int n;
    MappedFile *maps; int nmaps;
    char **paths;
    char *metadata_json;   // the "__metadata__" object as JSON text, or NULL
} StFile;

// Open one .safetensors file, a *.index.json file, or a model folder
// (model.safetensors or the sharded set named by model.safetensors.index.json).
// Tensors are sorted by name (st_find is a binary search).
int st_open(const char *path, StFile *f);
void st_close(StFile *f);
const StTensor *st_find(const StFile *f, const char *name);   // NULL if absent
int64_t st_numel(const StTensor *t);
size_t st_dtype_size(StDtype d);
const char *st_dtype_name(StDtype d);
// Convert a tensor (F32/BF16/F16/F8_E4M3) to FP32; fails on a shape or dtype
// that does not match `numel`.
int st_read_f32(const StTensor *t, float *out, int64_t numel);

// Writer: collect tensors (borrowed pointers), then write atomically.
typedef struct { const char *name; StDtype dtype; int ndim; int64_t shape[8]; const void *data; } StEntry;
typedef struct { StEntry *e; int n, cap; } StWriter;
void st_writer_init(StWriter *w);
void st_writer_add(StWriter *w, const char *name, StDtype dtype, int ndim, const int64_t *shape, const void *data);
// Write one file; metadata_json may be NULL (deepc writes {"format":"pt"}).
int st_writer_save(StWriter *w, const char *path);
// Write a folder's weights: one model.safetensors, or shards of at most
// max_shard_bytes with model.safetensors.index.json when larger.
int st_writer_save_folder(StWriter *w, const char *dir, size_t max_shard_bytes);
// Like st_writer_save for entries added with data NULL: their bytes come from
// fill(ctx, entry index, byte offset, dst, n) in pieces of at most `window` bytes, in the
// order the file holds them, so a tensor need never be whole in memory. The file has the
// same bytes as st_writer_save would write. path NULL writes nothing and calls fill for the
// same pieces with dst NULL, and after a write error the remaining pieces are still asked
// for (and dropped): collective fills (MPI) stay in step on every rank. fill returning -1
// stops at once (no file).
typedef int (*StFill)(void *ctx, int entry, size_t offset, void *dst, size_t n);
int st_writer_save_fill(StWriter *w, const char *path, StFill fill, void *ctx, size_t window);
void st_writer_free(StWriter *w);

// BF16/F16/FP8 <-> F32 conversions (round to nearest even on the way down).
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
