// test_safetensors.c — model/safetensors: round trips for every dtype, sharded folders,
// conversions against independent reference formulas, a test per kind of corrupt input
// (message must name the file and the tensor/byte), and a fuzz test.
// (tests/ref/test_formats.py checks the same files against the Python `safetensors` package.)
#include "test.h"
#include "base/check.h"
#include "base/io.h"
#include "base/json.h"
#include "base/rng.h"
#include "model/safetensors.h"
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];
static uint64_t seed;

static char *tmp(const char *name) { return path_join(tmpdir, name); }

// Write a raw file (not atomic, no fsync: the fuzz test writes thousands).
static void put_file(const char *path, const void *a, size_t na, const void *b, size_t nb) {
    unlink(path);   // a fresh file: truncating one in place makes ext4 flush it on close (slow)
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    if (na) fwrite(a, 1, na, f);
    if (nb) fwrite(b, 1, nb, f);
    fclose(f);
}

// A safetensors file from a header text and a data section.
static void make_st(const char *path, const char *header, const void *data, size_t nd) {
    size_t nh = strlen(header);
    unsigned char *buf = xmalloc(8 + nh);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)nh >> (8 * i));
    memcpy(buf + 8, header, nh);
    put_file(path, buf, 8 + nh, data, nd);
    free(buf);
}

// Independent reference decoders, written from the format definitions.
static double ref_f16(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 31) v = m ? NAN : INFINITY;
    else if (e == 0) v = ldexp(m, -24);
    else v = ldexp(1024 + m, e - 25);
    return s ? -v : v;
}
static double ref_e4m3(uint8_t b) {
    int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
    double v;
    if (e == 15 && m == 7) v = NAN;
    else if (e == 0) v = ldexp(m / 8.0, -6);
    else v = ldexp(1 + m / 8.0, e - 7);
    return s ? -v : v;
}
// Round-to-nearest-even reference: pick among the two neighbours by exact double distance.
static int ref_round_pick(double x, double lo, double hi, int lo_even) {
    double dl = x - lo, dh = hi - x;
    if (dl < dh) return 0;
    if (dh < dl) return 1;
    return lo_even ? 0 : 1;
}

// ------------------------------------------------------------------ round trips

typedef struct { const char *name; StDtype dt; int ndim; int64_t shape[8]; } Spec;
static const Spec specs[] = {
    { "f32.matrix", ST_F32, 2, { 7, 5 } },
    { "bf16.vec", ST_BF16, 1, { 33 } },
    { "f16.cube", ST_F16, 3, { 2, 3, 4 } },
    { "fp8.w", ST_F8_E4M3, 2, { 9, 16 } },
    { "i32.ids", ST_I32, 1, { 11 } },
    { "i64.ids", ST_I64, 2, { 3, 2 } },
    { "u8.bytes", ST_U8, 1, { 5 } },
    { "i8.bytes", ST_I8, 1, { 6 } },
    { "scalar", ST_F32, 0, { 0 } },
    { "empty", ST_BF16, 2, { 0, 4 } },
    { "rank8", ST_F16, 8, { 1, 2, 1, 2, 1, 2, 1, 2 } },
    { "name with \"quotes\" and \\ slash", ST_F32, 1, { 2 } },
};
#define NSPEC ((int)(sizeof specs / sizeof specs[0]))

static size_t spec_bytes(const Spec *s) {
    size_t n = st_dtype_size(s->dt);
    for (int i = 0; i < s->ndim; i++) n *= (size_t)s->shape[i];
    return n;
}

// Random but valid contents (no NaN codes, so values compare with ==).
static void *spec_data(const Spec *s, Rng *r) {
    size_t nb = spec_bytes(s);
    unsigned char *p = xmalloc(nb + 1);
    size_t n = nb / st_dtype_size(s->dt);
    for (size_t i = 0; i < n; i++) {
        switch (s->dt) {
        case ST_F32: { float v = rng_normal(r) * 3; memcpy(p + 4 * i, &v, 4); break; }
        case ST_BF16: { uint16_t h = f32_to_bf16(rng_normal(r)); memcpy(p + 2 * i, &h, 2); break; }
        case ST_F16: { uint16_t h; do h = (uint16_t)rng_u32(r); while (((h >> 10) & 31) == 31); memcpy(p + 2 * i, &h, 2); break; }
        case ST_F8_E4M3: { uint8_t b; do b = (uint8_t)rng_u32(r); while ((b & 0x7f) == 0x7f); p[i] = b; break; }
        default: {
            size_t es = st_dtype_size(s->dt);
            for (size_t k = 0; k < es; k++) p[es * i + k] = (unsigned char)rng_u32(r);
        }
        }
    }
    return p;
}

