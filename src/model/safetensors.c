// safetensors.c — read (mmap) and write safetensors files and sharded model folders.
//
// File layout: [u64 little-endian N][N bytes of JSON header][data section].
// The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the data section) plus an optional "__metadata__" object of
// strings. Everything in a header is checked before a pointer into the mapping is
// handed out: a file that lies gets a message with the file, the tensor and the byte.
#include "model/safetensors.h"
#include "base/check.h"
#include "base/json.h"
#include "kernels/bf16.h"
#include "kernels/fp8.h"
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ST_MAX_HEADER (100u << 20)   // the Python package refuses headers above 100 MB too
#define INDEX_NAME "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"

static const char *dtype_names[] = { "F32", "BF16", "F16", "F8_E4M3", "I32", "I64", "U8", "I8" };
static const size_t dtype_sizes[] = { 4, 2, 2, 1, 4, 8, 1, 1 };
#define N_DTYPES 8

size_t st_dtype_size(StDtype d) { return (unsigned)d < N_DTYPES ? dtype_sizes[d] : 0; }
const char *st_dtype_name(StDtype d) { return (unsigned)d < N_DTYPES ? dtype_names[d] : "?"; }

int64_t st_numel(const StTensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

// ---------------------------------------------------------------- conversions
// The codecs live in kernels/ (bf16.h, fp8.h); these are the names safetensors.h offers.

uint16_t f32_to_bf16(float f) { return bf16_from_f32(f); }
uint16_t f32_to_f16(float f) { return f16_from_f32(f); }

#define ST_CHUNK ((int64_t)1 << 16)   // elements per parallel piece

int st_read_f32(const StTensor *t, float *out, int64_t numel) {
    int64_t n = st_numel(t);
    if (n != numel)
        return fail("%s: tensor \"%s\": has %lld elements, expected %lld", t->path ? t->path : "?", t->name,
                    (long long)n, (long long)numel);
    const unsigned char *p = t->data;
    int64_t nchunk = (n + ST_CHUNK - 1) / ST_CHUNK;
    switch (t->dtype) {
    case ST_F32:
        if (n) memcpy(out, p, (size_t)n * 4);
        break;
    case ST_BF16:
    case ST_F16: {
        int bf = t->dtype == ST_BF16;
        if ((uintptr_t)p % 2) {   // a file may place a 16-bit tensor at an odd offset: copy element by element
            for (int64_t i = 0; i < n; i++) {
                uint16_t h; memcpy(&h, p + 2 * i, 2);
                out[i] = bf ? bf16_to_f32(h) : f16_to_f32(h);
            }
            break;
        }
        const uint16_t *h = (const uint16_t *)(const void *)p;
        #pragma omp parallel for if (nchunk > 4) schedule(static)
        for (int64_t c = 0; c < nchunk; c++) {
            int64_t i0 = c * ST_CHUNK, m = n - i0 < ST_CHUNK ? n - i0 : ST_CHUNK;
            if (bf) bf16_to_f32_row(h + i0, out + i0, (size_t)m);
            else f16_to_f32_row(h + i0, out + i0, (size_t)m);
        }
        break;
    }
    case ST_F8_E4M3: {
        const float *lut = fp8_e4m3_table();
        #pragma omp parallel for if (nchunk > 4) schedule(static)
        for (int64_t i = 0; i < n; i++) out[i] = lut[p[i]];
        break;
    }
    default:
        return fail("%s: tensor \"%s\": dtype %s cannot be read as floating point (supported: F32, BF16, F16, F8_E4M3)",
                    t->path ? t->path : "?", t->name, st_dtype_name(t->dtype));
    }
    return 0;
}

// ---------------------------------------------------------------- reader

static int dtype_from_name(const char *s, StDtype *d) {
    for (int i = 0; i < N_DTYPES; i++)
        if (!strcmp(s, dtype_names[i])) { *d = (StDtype)i; return 0; }
    return -1;
}

static void add_tensor(StFile *f, StTensor *t) {
    if ((f->n & (f->n - 1)) == 0) f->tensors = xrealloc(f->tensors, sizeof(StTensor) * (size_t)(f->n ? 2 * f->n : 16));
    f->tensors[f->n++] = *t;
}

// Read a JSON integer that must be exact and within [0, 2^53].
static int get_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0) || d != floor(d) || d > 9007199254740992.0) return -1;
    *out = (uint64_t)d;
    return 0;
}

