#!/usr/bin/env bash
# By-hand check that compact's own GGUF writer gives files llama.cpp runs as compact
# does: each folder is written with `compact gguf --type TYPE` (no Python converter, no
# torch), loaded by llama.cpp (node-llama-cpp's prebuilt CPU binary), and for five
# prompts its token ids must equal the folder's tokenizer.json's (the tokenizers
# library) and its 12 greedy tokens compact's `generate` on the folder. Not part of
# `make test` (llama.cpp comes from npm, about 100 MB).
#
#   scripts/tools/check-gguf.sh [--type f32|f16|bf16|q8_0|q4_k_m|…] FOLDER [FOLDER …]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/dev/env.sh"
type=f32
if [[ "${1:-}" == "--type" ]]; then type="$2"; shift 2; fi
[[ $# -ge 1 ]] || { echo "usage: $0 [--type TYPE] FOLDER [FOLDER …]" >&2; exit 2; }

NODE_DIR="$COMPACT_CACHE/node-llama-cpp"
if [[ ! -d "$NODE_DIR/node_modules/node-llama-cpp" ]]; then
  mkdir -p "$NODE_DIR"
  (cd "$NODE_DIR" && npm install --no-audit --no-fund --ignore-scripts node-llama-cpp@3.22.1 >/dev/null)
fi
VENV="$COMPACT_CACHE/venv-tokenizers"
if ! "$VENV/bin/python" -c "import tokenizers" 2>/dev/null; then
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q "tokenizers==0.22.1"
fi

(cd "$ROOT" && cargo build --release --quiet --bin compact)
status=0
for folder in "$@"; do
  gguf="$(mktemp -d)/$(basename "$folder")-$type.gguf"
  "$ROOT/target/release/compact" gguf "$folder" --type "$type" --out "$gguf" >/dev/null
  NODE_LLAMA_CPP="$NODE_DIR/node_modules/node-llama-cpp" node "$ROOT/scripts/tools/llama-cpp-check.mjs" "$gguf" "$folder" \
    "$ROOT/target/release/compact" "$VENV/bin/python" | tail -1 || status=1
  rm -rf "$(dirname "$gguf")"
done
exit $status