static void check_same(const StFile *f, void **datas) {
    CHECK(f->n == NSPEC, "got %d tensors, expected %d", f->n, NSPEC);
    for (int i = 0; i < NSPEC; i++) {
        const Spec *s = &specs[i];
        const StTensor *t = st_find(f, s->name);
        CHECK(t != NULL, "tensor %s missing", s->name);
        if (!t) continue;
        CHECK(t->dtype == s->dt && t->ndim == s->ndim, "%s: dtype %s ndim %d", s->name, st_dtype_name(t->dtype), t->ndim);
        for (int d = 0; d < s->ndim; d++) CHECK(t->shape[d] == s->shape[d], "%s: shape[%d]", s->name, d);
        CHECK(t->nbytes == spec_bytes(s), "%s: nbytes %zu", s->name, t->nbytes);
        CHECK(t->nbytes == 0 || !memcmp(t->data, datas[i], t->nbytes), "%s: bytes differ", s->name);
        CHECK(((uintptr_t)t->data % st_dtype_size(t->dtype)) == 0, "%s: data not aligned to its element size", s->name);
        if (s->dt <= ST_F8_E4M3) {
            int64_t n = st_numel(t);
            float *out = xmalloc(sizeof(float) * (size_t)(n + 1));
            CHECK(st_read_f32(t, out, n) == 0, "%s", last_error());
            const unsigned char *p = datas[i];
            for (int64_t k = 0; k < n; k++) {
                double ref;
                if (s->dt == ST_F32) { float v; memcpy(&v, p + 4 * k, 4); ref = v; }
                else if (s->dt == ST_BF16) { uint16_t h; memcpy(&h, p + 2 * k, 2); uint32_t u = (uint32_t)h << 16; float v; memcpy(&v, &u, 4); ref = v; }
                else if (s->dt == ST_F16) { uint16_t h; memcpy(&h, p + 2 * k, 2); ref = ref_f16(h); }
                else ref = ref_e4m3(p[k]);
                if ((double)out[k] != ref) { CHECK(0, "%s[%lld] = %g, expected %g", s->name, (long long)k, out[k], ref); break; }
            }
            CHECK(st_read_f32(t, out, n + 1) < 0 && strstr(last_error(), s->name) && strstr(last_error(), f->paths[t->file]),
                  "numel mismatch must fail naming the file and tensor: %s", last_error());
            free(out);
        } else {
            float x;
            CHECK(st_read_f32(t, &x, st_numel(t)) < 0, "integer dtype must not read as f32");
        }
    }
}

static StWriter make_writer(void ***datas, Rng *r) {
    StWriter w;
    st_writer_init(&w);
    *datas = xmalloc(sizeof(void *) * NSPEC);
    for (int i = 0; i < NSPEC; i++) {
        (*datas)[i] = spec_data(&specs[i], r);
        st_writer_add(&w, specs[i].name, specs[i].dt, specs[i].ndim, specs[i].shape, (*datas)[i]);
    }
    return w;
}
static void free_datas(void **d) { for (int i = 0; i < NSPEC; i++) free(d[i]); free(d); }

TEST(round_trip_every_dtype) {
    Rng r; rng_seed(&r, seed);
    void **datas;
    StWriter w = make_writer(&datas, &r);
    char *p = tmp("rt.safetensors");
    CHECK(st_writer_save(&w, p) == 0, "%s", last_error());
    // header: 8-byte aligned data section, metadata {"format":"pt"}
    MappedFile m;
    CHECK(io_map(p, &m) == 0, "%s", last_error());
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | ((unsigned char *)m.data)[i];
    CHECK((8 + hl) % 8 == 0, "header length %llu: data section not 8-byte aligned", (unsigned long long)hl);
    io_unmap(&m);
    StFile f;
    CHECK(st_open(p, &f) == 0, "%s", last_error());
    check_same(&f, datas);
    CHECK(f.metadata_json && strstr(f.metadata_json, "\"format\"") && strstr(f.metadata_json, "\"pt\""), "metadata %s", f.metadata_json ? f.metadata_json : "(null)");
    CHECK(st_find(&f, "nope") == NULL, "absent tensor found");
    st_close(&f);
    st_writer_free(&w);
    free_datas(datas);
    free(p);
}

