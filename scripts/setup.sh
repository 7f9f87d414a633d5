#!/usr/bin/env bash
# Installs everything deepc needs on a fresh Debian machine:
#   Debian packages for building and running deepc, and the Python packages
#   used only by the reference tests (torch, transformers, safetensors,
#   tokenizers, numpy). Safe to run again; skips what is already there.
set -euo pipefail
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
PKGS="build-essential libopenblas-dev libopenblas0-openmp libcjson-dev libpcre2-dev libutf8proc-dev
      libzstd-dev zstd libxxhash-dev libmicrohttpd-dev gnuplot-nox libopenmpi-dev openmpi-bin python3-pip"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    echo "setup: installing Debian packages:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
# deepc calls BLAS from inside its own OpenMP regions: use the OpenMP build of
# OpenBLAS (the pthread build would oversubscribe the cores).
ARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
for alt in libopenblas.so.0 libblas.so.3; do
    target=/usr/lib/$ARCH/openblas-openmp/$alt
    if [ -e "$target" ]; then $SUDO update-alternatives --set "$alt-$ARCH" "$target" >/dev/null 2>&1 || true; fi
done
PY=${PYTHON:-python3}
# pinned: the reference tests were written against these versions
PYPKGS="torch==2.15.0 transformers==5.24.0 safetensors==0.8.0 tokenizers==0.23.3 numpy==2.4.6"
if ! $PY -c "import torch, transformers, safetensors, tokenizers, numpy
assert torch.__version__.split('+')[0] == '2.15.0' and transformers.__version__ == '5.24.0'" >/dev/null 2>&1; then
    echo "setup: installing Python packages for the reference tests: $PYPKGS"
    $PY -m pip install -q $PYPKGS
fi
echo "setup: done"
