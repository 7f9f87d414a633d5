// quantize.h — rewrite a model folder's weights in bf16, fp8, int8 or int4.
//   bf16: every floating tensor as BF16 (e_score_correction_bias stays F32).
//   fp8:  DeepSeek-V3's format: each projection "X.weight" as F8_E4M3 [R, C] plus
//         "X.weight_scale_inv" F32 [ceil(R/128), ceil(C/128)] (= amax/448 per block, the
//         dequantization multiplier), quantization_config {"quant_method": "fp8", "fmt": "e4m3",
//         "activation_scheme": "dynamic", "weight_block_size": [128, 128]}.
//   int8: "X.weight" I8 [R, C] + "X.weight_scale" F16 [R, C/32] (kernels/quant.h Q8 blocks);
//   int4: "X.weight" U8 [R, C/2] (Q4 nibbles) + "X.weight_scale" F16 [R, C/32];
//         quantization_config {"quant_method": "deepc", "fmt": "int8"|"int4", "group_size": 32}; int4 adds
//         "layout": "rows8": the tensors quant_i4_rows8 names are stored in qmat_interleave's decode layout
//         (same shapes; rows interleaved by 8), so the engine maps them as they are. Folders without the
//         key are plain (interleaved in memory at load). DEEPC_I4_INTERLEAVE=0 writes plain folders.
// Projections = every 2-D "*.weight" except embed_tokens, lm_head, shared_head.head and the
// router (mlp.gate.weight), which keep their dtype (fp8/int8/int4) as DeepSeek-V3 does.
// int8/int4 need C % 32 == 0; a projection without it stays floating point (noted on stderr).
// The source may be F32/BF16/F16, FP8 or deepc int8/int4 (dequantized first). Other files of
// the folder (tokenizer, generation config) are copied. The output appears atomically.
#pragma once
#include "kernels/qmatmul.h"

int quantize_folder(const char *src, const char *dst, QType to);
// 1 if an int4 tensor of a "rows8" folder is stored in the decode layout: rows % 8 == 0 and not kv_b (absorbed
// attention reads kv_b by head through kernels that take the plain layout).
int quant_i4_rows8(const char *name, int rows);
// quantization_config.layout of a deepc int4 folder's config.json object: 1 "rows8", 0 absent; -1 + message if unknown.
int quant_i4_layout(const void *quantization_config, const char *where);
