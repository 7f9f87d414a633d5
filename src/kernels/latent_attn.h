// latent_attn.h — decode attention in MLA's absorbed form (MQA over the latent cache) for one
// query token's heads, in one pass over the cache rows with an online softmax (flash-decoding):
// no GEMM packing, no score matrix over the whole context, each cache block read once (from L2
// after kv_block_f32 has turned a BF16/FP8 block into FP32).
//
//   query of head h:  [q_lat (r) | q_pe (W − r)] · scale
//   cache row j:      [c_kv (r) | k_pe (W − r)]
//   o [nh, r]:        Σ_j softmax_j(q_h · row_j) · c_kv_j
//
// Heads sit in vector lanes (groups of 8, or 16 when there are more than 8 heads), so the scores of a
// row need no horizontal sums and the softmax updates whole vectors. Use: lattn_init once per thread,
// then per query lattn_begin, lattn_rows for each block of rows in order, lattn_end.
#pragma once
#include <stddef.h>

typedef struct {
    int nh, r, W;     // heads, latent width (c_kv), row width (c_kv + k_pe)
    int lw, ng;       // lanes per group (8 or 16), groups: ceil(nh / lw)
    int max_rows;     // rows per lattn_rows call at most
    float *qT;        // [ng, W, lw] scaled queries, transposed; lanes past nh are 0
    float *oT;        // [ng, r, lw] running Σ_j p_j · c_kv_j
    float *m, *l;     // [ng * lw] running max of the scores, running Σ_j p_j
    float *s;         // [max_rows, lw] one group's scores, then p_j, of the current rows
    // lattn_rows_i8 only (made from qT at its first call after lattn_begin):
    int nkg;          // groups of 128 query values: ceil(r / 128) over c_kv, then ceil((W − r) / 128) over k_pe
    int q8_ok;        // the int8 queries below are those of the current qT
    signed char *q8;  // [ng, W / 4, lw, 4] queries as int8, 4 consecutive values of a lane together (VNNI order)
    float *q8s;       // [ng, nkg, lw] their scales: amax / 127 of the lane's group (1 when all zero)
    int *q8z;         // [ng, nkg, lw] 128 · Σ of the lane's int8 values over the group (the rows' code offset)
    float *cf;        // [max_rows, r] the current int8 rows' c_kv decoded to FP32 (values without VNNI; else NULL)
    signed char *cv;  // [ceil(max_rows / 4), r, 4] their c_kv codes, signed, 4 rows interleaved (values with VNNI)
    unsigned char *pq;// [16, lw, 4] p · row scale of 64 rows and one group of 128 columns as u8 (values with VNNI)
} LatAttn;

// Buffers for nh heads, rows of width W whose first r values are c_kv, up to max_rows rows per call.
void lattn_init(LatAttn *a, int nh, int r, int W, int max_rows);
void lattn_free(LatAttn *a);
// lattn_init unless a (zeroed, or from an earlier lattn_init) already has buffers for this shape: a state kept
// from one call of its user to the next (each lattn_begin starts afresh).
void lattn_reserve(LatAttn *a, int nh, int r, int W, int max_rows);
// A new query: head h's row is [qa + h·lda (r values) | qb + h·ldb (W − r values)] · scale.
void lattn_begin(LatAttn *a, const float *qa, int lda, const float *qb, int ldb, float scale);
// The next n (<= max_rows) cache rows rows [n, ldr] (row j at rows + j·ldr, W values used).
void lattn_rows(LatAttn *a, const float *rows, int n, int ldr);
// The same for n rows held as int8 (infer/kvcache.h's KV_I8 layout; needs r and W − r multiples of 4): row j
// at rows + j·rb is [nkg FP32 scales | W codes u8 = q + 128], values = (u8 − 128) · scale of their group of 128
// (over c_kv, then over k_pe). Scores are integer dot products: each head's query is quantized to int8 per
// group of 128 (amax / 127, round to nearest even) and score = Σ_groups scale_row · scale_query · Σ q_row ·
// q_query; with AVX-512 VNNI (lattn_i8_fast) that is vpdpbusd, 4 values per lane and instruction, otherwise
// plain loops. The values: with VNNI integer products too — per 64 rows, lane and group of 128 latent columns,
// p'_j = p_j · (row j's scale) quantized to u8 with scale max_j p'_j / 255 (round to nearest even), times the
// signed codes, summed over 4 rows per vpdpbusd; without VNNI, FP32 on the rows' c_kv decoded as kv_decode_row does.
void lattn_rows_i8(LatAttn *a, const unsigned char *rows, size_t rb, int n);
int lattn_i8_fast(void);
// o [nh, ldo]: head h's r outputs at o + h·ldo. At least one row must have been given.
void lattn_end(const LatAttn *a, float *o, int ldo);
// Split over the rows (several threads, one LatAttn each, same query, disjoint rows): the outputs of
// heads h0 <= h < h1 from the np partial states combined (o + h·ldo). Parts that saw no rows count
// for nothing; at least one must have.
void lattn_end_parts(const LatAttn *const *parts, int np, int h0, int h1, float *o, int ldo);

// Reference twin (plain loops, two-pass softmax in double): the same o from q rows given as above
// and all n rows at once.
void lattn_ref(const float *qa, int lda, const float *qb, int ldb, float scale, int nh, const float *rows, int n,
               int ldr, int r, int W, float *o, int ldo);