typedef struct { uint64_t b, e; int idx; } Span;
static int span_cmp(const void *a, const void *b) {
    const Span *x = a, *y = b;
    if (x->b != y->b) return x->b < y->b ? -1 : 1;
    if (x->e != y->e) return x->e < y->e ? -1 : 1;
    return 0;
}
static int name_cmp(const void *a, const void *b) {
    return strcmp(((const StTensor *)a)->name, ((const StTensor *)b)->name);
}

// Parse the header of the mapping f->maps[fi] (path f->paths[fi]); append its tensors.
static int parse_file(StFile *f, int fi) {
    const char *path = f->paths[fi];
    const unsigned char *base = f->maps[fi].data;
    size_t size = f->maps[fi].size;
    if (size < 8)
        return fail("%s: file is %zu bytes, too short for a safetensors file (8-byte header length first); "
                    "the file is truncated or not safetensors", path, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | base[i];
    if (hlen > size - 8)
        return fail("%s: header length %llu (bytes 0..7) goes beyond the end of the file (%zu bytes); "
                    "the file is truncated or not safetensors", path, (unsigned long long)hlen, size);
    if (hlen > ST_MAX_HEADER)
        return fail("%s: header length %llu is larger than the %u-byte limit", path, (unsigned long long)hlen, ST_MAX_HEADER);
    if (hlen < 2 || base[8] != '{')
        return fail("%s: the JSON header at byte 8 does not start with '{'; not a safetensors file", path);
    const char *text = (const char *)base + 8;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)hlen, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        size_t off = (end && end >= text) ? (size_t)(end - text) : 0;
        if (off > hlen) off = hlen;
        cJSON_Delete(root);
        return fail("%s: malformed JSON header at file byte %zu (header is bytes 8..%llu)",
                    path, off + 8, (unsigned long long)(hlen + 8));
    }
    for (const char *q = end; q < text + hlen; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            cJSON_Delete(root);
            return fail("%s: unexpected bytes after the JSON header at file byte %zu", path, (size_t)(q - text) + 8);
        }
    uint64_t dsize = size - 8 - hlen;
    const unsigned char *data = base + 8 + hlen;
    int count = 0;
    for (cJSON *it = root->child; it; it = it->next) count++;
    Span *spans = xmalloc(sizeof(Span) * (size_t)(count ? count : 1));
    int ns = 0, rc = 0;
    for (cJSON *it = root->child; it && rc == 0; it = it->next) {
        const char *name = it->string ? it->string : "";
        if (!strcmp(name, "__metadata__")) {
            if (!cJSON_IsObject(it)) { rc = fail("%s: \"__metadata__\" must be an object of strings", path); break; }
            for (cJSON *m = it->child; m; m = m->next)
                if (!cJSON_IsString(m)) { rc = fail("%s: \"__metadata__\" value \"%s\" must be a string", path, m->string ? m->string : ""); break; }
            if (rc) break;
            if (fi == 0 && !f->metadata_json) f->metadata_json = cJSON_PrintUnformatted(it);
            continue;
        }
        if (!cJSON_IsObject(it)) { rc = fail("%s: tensor \"%s\": entry must be an object with dtype, shape, data_offsets", path, name); break; }
        const cJSON *jd = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(it, "shape");
        const cJSON *jo = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        StTensor t; memset(&t, 0, sizeof t);
        t.file = fi;
        if (!cJSON_IsString(jd)) { rc = fail("%s: tensor \"%s\": missing \"dtype\" string", path, name); break; }
        if (dtype_from_name(jd->valuestring, &t.dtype) < 0) {
            rc = fail("%s: tensor \"%s\": unknown or unsupported dtype \"%s\" (supported: F32, BF16, F16, F8_E4M3, I32, I64, U8, I8)",
                      path, name, jd->valuestring);
            break;
        }
        if (!cJSON_IsArray(js)) { rc = fail("%s: tensor \"%s\": missing \"shape\" array", path, name); break; }
        int nd = cJSON_GetArraySize(js);
        if (nd > 8) { rc = fail("%s: tensor \"%s\": shape has rank %d, at most 8 is supported", path, name, nd); break; }
        t.ndim = nd;
        uint64_t numel = 1;
        int k = 0, overflow = 0;
        for (const cJSON *d = js->child; d; d = d->next, k++) {
            uint64_t v;
            if (get_u64(d, &v) < 0) { rc = fail("%s: tensor \"%s\": shape[%d] is not a non-negative integer", path, name, k); break; }
            t.shape[k] = (int64_t)v;
            if (v && numel > UINT64_MAX / v) overflow = 1;
            numel *= v;
        }
        if (rc) break;
        uint64_t nbytes = numel * st_dtype_size(t.dtype);
        if (overflow || (numel && nbytes / numel != st_dtype_size(t.dtype))) {
            rc = fail("%s: tensor \"%s\": shape is too large (element count overflows)", path, name);
            break;
        }
        uint64_t ob, oe;
        if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || get_u64(jo->child, &ob) < 0 || get_u64(jo->child->next, &oe) < 0) {
            rc = fail("%s: tensor \"%s\": \"data_offsets\" must be [begin, end] with non-negative integers", path, name);
            break;
        }
        if (oe < ob) { rc = fail("%s: tensor \"%s\": data_offsets [%llu, %llu] end before they begin", path, name,
                                 (unsigned long long)ob, (unsigned long long)oe); break; }
        if (oe > dsize) {
            rc = fail("%s: tensor \"%s\": data_offsets [%llu, %llu] go beyond the data section (%llu bytes, file bytes %llu..%zu); "
                      "the file is truncated or its header is wrong", path, name, (unsigned long long)ob, (unsigned long long)oe,
                      (unsigned long long)dsize, (unsigned long long)(8 + hlen), size);
            break;
        }
        if (oe - ob != nbytes) {
            rc = fail("%s: tensor \"%s\": data_offsets [%llu, %llu] hold %llu bytes, but %s shape of %llu elements needs %llu",
                      path, name, (unsigned long long)ob, (unsigned long long)oe, (unsigned long long)(oe - ob),
                      dtype_names[t.dtype], (unsigned long long)numel, (unsigned long long)nbytes);
            break;
        }
        t.name = xstrdup(name);
        t.path = path;
        t.data = data + ob;
        t.nbytes = (size_t)nbytes;
        spans[ns].b = ob; spans[ns].e = oe; spans[ns].idx = f->n; ns++;
        add_tensor(f, &t);
    }
    cJSON_Delete(root);
    if (rc == 0) {
        qsort(spans, (size_t)ns, sizeof(Span), span_cmp);
        for (int i = 1; i < ns; i++)
            if (spans[i].b < spans[i - 1].e) {
                rc = fail("%s: tensor \"%s\" (data bytes %llu..%llu) overlaps tensor \"%s\" (data bytes %llu..%llu)", path,
                          f->tensors[spans[i].idx].name, (unsigned long long)spans[i].b, (unsigned long long)spans[i].e,
                          f->tensors[spans[i - 1].idx].name, (unsigned long long)spans[i - 1].b, (unsigned long long)spans[i - 1].e);
                break;
            }
    }
    free(spans);
    return rc;
}

