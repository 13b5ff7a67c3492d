#!/usr/bin/env bash
# By-hand check that compact's quantized GGUFs are byte for byte what llama.cpp makes:
# for each folder and type, llama.cpp's own llama-quantize (built by
# llama-quantize.sh) quantizes compact's F32 GGUF of the folder, and every tensor of
# compact's GGUF of that type (its type, dimensions and data bytes) must equal
# llama-quantize's. Not part of `make test` (the llama.cpp build takes ~10 minutes once).
#
#   scripts/tools/check-quantize.sh [--types q8_0,q4_0,q6_k,q4_k_m,q5_k_m] FOLDER [FOLDER …]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/dev/env.sh"
types=q8_0,q4_0,q6_k,q4_k_m,q5_k_m
if [[ "${1:-}" == "--types" ]]; then types="$2"; shift 2; fi
[[ $# -ge 1 ]] || { echo "usage: $0 [--types T,T…] FOLDER [FOLDER …]" >&2; exit 2; }
QUANTIZE="$("$ROOT/scripts/tools/llama-quantize.sh")"
(cd "$ROOT" && cargo build --release --quiet --bin compact)
COMPACT="$ROOT/target/release/compact"
status=0
for folder in "$@"; do
  tmp="$(mktemp -d)"
  "$COMPACT" gguf "$folder" --type f32 --out "$tmp/f32.gguf" >/dev/null
  for t in ${types//,/ }; do
    T="$(echo "$t" | tr a-z A-Z)"
    "$QUANTIZE" "$tmp/f32.gguf" "$tmp/llama-$T.gguf" "$T" >"$tmp/quantize.log" 2>&1 ||
      { tail -5 "$tmp/quantize.log" >&2; status=1; continue; }
    "$COMPACT" gguf "$folder" --type "$t" --out "$tmp/compact-$T.gguf" >/dev/null
    python3 "$ROOT/scripts/tools/gguf-tensors-diff.py" "$tmp/compact-$T.gguf" "$tmp/llama-$T.gguf" >"$tmp/diff.txt" || status=1
    echo "$(basename "$folder") $T: $(tail -1 "$tmp/diff.txt")"
    grep DIFF "$tmp/diff.txt" | head -3 || true
    rm -f "$tmp/llama-$T.gguf" "$tmp/compact-$T.gguf"
  done
  rm -rf "$tmp"
done
exit $status
