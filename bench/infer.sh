#!/usr/bin/env bash
# bench/infer.sh — issue 5's inference benchmark: deepc on the "bench-infer" model (random
# weights) at bf16 / int8 / int4, 1 and 2 threads, pp512 / tg128, decode bandwidth vs a triad;
# then llama.cpp on the same model shape converted to GGUF (F16 / Q8_0 / Q4_0), same protocol,
# same threads, and a table of the ratios.
#   bench/infer.sh                    deepc, then llama.cpp when llama-cpp-python is importable
#   INSTALL_PEERS=1 bench/infer.sh    also pip-installs llama-cpp-python and gguf first
#                                     (llama-cpp-python compiles llama.cpp: ~15 min on 2 cores)
#   FORMATS, THREADS, PP, TG          override the defaults below; PEERS=build/peers the work folder
#   ROUNDS=R                          alternate the engines: R rounds, each running every format on deepc
#                                     and then on llama.cpp, and report per cell the median of the R
#                                     paired ratios (this VM's speed moves by 15-30 % between minutes, so
#                                     a single deepc run and a llama.cpp run 5 minutes later can land in
#                                     different phases); needs llama-cpp-python
#   KV=bf16 (or fp8, int8)            deepc's latent cache format (default f32; llama.cpp's is f16);
#                                     e.g. long-context decode: PP=4096 TG=32 KV=bf16 FORMATS=int4 bench/infer.sh
#
# The llama.cpp side: a bench-infer folder written by `deepc init --preset bench-infer --bf16`
# with a 32,000-token tokenizer trained by deepc on text under /usr (llama.cpp's converter needs
# one), converted by llama.cpp's own convert_hf_to_gguf.py (from the llama-cpp-python source
# package of the installed version; bench/gguf_convert.py names the pre-tokenizer for it) to F16,
# then quantized by llama.cpp to Q8_0 and Q4_0. Everything is cached under $PEERS (about 7 GB).
set -euo pipefail
cd "$(dirname "$0")/.."
make -j2 deepc build/bench/infer >/dev/null
# OpenMP wait policy of both engines: passive by default (shared machines: do not spin on busy cores);
# OMP_WAIT_POLICY=default leaves it unset (libgomp spins briefly, then sleeps: faster decode at 2 threads
# on a quiet machine, since ~60 fork/joins per token each pay a futex wake-up with passive).
if [ "${OMP_WAIT_POLICY:-}" = default ]; then unset OMP_WAIT_POLICY; else export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}; fi
PEERS=${PEERS:-build/peers}
PY=${PYTHON:-python3}
FORMATS=${FORMATS:-bf16,int8,int4}; THREADS=${THREADS:-1,2}; PP=${PP:-512}; TG=${TG:-128}; KV=${KV:-f32}
ROUNDS=${ROUNDS:-1}
mkdir -p "$PEERS"
if [ "$ROUNDS" = 1 ]; then
    build/bench/infer --formats "$FORMATS" --threads "$THREADS" --pp "$PP" --tg "$TG" --kv-cache "$KV" | tee "$PEERS/deepc.txt"
fi

if [ "${INSTALL_PEERS:-0}" = 1 ]; then
    $PY -m pip install --quiet llama-cpp-python gguf || echo "# pip install of the peers failed"
fi
if ! $PY -c "import llama_cpp" 2>/dev/null; then
    echo "# llama.cpp comparison skipped: the Python package llama-cpp-python is not installed"
    echo "# (INSTALL_PEERS=1 bench/infer.sh installs it)"
    exit 0
fi

# llama.cpp's converter, from the source package of the installed llama-cpp-python version.
VER=$($PY -c "import llama_cpp; print(llama_cpp.__version__)")
SRC="$PEERS/llama_cpp_python-$VER/vendor/llama.cpp"
if [ ! -f "$SRC/convert_hf_to_gguf.py" ]; then
    echo "# fetching the llama-cpp-python $VER source package for llama.cpp's convert_hf_to_gguf.py"
    $PY -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$VER" -d "$PEERS" \
        || { echo "# llama.cpp comparison skipped: could not download llama-cpp-python $VER's source"; exit 0; }
    tar -xzf "$PEERS/llama_cpp_python-$VER.tar.gz" -C "$PEERS"