TEST(folder_single_and_sharded) {
    Rng r; rng_seed(&r, seed + 1);
    void **datas;
    StWriter w = make_writer(&datas, &r);
    char *dir = tmp("folder");
    char *idx = path_join(dir, "model.safetensors.index.json"), *single = path_join(dir, "model.safetensors");
    // sharded: 100-byte shards
    CHECK(st_writer_save_folder(&w, dir, 100) == 0, "%s", last_error());
    CHECK(io_exists(idx) && !io_exists(single), "sharded folder must have an index and no model.safetensors");
    StFile f;
    CHECK(st_open(dir, &f) == 0, "%s", last_error());
    CHECK(f.nmaps > 2, "expected several shards, got %d", f.nmaps);
    check_same(&f, datas);
    st_close(&f);
    // smaller shards, then a single file: stale shards and index disappear
    CHECK(st_writer_save_folder(&w, dir, 40) == 0, "%s", last_error());
    CHECK(st_open(dir, &f) == 0, "%s", last_error());
    int many = f.nmaps;
    check_same(&f, datas);
    st_close(&f);
    CHECK(st_writer_save_folder(&w, dir, 1 << 30) == 0, "%s", last_error());
    CHECK(!io_exists(idx) && io_exists(single), "single-file folder must not keep the index");
    char *s1 = path_join(dir, "model-00001-of-00002.safetensors");
    char name[64];
    snprintf(name, sizeof name, "model-00001-of-%05d.safetensors", many);
    char *s2 = path_join(dir, name);
    CHECK(!io_exists(s1) && !io_exists(s2), "stale shards must be removed");
    CHECK(st_open(dir, &f) == 0, "%s", last_error());
    CHECK(f.nmaps == 1, "one file");
    check_same(&f, datas);
    st_close(&f);
    free(s1); free(s2); free(idx); free(single); free(dir);
    st_writer_free(&w);
    free_datas(datas);
}

TEST(writer_refuses_duplicate_names) {
    StWriter w; st_writer_init(&w);
    float x[2] = { 1, 2 };
    int64_t sh[1] = { 2 };
    st_writer_add(&w, "a", ST_F32, 1, sh, x);
    st_writer_add(&w, "a", ST_F32, 1, sh, x);
    char *p = tmp("dup.safetensors");
    CHECK(st_writer_save(&w, p) < 0 && strstr(last_error(), "\"a\""), "message: %s", last_error());
    CHECK(!io_exists(p), "no half-written output");
    st_writer_free(&w);
    free(p);
}

// ------------------------------------------------------------------ conversions

TEST(bf16_rounding_matches_reference) {
    Rng r; rng_seed(&r, seed + 2);
    for (int i = 0; i < 200000; i++) {
        uint32_t u = rng_u32(&r);
        if (i < 1000) u = (u & 0xffff0000u) | 0x8000u;        // exact ties
        float x; memcpy(&x, &u, 4);
        if (isnan(x)) { CHECK(isnan(bf16_to_f32(f32_to_bf16(x))), "NaN must stay NaN"); continue; }
        uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);   // truncation and next code (same sign)
        double flo = bf16_to_f32(lo), fhi = (hi & 0x7fff) == 0x7f80 ? ldexp(1.0, 128) : bf16_to_f32(hi);
        uint16_t want;
        if (((hi >> 7) & 0xff) == 0xff && (hi & 0x7f)) want = lo;    // next code is NaN: cannot happen for finite x below max
        else want = ref_round_pick(fabs((double)x), fabs(flo), fabs(fhi), !(lo & 1)) ? hi : lo;
        uint16_t got = f32_to_bf16(x);
        if (got != want) { CHECK(0, "bf16(%a) = %04x, expected %04x", x, got, want); break; }
    }
}