// After all files are parsed: sort by name for bsearch, refuse duplicates.
static int finish(StFile *f) {
    if (f->n > 1) qsort(f->tensors, (size_t)f->n, sizeof(StTensor), name_cmp);
    for (int i = 1; i < f->n; i++)
        if (!strcmp(f->tensors[i].name, f->tensors[i - 1].name)) {
            const StTensor *a = &f->tensors[i - 1], *b = &f->tensors[i];
            if (a->file == b->file)
                return fail("%s: tensor \"%s\" appears twice in the header", f->paths[a->file], a->name);
            return fail("tensor \"%s\" appears in both %s and %s", a->name, f->paths[a->file], f->paths[b->file]);
        }
    return 0;
}

static int open_one(StFile *f, const char *path) {
    int fi = f->nmaps;
    f->maps = xrealloc(f->maps, sizeof(MappedFile) * (size_t)(fi + 1));
    f->paths = xrealloc(f->paths, sizeof(char *) * (size_t)(fi + 1));
    f->maps[fi].data = NULL; f->maps[fi].size = 0;
    f->paths[fi] = xstrdup(path);
    f->nmaps = fi + 1;
    TRY(io_map(path, &f->maps[fi]));
    return parse_file(f, fi);
}

static int open_index(StFile *f, const char *dir, const char *index_path) {
    cJSON *root;
    TRY(json_load_file(index_path, &root));
    int rc = 0;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(root) || !cJSON_IsObject(wm)) {
        cJSON_Delete(root);
        return fail("%s: expected an object with a \"weight_map\" object (tensor name -> shard file)", index_path);
    }
    // distinct shard names, in order of first appearance
    int nshard = 0, cap = 0;
    char **shards = NULL;
    for (const cJSON *e = wm->child; e && rc == 0; e = e->next) {
        if (!cJSON_IsString(e)) { rc = fail("%s: weight_map[\"%s\"] must be a file name", index_path, e->string); break; }
        const char *s = e->valuestring;
        if (!*s || strchr(s, '/') || !strcmp(s, ".") || !strcmp(s, "..")) {
            rc = fail("%s: weight_map[\"%s\"] = \"%s\" is not a plain file name in the folder", index_path, e->string, s);
            break;
        }
        int found = 0;
        for (int i = nshard - 1; i >= 0 && !found; i--) found = !strcmp(shards[i], s);
        if (found) continue;
        if (nshard == cap) shards = xrealloc(shards, sizeof(char *) * (size_t)(cap = cap ? 2 * cap : 8));
        shards[nshard++] = xstrdup(s);
    }
    for (int i = 0; i < nshard && rc == 0; i++) {
        char *p = path_join(dir, shards[i]);
        if (!io_exists(p)) rc = fail("%s names shard %s, which does not exist (%s)", index_path, shards[i], p);
        else if (open_one(f, p) < 0) rc = -1;
        free(p);
    }
    if (rc == 0) rc = finish(f);
    // every tensor the index names is in the shard it names, and every tensor is named once
    unsigned char *seen = xcalloc((size_t)(f->n ? f->n : 1), 1);
    for (const cJSON *e = wm->child; e && rc == 0; e = e->next) {
        const StTensor *t = st_find(f, e->string);
        if (!t) { rc = fail("%s: tensor \"%s\" should be in %s but is not there", index_path, e->string, e->valuestring); break; }
        const char *fname = strrchr(f->paths[t->file], '/');
        fname = fname ? fname + 1 : f->paths[t->file];
        if (strcmp(fname, e->valuestring)) {
            rc = fail("%s: tensor \"%s\" should be in %s but is in %s", index_path, e->string, e->valuestring, fname);
            break;
        }
        if (seen[t - f->tensors]++) rc = fail("%s: weight_map lists tensor \"%s\" twice", index_path, e->string);
    }
    for (int i = 0; i < f->n && rc == 0; i++)
        if (!seen[i]) rc = fail("%s: tensor \"%s\" is not listed in %s", f->paths[f->tensors[i].file], f->tensors[i].name, index_path);
    free(seen);
    for (int i = 0; i < nshard; i++) free(shards[i]);
    free(shards);
    cJSON_Delete(root);
    return rc;
}

