#!/usr/bin/env bash
# Prints the path of llama.cpp's `llama-quantize`, building it first if needed from the
# pinned source (llama-cpp-source.sh) with cmake and ninja from PyPI, for the baseline
# x86-64 (GGML_NATIVE=OFF: no fused multiply-adds in the reference quantizers, as in
# Rust). Takes about 10 minutes on 2 cores, once. Used by check-quantize.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/env.sh"
LCPP="$("$(dirname "${BASH_SOURCE[0]}")/llama-cpp-source.sh")"
BUILD="$LCPP-build"
if [[ ! -x "$BUILD/bin/llama-quantize" ]]; then
  VENV="$COMPACT_CACHE/venv-cmake"
  [[ -x "$VENV/bin/cmake" ]] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q cmake ninja; }
  "$VENV/bin/cmake" -S "$LCPP" -B "$BUILD" -G Ninja -DCMAKE_MAKE_PROGRAM="$VENV/bin/ninja" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF >&2
  "$VENV/bin/cmake" --build "$BUILD" --target llama-quantize -j "$(nproc)" >&2
fi
echo "$BUILD/bin/llama-quantize"