TEST(f16_exhaustive_and_rounding) {
    // every half decodes to the reference value and re-encodes to itself
    for (int h = 0; h < 65536; h++) {
        double ref = ref_f16((uint16_t)h);
        float v = f16_to_f32((uint16_t)h);
        if (isnan(ref)) { CHECK(isnan(v), "%04x must be NaN", h); CHECK(isnan(f16_to_f32(f32_to_f16(v))), "NaN"); continue; }
        if ((double)v != ref) { CHECK(0, "f16 %04x -> %g, expected %g", h, v, ref); break; }
        if (f32_to_f16(v) != h) { CHECK(0, "f16 %04x does not round-trip (got %04x)", h, f32_to_f16(v)); break; }
    }
    // random floats in the half range round to the nearest half, ties to even
    Rng r; rng_seed(&r, seed + 3);
    for (int i = 0; i < 200000; i++) {
        float x = (float)ldexp(rng_uniform(&r) * 2 - 1, (int)rng_below(&r, 44) - 27);
        if (i < 2000) {   // exact midpoints between consecutive halves
            uint16_t h = (uint16_t)rng_below(&r, 0x7bff);
            x = (float)((ref_f16(h) + ref_f16((uint16_t)(h + 1))) / 2);
        }
        double ax = fabs((double)x);
        if (ax > 65504) continue;
        // find neighbours by bisection over positive half codes
        int lo = 0, hi = 0x7c00;
        while (hi - lo > 1) { int mid = (lo + hi) / 2; if (ref_f16((uint16_t)mid) <= ax) lo = mid; else hi = mid; }
        int pick = ref_round_pick(ax, ref_f16((uint16_t)lo), ref_f16((uint16_t)hi), !(lo & 1));
        uint16_t want = (uint16_t)((pick ? hi : lo) | (x < 0 ? 0x8000 : 0));
        uint16_t got = f32_to_f16(x);
        if (x == 0) continue;   // sign of zero aside
        if (got != want) { CHECK(0, "f16(%a) = %04x, expected %04x", x, got, want); break; }
    }
    CHECK(f32_to_f16(65520.0f) == 0x7c00 && f32_to_f16(-1e9f) == 0xfc00, "overflow must give inf");
    CHECK(f32_to_f16(65519.0f) == 0x7bff, "65519 rounds to 65504");
}