int st_open(const char *path, StFile *f) {
    memset(f, 0, sizeof *f);
    int rc;
    if (io_is_dir(path)) {
        char *idx = path_join(path, INDEX_NAME), *single = path_join(path, SINGLE_NAME);
        if (io_exists(idx)) rc = open_index(f, path, idx);
        else if (io_exists(single)) rc = open_one(f, single) < 0 ? -1 : finish(f);
        else rc = fail("%s: no %s or %s in this folder", path, SINGLE_NAME, INDEX_NAME);
        free(idx); free(single);
    } else {
        size_t n = strlen(path), k = strlen(".index.json");
        if (n > k && !strcmp(path + n - k, ".index.json")) {   // an index file named directly
            char *dir = xstrdup(path), *slash = strrchr(dir, '/');
            if (slash) *slash = 0; else strcpy(dir, ".");
            rc = open_index(f, dir, path);
            free(dir);
        } else {
            rc = open_one(f, path) < 0 ? -1 : finish(f);
        }
    }
    if (rc < 0) st_close(f);
    return rc;
}

void st_close(StFile *f) {
    for (int i = 0; i < f->n; i++) free(f->tensors[i].name);
    free(f->tensors);
    for (int i = 0; i < f->nmaps; i++) { io_unmap(&f->maps[i]); free(f->paths[i]); }
    free(f->maps); free(f->paths);
    free(f->metadata_json);
    memset(f, 0, sizeof *f);
}