fi

# The bench-infer model as a Hugging Face folder with a 32,000-token tokenizer.
if [ ! -f "$PEERS/model/model.safetensors" ]; then
    echo "# writing the bench-infer model folder (deepc init, BF16, 3.5 GB)"
    $PY bench/curate_corpus.py "$PEERS/corpus.jsonl" 20 >/dev/null
    ./deepc tokenizer train --input "$PEERS/corpus.jsonl" --vocab-size 32000 --out "$PEERS/tokenizer" --quiet
    rm -rf "$PEERS/model"
    ./deepc init --preset bench-infer --bf16 --tokenizer "$PEERS/tokenizer" --out "$PEERS/model"
fi
if [ ! -f "$PEERS/f16.gguf" ]; then
    echo "# converting to GGUF F16 with llama.cpp's convert_hf_to_gguf.py (minutes)"
    $PY bench/gguf_convert.py "$SRC" "$PEERS/model" "$PEERS/f16.gguf.tmp" f16 >"$PEERS/convert.log" 2>&1 \
        || { tail -5 "$PEERS/convert.log"; echo "# GGUF conversion failed"; exit 1; }
    mv "$PEERS/f16.gguf.tmp" "$PEERS/f16.gguf"
fi
for t in q8_0 q4_0; do
    if [ ! -f "$PEERS/$t.gguf" ]; then
        echo "# quantizing to ${t^^} with llama.cpp (llama_model_quantize, as llama-quantize does)"
        $PY bench/infer_llamacpp.py --quantize "$PEERS/f16.gguf" "$PEERS/$t.gguf" $t >"$PEERS/quantize_$t.log" 2>&1 \
            || { tail -5 "$PEERS/quantize_$t.log"; echo "# ${t^^} quantization failed"; exit 1; }
    fi
done
declare -A GG=([bf16]=f16 [int8]=q8_0 [int4]=q4_0)
LIST=""
for f in ${FORMATS//,/ }; do
    [ -n "${GG[$f]:-}" ] && LIST="$LIST${LIST:+,}$PEERS/${GG[$f]}.gguf"
done
if [ "$ROUNDS" = 1 ]; then
    $PY bench/infer_llamacpp.py --gguf "$LIST" --threads "$THREADS" --pp "$PP" --tg "$TG" --deepc "$PEERS/deepc.txt" \
        2>"$PEERS/llamacpp.log"
    exit 0
fi
# Alternated rounds: per round and format, deepc then llama.cpp; outputs in $PEERS/rounds/.
rm -rf "$PEERS/rounds"; mkdir -p "$PEERS/rounds"
echo "# $ROUNDS alternated rounds (OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset}), formats $FORMATS, threads $THREADS"
for r in $(seq 1 "$ROUNDS"); do
    for f in ${FORMATS//,/ }; do
        [ -n "${GG[$f]:-}" ] || continue
        echo "# round $r: $f (deepc), ${GG[$f]} (llama.cpp)"
        build/bench/infer --formats "$f" --threads "$THREADS" --pp "$PP" --tg "$TG" --kv-cache "$KV" \
            >"$PEERS/rounds/deepc_${r}_$f.txt"
        grep '^| '"$f"' ' "$PEERS/rounds/deepc_${r}_$f.txt" || true
        $PY bench/infer_llamacpp.py --gguf "$PEERS/${GG[$f]}.gguf" --threads "$THREADS" --pp "$PP" --tg "$TG" \
            >"$PEERS/rounds/llama_${r}_$f.txt" 2>>"$PEERS/llamacpp.log"
        grep '^| '"${GG[$f]}"' ' "$PEERS/rounds/llama_${r}_$f.txt" || true
    done
done
$PY bench/infer_llamacpp.py --pair-rounds "$PEERS/rounds" --pp "$PP" --tg "$TG"