TEST(read_f32_large_and_misaligned) {
    // 16-bit tensors at an odd data offset (legal in the format) and tensors big enough
    // for the parallel path; values checked against the reference decoders above.
    Rng r; rng_seed(&r, seed + 6);
    enum { N = 300001 };
    unsigned char *data = xmalloc(1 + 2 * N + 2 * N + N);
    data[0] = 7;
    for (size_t i = 1; i < 1 + 4 * (size_t)N + N; i++) data[i] = (unsigned char)rng_u32(&r);
    char hdr[512];
    snprintf(hdr, sizeof hdr, "{\"pad\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
             "\"b\":{\"dtype\":\"BF16\",\"shape\":[%d],\"data_offsets\":[1,%d]},"
             "\"h\":{\"dtype\":\"F16\",\"shape\":[%d],\"data_offsets\":[%d,%d]},"
             "\"q\":{\"dtype\":\"F8_E4M3\",\"shape\":[%d],\"data_offsets\":[%d,%d]}}",
             N, 1 + 2 * N, N, 1 + 2 * N, 1 + 4 * N, N, 1 + 4 * N, 1 + 5 * N);
    size_t nh = strlen(hdr);
    while ((8 + nh) % 8) hdr[nh++] = ' ';
    hdr[nh] = 0;
    char *p = tmp("odd.safetensors");
    make_st(p, hdr, data, 1 + 5 * (size_t)N);
    StFile f;
    CHECK(st_open(p, &f) == 0, "%s", last_error());
    float *out = xmalloc(sizeof(float) * N);
    const char *names[3] = { "b", "h", "q" };
    for (int k = 0; k < 3 && f.n == 4; k++) {
        const StTensor *t = st_find(&f, names[k]);
        CHECK(k == 2 || ((uintptr_t)t->data % 2) == 1, "tensor %s should be misaligned for this test", names[k]);
        CHECK(st_read_f32(t, out, N) == 0, "%s", last_error());
        const unsigned char *q = t->data;
        for (int i = 0; i < N; i++) {
            double ref;
            if (k == 0) { uint32_t u = (uint32_t)(q[2 * i] | q[2 * i + 1] << 8) << 16; float v; memcpy(&v, &u, 4); ref = v; }
            else if (k == 1) ref = ref_f16((uint16_t)(q[2 * i] | q[2 * i + 1] << 8));
            else ref = ref_e4m3(q[i]);
            if (!((double)out[i] == ref || (isnan(ref) && isnan(out[i])))) {
                CHECK(0, "%s[%d] = %g, expected %g", names[k], i, out[i], ref);
                break;
            }
        }
    }
    // the same tensors, aligned (parallel row converters)
    StWriter w; st_writer_init(&w);
    int64_t sh[1] = { N };
    unsigned char *b2 = xmalloc(2 * (size_t)N), *h2 = xmalloc(2 * (size_t)N);
    memcpy(b2, st_find(&f, "b")->data, 2 * (size_t)N);
    memcpy(h2, st_find(&f, "h")->data, 2 * (size_t)N);
    st_writer_add(&w, "b", ST_BF16, 1, sh, b2);
    st_writer_add(&w, "h", ST_F16, 1, sh, h2);
    char *p2 = tmp("aligned.safetensors");
    CHECK(st_writer_save(&w, p2) == 0, "%s", last_error());
    StFile g;
    CHECK(st_open(p2, &g) == 0, "%s", last_error());
    float *out2 = xmalloc(sizeof(float) * N);
    for (int k = 0; k < 2; k++) {
        st_read_f32(st_find(&f, names[k]), out, N);
        st_read_f32(st_find(&g, names[k]), out2, N);
        int same = 1;
        for (int i = 0; i < N && same; i++) same = (out[i] == out2[i]) || (isnan(out[i]) && isnan(out2[i]));
        CHECK(same, "%s: aligned and misaligned reads differ", names[k]);
    }
    st_close(&g); st_close(&f);
    st_writer_free(&w);
    free(out); free(out2); free(b2); free(h2); free(data); free(p); free(p2);
}

// ------------------------------------------------------------------ corrupt inputs

static int expect_fail(const char *label, const char *path, const char *must1, const char *must2) {
    StFile f;
    int rc = st_open(path, &f);
    if (rc == 0) { st_close(&f); CHECK(0, "%s: opened a corrupt file", label); return 0; }
    const char *e = last_error();
    CHECK(strstr(e, path) != NULL, "%s: message must name the file: %s", label, e);
    if (must1) CHECK(strstr(e, must1) != NULL, "%s: message must mention '%s': %s", label, must1, e);
    if (must2) CHECK(strstr(e, must2) != NULL, "%s: message must mention '%s': %s", label, must2, e);
    return 1;
}

