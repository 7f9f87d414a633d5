#!/usr/bin/env bash
# bench/infer.sh — issue 5's inference benchmark: deepc on the "bench-infer" model (random
# weights) at bf16 / int8 / int4, 1 and 2 threads, pp512 / tg128, decode bandwidth vs a triad;
# then the llama.cpp peer when llama-cpp-python and gguf are importable.
#   INSTALL_PEERS=1 bench/infer.sh    also pip-installs llama-cpp-python and gguf first
#   (llama-cpp-python compiles llama.cpp: many minutes on a small machine)
set -euo pipefail
cd "$(dirname "$0")/.."
make -j2 build/bench/infer >/dev/null
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}   # shared machines: do not spin on busy cores
build/bench/infer --formats "${FORMATS:-bf16,int8,int4}" --threads "${THREADS:-1,2}" --pp "${PP:-512}" --tg "${TG:-128}"
PY=${PYTHON:-python3}
if [ "${INSTALL_PEERS:-0}" = 1 ]; then
    $PY -m pip install --quiet llama-cpp-python gguf || echo "# pip install of the peers failed"
fi
if ! $PY -c "import llama_cpp, gguf" 2>/dev/null; then
    echo "# llama.cpp comparison skipped: the Python packages llama-cpp-python and gguf are not installed"
    echo "# (INSTALL_PEERS=1 bench/infer.sh installs them)"
    exit 0
fi
echo "# llama.cpp comparison skipped: exporting the bench model to GGUF (deepseek2 MLA tensors) is not implemented yet"