const StTensor *st_find(const StFile *f, const char *name) {
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(f->tensors[mid].name, name);
        if (c == 0) return &f->tensors[mid];
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return NULL;
}

// ---------------------------------------------------------------- writer

void st_writer_init(StWriter *w) { w->e = NULL; w->n = w->cap = 0; }

void st_writer_add(StWriter *w, const char *name, StDtype dtype, int ndim, const int64_t *shape, const void *data) {
    ASSERT(ndim >= 0 && ndim <= 8 && (unsigned)dtype < N_DTYPES);
    if (w->n == w->cap) w->e = xrealloc(w->e, sizeof(StEntry) * (size_t)(w->cap = w->cap ? 2 * w->cap : 64));
    StEntry *e = &w->e[w->n++];
    memset(e, 0, sizeof *e);
    e->name = xstrdup(name);
    e->dtype = dtype;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) { ASSERT(shape[i] >= 0); e->shape[i] = shape[i]; }
    e->data = data;
}

void st_writer_free(StWriter *w) {
    for (int i = 0; i < w->n; i++) free((char *)w->e[i].name);
    free(w->e);
    st_writer_init(w);
}

static size_t entry_bytes(const StEntry *e) {
    size_t n = st_dtype_size(e->dtype);
    for (int i = 0; i < e->ndim; i++) n *= (size_t)e->shape[i];
    return n;
}

// Growing string buffer for the header.
typedef struct { char *s; size_t n, cap; } Buf;
static void buf_put(Buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) { while (b->n + n + 1 > b->cap) b->cap = b->cap ? 2 * b->cap : 4096; b->s = xrealloc(b->s, b->cap); }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}
static void buf_str(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }
static void buf_json_str(Buf *b, const char *s) {
    buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char tmp[8];
        if (*p == '"' || *p == '\\') { tmp[0] = '\\'; tmp[1] = (char)*p; buf_put(b, tmp, 2); }
        else if (*p < 0x20) { snprintf(tmp, sizeof tmp, "\\u%04x", *p); buf_put(b, tmp, 6); }
        else buf_put(b, (const char *)p, 1);
    }
    buf_put(b, "\"", 1);
}

// Order: larger element sizes first (keeps every tensor aligned to its element
// size in the mapping), insertion order within a size.
static int order_cmp(const void *a, const void *b) {
    const StEntry *const *x = a, *const *y = b;
    size_t sx = st_dtype_size((*x)->dtype), sy = st_dtype_size((*y)->dtype);
    if (sx != sy) return sx > sy ? -1 : 1;
    return *x < *y ? -1 : (*x > *y);
}

static int entry_name_cmp(const void *a, const void *b) {
    return strcmp((*(StEntry *const *)a)->name, (*(StEntry *const *)b)->name);
}

