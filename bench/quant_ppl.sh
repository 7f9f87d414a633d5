#!/usr/bin/env bash
# bench/quant_ppl.sh MODEL_DIR TEXT_OR_SHARD — perplexity per weight format and per KV-cache format
# (issue 5: "for each format report the perplexity change against FP32 on held-out text; goals: FP8
# and int8 <= 1% worse, int4 <= 5%").
#
# Every row scores the same tokens with the same inference engine (`deepc score --engine infer`):
# the first $TOKENS tokens of a token shard (documents back to back, as the trainer reads them) or
# of a text file (tokenized by the model's tokenizer), in independent windows of the model's
# training context (trainer_state.json "seq", else max_position_embeddings capped at 1024).
#   weights: fp32 (--dtype f32), then folders written by `deepc quantize --to bf16|fp8|int8|int4`
#            (lm_head and embedding stay FP32 there, as DeepSeek-V3 ships FP8), then the load-time
#            conversion `--dtype int8|int4` (which also makes lm_head int8)
#   KV cache: fp32 weights with --kv-cache bf16 | fp8 | fp8-rope | int8, and token by token (--chunk 1: the
#             decode path, where int8 rows are attended with integer products on VNNI CPUs) for f32 and int8
# Environment: TOKENS (default 16384), WINDOW (default: see above), THREADS (default 2), DEEPC (binary).
set -euo pipefail
if [ $# -ne 2 ]; then echo "usage: bench/quant_ppl.sh MODEL_DIR TEXT_OR_SHARD" >&2; exit 2; fi
root=$(cd "$(dirname "$0")/.." && pwd)
DEEPC=${DEEPC:-$root/deepc}
M=$1; IN=$2
[ -x "$DEEPC" ] || { echo "quant_ppl: $DEEPC is not built (run make)" >&2; exit 1; }
[ -f "$M/config.json" ] || { echo "quant_ppl: $M is not a model folder (no config.json)" >&2; exit 1; }
[ -f "$IN" ] || { echo "quant_ppl: $IN: no such file" >&2; exit 1; }
TOKENS=${TOKENS:-16384}
THREADS=${THREADS:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}   # shared machines: do not spin on busy cores
if [ -z "${WINDOW:-}" ]; then
    WINDOW=$(grep -o '"seq":[[:space:]]*[0-9]*' "$M/trainer_state.json" 2>/dev/null | grep -o '[0-9]*$' || true)
    if [ -z "$WINDOW" ]; then
        WINDOW=$(grep -o '"max_position_embeddings":[[:space:]]*[0-9]*' "$M/config.json" | grep -o '[0-9]*$')
        [ "$WINDOW" -gt 1024 ] && WINDOW=1024
    fi
fi
if [ "$(head -c 8 "$IN")" = DEEPCTOK ]; then input=(--shard "$IN"); else input=(--file "$IN"); fi
work=$(mktemp -d "${TMPDIR:-/tmp}/quant_ppl.XXXXXX")
trap 'rm -rf "$work"' EXIT

# score LABEL BITS MODEL [options] -> one table row (ppl of the first row is the reference)
ref=""
score() {
    local label=$1 bits=$2 goal=$3 model=$4; shift 4
    local out
    out=$("$DEEPC" score --model "$model" "${input[@]}" --max-tokens "$TOKENS" --window "$WINDOW" --engine infer \
          --summary --threads "$THREADS" "$@" 2>"$work/err") || { cat "$work/err" >&2; exit 1; }
    local ppl lp wb np kvb
    ppl=$(sed -n 's/.*"perplexity": \([0-9.eE+-]*\).*/\1/p' <<<"$out")
    lp=$(sed -n 's/.*"mean_logprob": \([0-9.eE+-]*\).*/\1/p' <<<"$out")
    wb=$(sed -n 's/.*"weight_bytes": \([0-9]*\).*/\1/p' <<<"$out")
    np=$(sed -n 's/.*"params": \([0-9]*\).*/\1/p' <<<"$out")
    kvb=$(sed -n 's/.*"kv_bytes_per_token": \([0-9]*\).*/\1/p' <<<"$out")
    ntok=$(sed -n 's/.*"tokens": \([0-9]*\).*/\1/p' <<<"$out")
    [ -z "$ref" ] && ref=$ppl
    awk -v l="$label" -v b="$bits" -v p="$ppl" -v lp="$lp" -v r="$ref" -v wb="$wb" -v np="$np" -v kvb="$kvb" -v g="$goal" 'BEGIN {
        ch = 100 * (p / r - 1); v = g == "" ? "" : (ch <= g ? "met (<= " g "%)" : "MISSED (> " g "%)")
        printf "| %-34s | %6s | %7.2f | %8d | %10.4f | %9.4f | %+7.2f%% | %-15s |\n", l, b, 8 * wb / np, kvb, p, -lp, ch, v }'
}

q() {   # quantized folder (written once)
    [ -d "$work/$1" ] || "$DEEPC" quantize --model "$M" --to "$1" --out "$work/$1" 2>"$work/qerr" >/dev/null ||
        { cat "$work/qerr" >&2; exit 1; }
    echo "$work/$1"
}

echo "# quant_ppl: $M on $IN: first $TOKENS tokens, windows of $WINDOW, $THREADS threads ($(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg))"
echo "| weights / KV cache                 | bits/w | b/param | KV B/tok | perplexity | nats/tok  | vs fp32  | goal            |"
echo "|------------------------------------|--------|---------|----------|------------|-----------|----------|-----------------|"
score "fp32" 32 "" "$M" --dtype f32
score "bf16 (deepc quantize)" 16 "" "$(q bf16)"
score "fp8 e4m3 128x128 (deepc quantize)" 8.002 1 "$(q fp8)"
score "int8 /32 (deepc quantize)" 8.5 1 "$(q int8)"
score "int4 /32 (deepc quantize)" 4.5 5 "$(q int4)"
score "int8 (--dtype, lm_head int8)" 8.5 1 "$M" --dtype int8
score "int4 (--dtype, lm_head int8)" 4.5 5 "$M" --dtype int4
score "fp32, KV cache bf16" 32 "" "$M" --dtype f32 --kv-cache bf16
score "fp32, KV cache fp8 (k_pe bf16)" 32 "" "$M" --dtype f32 --kv-cache fp8
score "fp32, KV cache fp8-rope (k_pe fp8)" 32 "" "$M" --dtype f32 --kv-cache fp8-rope
score "fp32, KV cache int8" 32 "" "$M" --dtype f32 --kv-cache int8
score "fp32, token by token (decode path)" 32 "" "$M" --dtype f32 --chunk 1
score "fp32, KV int8, token by token" 32 1 "$M" --dtype f32 --kv-cache int8 --chunk 1
score "int4 (deepc quantize), KV fp8" 4.5 5 "$(q int4)" --kv-cache fp8
echo "# bits/w: storage bits per weight of the quantized projections (scales included: fp8 one FP32 per 128x128,"
echo "# int8/int4 one F16 per 32); b/param: the loaded model's bytes x 8 / parameters (embedding, lm_head, norms,"
echo "# router in their formats too); KV B/tok: latent cache bytes per token over the main layers; vs fp32: perplexity change."
echo "# goals (issue 5): fp8 and int8 <= +1%, int4 <= +5%"