TEST(corrupt_inputs_have_clear_messages) {
    unsigned char data[64] = {0};
    char *p = tmp("bad.safetensors");
    // too short for the length prefix
    put_file(p, "abc", 3, NULL, 0);
    expect_fail("short", p, "3 bytes", NULL);
    // header length beyond the file
    unsigned char hdr[16] = { 0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}' };
    put_file(p, hdr, 10, NULL, 0);
    expect_fail("hlen", p, "header length 65535", "bytes 0..7");
    // truncated: a valid header whose tensor needs more data than there is
    make_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", data, 10);
    expect_fail("truncated", p, "\"w\"", "[0, 16]");
    // offsets out of range
    make_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[60,64]}}", data, 16);
    expect_fail("range", p, "\"w\"", "data section");
    // offsets reversed
    make_st(p, "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,4]}}", data, 16);
    expect_fail("reversed", p, "\"w\"", "[8, 4]");
    // overlapping tensors
    make_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", data, 16);
    expect_fail("overlap", p, "overlaps", "\"a\"");
    // wrong byte count for the shape
    make_st(p, "{\"w\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,8]}}", data, 16);
    expect_fail("nbytes", p, "\"w\"", "needs 6");
    // bad JSON (byte position named)
    make_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},,}", data, 16);
    expect_fail("json", p, "malformed JSON", "byte");
    // not even an object
    make_st(p, "[1,2,3]", data, 16);
    expect_fail("array", p, "'{'", NULL);
    // unknown dtype
    make_st(p, "{\"w\":{\"dtype\":\"F8_E5M2\",\"shape\":[1],\"data_offsets\":[0,1]}}", data, 16);
    expect_fail("dtype", p, "\"w\"", "F8_E5M2");
    // duplicate name
    make_st(p, "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
               "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", data, 16);
    expect_fail("dup", p, "\"w\"", "twice");
    // rank above 8
    make_st(p, "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", data, 16);
    expect_fail("rank", p, "\"w\"", "rank 9");
    // negative / fractional shape, missing fields
    make_st(p, "{\"w\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", data, 16);
    expect_fail("negshape", p, "\"w\"", "shape[0]");
    make_st(p, "{\"w\":{\"dtype\":\"U8\",\"shape\":[1]}}", data, 16);
    expect_fail("nooffsets", p, "\"w\"", "data_offsets");
    // shape overflow
    make_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", data, 16);
    expect_fail("overflow", p, "\"w\"", NULL);
    // trailing garbage after the JSON inside the header
    make_st(p, "{}xyz", data, 0);
    expect_fail("trailing", p, "after the JSON", NULL);
    // a folder with neither file
    char *d = tmp("emptydir");
    io_mkdir_p(d);
    expect_fail("emptydir", d, "model.safetensors", NULL);
    free(d);
    free(p);
}

TEST(sharded_folder_problems) {
    Rng r; rng_seed(&r, seed + 4);
    void **datas;
    StWriter w = make_writer(&datas, &r);
    char *dir = tmp("shardbad");
    CHECK(st_writer_save_folder(&w, dir, 100) == 0, "%s", last_error());
    char *idx = path_join(dir, "model.safetensors.index.json");
    char *buf; size_t n;
    CHECK(io_read_all(idx, &buf, &n) == 0, "%s", last_error());
    // a missing shard
    char *s2 = path_join(dir, "model-00002-of-");
    StFile f;
    CHECK(st_open(dir, &f) == 0, "%s", last_error());
    int nsh = f.nmaps;
    st_close(&f);
    char name[64];
    snprintf(name, sizeof name, "model-00002-of-%05d.safetensors", nsh);
    char *shard2 = path_join(dir, name);
    char *moved = path_join(dir, "moved");
    CHECK(rename(shard2, moved) == 0, "rename");
    expect_fail("missing shard", idx, name, "does not exist");
    CHECK(rename(moved, shard2) == 0, "rename back");
    // index says a tensor lives in another shard
    char *bad = xstrdup(buf);
    char *at = strstr(bad, "\"f32.matrix\"");
    CHECK(at != NULL, "index has f32.matrix");
    if (at) {
        char *q = strstr(at, "model-0000");
        if (q) q[10] = q[10] == '1' ? '2' : '1';
        io_write_file(idx, bad, strlen(bad));
        expect_fail("wrong shard", idx, "f32.matrix", "should be in");
    }
    free(bad);
    // index omits a tensor
    cJSON *j = cJSON_Parse(buf);
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItem(j, "weight_map"), "i32.ids");
    char *txt = cJSON_Print(j);
    io_write_file(idx, txt, strlen(txt));
    expect_fail("unlisted", idx, "i32.ids", "not listed");
    free(txt); cJSON_Delete(j);
    // index names a tensor no shard has
    j = cJSON_Parse(buf);
    snprintf(name, sizeof name, "model-00001-of-%05d.safetensors", nsh);
    cJSON_AddStringToObject(cJSON_GetObjectItem(j, "weight_map"), "ghost", name);
    txt = cJSON_Print(j);
    io_write_file(idx, txt, strlen(txt));
    expect_fail("ghost", idx, "ghost", NULL);
    free(txt); cJSON_Delete(j);
    // path escape attempt
    j = cJSON_Parse(buf);
    cJSON *wm = cJSON_GetObjectItem(j, "weight_map");
    cJSON_ReplaceItemInObjectCaseSensitive(wm, "i32.ids", cJSON_CreateString("../x.safetensors"));
    txt = cJSON_Print(j);
    io_write_file(idx, txt, strlen(txt));
    expect_fail("escape", idx, "plain file name", NULL);
    free(txt); cJSON_Delete(j);
    // malformed index JSON
    io_write_file(idx, "{\"weight_map\": {", 16);
    expect_fail("index json", idx, "malformed JSON", NULL);
    io_write_file(idx, buf, n);
    CHECK(st_open(dir, &f) == 0, "restored folder opens: %s", last_error());
    st_close(&f);
    free(buf); free(idx); free(s2); free(shard2); free(moved); free(dir);
    st_writer_free(&w);
    free_datas(datas);
}