// Order ents[0..n) as the file holds them (*ord, heap) and build the header (*h: the
// JSON padded to 8 bytes); refuses duplicate names.
static int file_layout(StEntry **ents, int n, const char *path, StEntry ***ord_out, Buf *h) {
    StEntry **ord = xmalloc(sizeof(StEntry *) * (size_t)(n ? n : 1));
    memcpy(ord, ents, sizeof(StEntry *) * (size_t)n);
    qsort(ord, (size_t)n, sizeof(StEntry *), order_cmp);
    {   // refuse duplicate names
        StEntry **byname = xmalloc(sizeof(StEntry *) * (size_t)(n ? n : 1));
        memcpy(byname, ents, sizeof(StEntry *) * (size_t)n);
        qsort(byname, (size_t)n, sizeof(StEntry *), entry_name_cmp);
        for (int i = 1; i < n; i++)
            if (!strcmp(byname[i]->name, byname[i - 1]->name)) {
                int r = fail("%s: tensor name \"%s\" added twice", path ? path : "safetensors", byname[i]->name);
                free(byname); free(ord);
                return r;
            }
        free(byname);
    }
    memset(h, 0, sizeof *h);
    buf_str(h, "{\"__metadata__\":{\"format\":\"pt\"}");
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const StEntry *e = ord[i];
        char tmp[64];
        buf_str(h, ",");
        buf_json_str(h, e->name);
        buf_str(h, ":{\"dtype\":\"");
        buf_str(h, dtype_names[e->dtype]);
        buf_str(h, "\",\"shape\":[");
        for (int d = 0; d < e->ndim; d++) {
            snprintf(tmp, sizeof tmp, "%s%lld", d ? "," : "", (long long)e->shape[d]);
            buf_str(h, tmp);
        }
        size_t nb = entry_bytes(e);
        snprintf(tmp, sizeof tmp, "],\"data_offsets\":[%zu,%zu]}", off, off + nb);
        buf_str(h, tmp);
        off += nb;
    }
    buf_str(h, "}");
    while ((8 + h->n) % 8) buf_str(h, " ");     // data section starts 8-byte aligned
    *ord_out = ord;
    return 0;
}

