#!/usr/bin/env bash
# By-hand check that pruned folders work in llama.cpp: each is converted to GGUF (f32)
# by llama.cpp's own convert_hf_to_gguf.py — through scripts/tools/llama-cpp-convert.py,
# which names the byte-level BPE pre-tokenizer from the dense tokenizer — then run by
# llama.cpp (node-llama-cpp's prebuilt CPU binary); prompt token ids and 12 greedy
# tokens must equal compact's own on the same folder. Not part of `make test`: the
# converter needs torch (about 5 GB from PyPI), installed once into $COMPACT_CACHE.
#
#   scripts/tools/check-llama-cpp.sh DENSE_DIR PRUNED_DIR [PRUNED_DIR …]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/dev/env.sh"
[[ $# -ge 2 ]] || { echo "usage: $0 DENSE_DIR PRUNED_DIR [PRUNED_DIR …]" >&2; exit 2; }
DENSE="$1"; shift

# llama.cpp's converter, from the llama-cpp-python sdist on PyPI (it vendors llama.cpp).
LCPP="$("$ROOT/scripts/tools/llama-cpp-source.sh")"
VENV="$COMPACT_CACHE/venv-llama-cpp"
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import torch, transformers, sentencepiece, tokenizers" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "numpy~=2.2.6" "sentencepiece<0.3" "transformers==4.57.6" "protobuf<5" torch
fi
NODE_DIR="$COMPACT_CACHE/node-llama-cpp"
if [[ ! -d "$NODE_DIR/node_modules/node-llama-cpp" ]]; then
  mkdir -p "$NODE_DIR"
  (cd "$NODE_DIR" && npm install --no-audit --no-fund --ignore-scripts node-llama-cpp@3.22.1 >/dev/null)
fi

(cd "$ROOT" && cargo build --release --quiet --bin compact)
status=0
for pruned in "$@"; do
  gguf="$(mktemp -d)/$(basename "$pruned").gguf"
  "$VENV/bin/python" "$ROOT/scripts/tools/llama-cpp-convert.py" --llama-cpp "$LCPP" --dense "$DENSE" "$pruned" \
    --outfile "$gguf" --outtype f32 >/dev/null 2>&1 ||
    { echo "$pruned: conversion failed; run scripts/tools/llama-cpp-convert.py by hand to see why" >&2; status=1; continue; }
  NODE_LLAMA_CPP="$NODE_DIR/node_modules/node-llama-cpp" node "$ROOT/scripts/tools/llama-cpp-check.mjs" "$gguf" "$pruned" \
    "$ROOT/target/release/compact" "$VENV/bin/python" | tail -1 || status=1
  rm -rf "$(dirname "$gguf")"
done
exit $status