// ------------------------------------------------------------------ fuzz

TEST(fuzz_mutations_never_crash) {
    Rng r; rng_seed(&r, seed + 5);
    void **datas;
    StWriter w = make_writer(&datas, &r);
    char *good = tmp("fuzz_src.safetensors"), *p = tmp("fuzz.safetensors");
    CHECK(st_writer_save(&w, good) == 0, "%s", last_error());
    char *orig; size_t n;
    CHECK(io_read_all(good, &orig, &n) == 0, "%s", last_error());
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | (unsigned char)orig[i];
    unsigned char *buf = xmalloc(n + 64);
    int opened = 0, iters = 4000;
    static const char junk[] = "{}[],:\"0123456789-.eE \\ntruefalsenull";
    for (int it = 0; it < iters; it++) {
        memcpy(buf, orig, n);
        size_t len = n;
        int kind = (int)rng_below(&r, 5), muts = 1 + (int)rng_below(&r, 4);
        for (int k = 0; k < muts; k++) {
            if (kind == 0) len = rng_below(&r, n + 1);                                   // truncate
            else if (kind == 1) buf[rng_below(&r, len)] ^= (unsigned char)(1u << rng_below(&r, 8));  // bit flip
            else if (kind == 2 && hl) buf[8 + rng_below(&r, hl)] = (unsigned char)junk[rng_below(&r, sizeof junk - 1)];
            else if (kind == 3 && hl) {                                                  // digit change in the header
                size_t at = 8 + rng_below(&r, hl);
                if (buf[at] >= '0' && buf[at] <= '9') buf[at] = (unsigned char)('0' + rng_below(&r, 10));
                else buf[at] = (unsigned char)junk[rng_below(&r, sizeof junk - 1)];
            } else if (kind == 4) buf[rng_below(&r, 8)] = (unsigned char)rng_u32(&r);   // length prefix
        }
        put_file(p, buf, len, NULL, 0);
        StFile f;
        if (st_open(p, &f) == 0) {
            opened++;
            for (int t = 0; t < f.n; t++) {        // touch every byte the header claims
                const StTensor *T = &f.tensors[t];
                volatile unsigned char acc = 0;
                for (size_t b = 0; b < T->nbytes; b++) acc ^= ((const unsigned char *)T->data)[b];
                if (T->dtype <= ST_F8_E4M3) {
                    int64_t ne = st_numel(T);
                    float *o = xmalloc(sizeof(float) * (size_t)(ne + 1));
                    st_read_f32(T, o, ne);
                    free(o);
                }
            }
            st_close(&f);
        } else {
            CHECK(strstr(last_error(), p) != NULL, "fuzz message must name the file: %s", last_error());
        }
    }
    printf("  fuzz: %d mutated files, %d still valid, %d refused\n", iters, opened, iters - opened);
    CHECK(opened > 0 && opened < iters, "fuzz should produce both outcomes (%d opened)", opened);
    free(buf); free(orig); free(good); free(p);
    st_writer_free(&w);
    free_datas(datas);
}

int main(void) {
    seed = test_seed();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/deepc_test_st_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 2; }
    RUN(round_trip_every_dtype);
    RUN(folder_single_and_sharded);
    RUN(writer_refuses_duplicate_names);
    RUN(bf16_rounding_matches_reference);
    RUN(f16_exhaustive_and_rounding);
    RUN(read_f32_large_and_misaligned);
    RUN(corrupt_inputs_have_clear_messages);
    RUN(sharded_folder_problems);
    RUN(fuzz_mutations_never_crash);
    io_rm_rf(tmpdir);
    return test_summary();
}