// Write the entries ents[0..n) as one file (path NULL: no file, only the fill calls). Entries
// without data come from fill in pieces of at most `window` bytes, in file order; after a write
// error the remaining pieces are still asked for (and dropped), so collective fills stay in step.
static int write_entries_fill(StEntry **ents, int n, const char *path, StFill fill, void *ctx, size_t window) {
    StEntry **ord = NULL;   // set by file_layout when it succeeds
    Buf h;
    int rc = file_layout(ents, n, path, &ord, &h);
    if (rc < 0) {   // nothing can be written; the fills still run (same entries, insertion order is not needed)
        for (int i = 0; i < n; i++)
            if (!ents[i]->data && fill)
                for (size_t off = 0, nb = entry_bytes(ents[i]); off < nb; off += window)
                    if (fill(ctx, (int)(ents[i] - ents[0]), off, NULL, nb - off < window ? nb - off : window) < 0) return -1;
        return rc;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
    AtomicFile a;
    int open = 0;
    if (path) { rc = io_atomic_open(&a, path); open = rc == 0; }
    if (open) rc = io_atomic_write(&a, len8, 8);
    if (open && rc == 0) rc = io_atomic_write(&a, h.s, h.n);
    unsigned char *buf = NULL;
    for (int i = 0; i < n; i++) {
        size_t nb = entry_bytes(ord[i]);
        if (ord[i]->data || !fill) { if (open && rc == 0) rc = io_atomic_write(&a, ord[i]->data, nb); continue; }
        if (path && !buf) buf = xmalloc(window);
        for (size_t off = 0; off < nb; off += window) {
            size_t k = nb - off < window ? nb - off : window;
            if (fill(ctx, (int)(ord[i] - ents[0]), off, buf, k) < 0) {
                if (open) io_atomic_abort(&a);
                free(buf); free(h.s); free(ord);
                return -1;
            }
            if (open && rc == 0) rc = io_atomic_write(&a, buf, k);
        }
    }
    free(buf);
    if (open) {
        if (rc == 0) rc = io_atomic_commit(&a);
        else io_atomic_abort(&a);
    }
    free(h.s);
    free(ord);
    return rc;
}

// Write the entries ents[0..n) as one file.
static int write_entries(StEntry **ents, int n, const char *path) {
    return write_entries_fill(ents, n, path, NULL, NULL, 1);
}

int st_writer_save_fill(StWriter *w, const char *path, StFill fill, void *ctx, size_t window) {
    ASSERT(window > 0 && fill);
    StEntry **ents = xmalloc(sizeof(StEntry *) * (size_t)(w->n ? w->n : 1));
    for (int i = 0; i < w->n; i++) ents[i] = &w->e[i];
    int rc = write_entries_fill(ents, w->n, path, fill, ctx, window);
    free(ents);
    return rc;
}

int st_writer_save(StWriter *w, const char *path) {
    StEntry **ents = xmalloc(sizeof(StEntry *) * (size_t)(w->n ? w->n : 1));
    for (int i = 0; i < w->n; i++) ents[i] = &w->e[i];
    int rc = write_entries(ents, w->n, path);
    free(ents);
    return rc;
}

// Is `name` a shard file name as we write them ("model-00001-of-00003.safetensors")?
static int is_shard_name(const char *name) {
    int a, b, len = 0;
    return sscanf(name, "model-%5d-of-%5d.safetensors%n", &a, &b, &len) == 2 && len == (int)strlen(name) && strlen(name) == 32;
}

// Remove shard files in dir that are not in keep[0..nkeep).
static int remove_stale_shards(const char *dir, char **keep, int nkeep) {
    DIR *d = opendir(dir);
    if (!d) return fail("cannot open folder %s: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) && rc == 0) {
        if (!is_shard_name(e->d_name)) continue;
        int kept = 0;
        for (int i = 0; i < nkeep && !kept; i++) kept = !strcmp(keep[i], e->d_name);
        if (kept) continue;
        char *p = path_join(dir, e->d_name);
        if (unlink(p) != 0) rc = fail("cannot remove stale shard %s: %s", p, strerror(errno));
        free(p);
    }
    closedir(d);
    return rc;
}

int st_writer_save_folder(StWriter *w, const char *dir, size_t max_shard_bytes) {
    TRY(io_mkdir_p(dir));
    size_t total = 0;
    for (int i = 0; i < w->n; i++) total += entry_bytes(&w->e[i]);
    char *idx = path_join(dir, INDEX_NAME), *single = path_join(dir, SINGLE_NAME);
    int rc = 0;
    if (max_shard_bytes == 0 || total <= max_shard_bytes) {
        rc = st_writer_save(w, single);
        if (rc == 0 && io_exists(idx) && unlink(idx) != 0) rc = fail("cannot remove old %s: %s", idx, strerror(errno));
        if (rc == 0) rc = remove_stale_shards(dir, NULL, 0);
        free(idx); free(single);
        return rc;
    }
    // Greedy packing in insertion order: a shard closes before the tensor that would overflow it.
    int *shard_of = xmalloc(sizeof(int) * (size_t)(w->n ? w->n : 1));
    int nshard = 0;
    size_t cur = 0;
    for (int i = 0; i < w->n; i++) {
        size_t b = entry_bytes(&w->e[i]);
        if (nshard == 0 || (cur > 0 && cur + b > max_shard_bytes)) { nshard++; cur = 0; }
        shard_of[i] = nshard - 1;
        cur += b;
    }
    if (nshard > 99999) { free(shard_of); free(idx); free(single); return fail("%s: %d shards is too many; raise the shard size", dir, nshard); }
    char **names = xmalloc(sizeof(char *) * (size_t)nshard);
    StEntry **ents = xmalloc(sizeof(StEntry *) * (size_t)w->n);
    for (int s = 0; s < nshard && rc == 0; s++) {
        names[s] = xmalloc(48);
        snprintf(names[s], 48, "model-%05d-of-%05d.safetensors", s + 1, nshard);
        int k = 0;
        for (int i = 0; i < w->n; i++) if (shard_of[i] == s) ents[k++] = &w->e[i];
        char *p = path_join(dir, names[s]);
        rc = write_entries(ents, k, p);
        free(p);
        if (rc < 0) { for (int t = 0; t <= s; t++) free(names[t]); nshard = 0; }
    }
    if (rc == 0) {
        cJSON *root = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(root, "metadata");
        cJSON_AddNumberToObject(meta, "total_size", (double)total);
        cJSON *wm = cJSON_AddObjectToObject(root, "weight_map");
        for (int i = 0; i < w->n; i++) cJSON_AddStringToObject(wm, w->e[i].name, names[shard_of[i]]);
        rc = json_save_file(idx, root);
        cJSON_Delete(root);
    }
    if (rc == 0 && io_exists(single) && unlink(single) != 0) rc = fail("cannot remove old %s: %s", single, strerror(errno));
    if (rc == 0) rc = remove_stale_shards(dir, names, nshard);
    for (int s = 0; s < nshard; s++) free(names[s]);
    free(names); free(ents); free(shard_of); free(idx); free(single);
    return rc;
}
