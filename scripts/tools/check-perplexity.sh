#!/usr/bin/env bash
# llama.cpp's own perplexity (llama-perplexity, built from the pinned source by
# llama-quantize.sh's build folder) of compact's GGUFs on the held-out text (the second
# half of the built-in calibration text, which calibration never reads): F16 for every
# folder, and the given quantized types for all but the first (the dense model).
#
#   scripts/tools/check-perplexity.sh [--types q4_k_m] [--ctx 128] DENSE PRUNED [PRUNED …]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/dev/env.sh"
types=q4_k_m; ctx=128
while [[ "${1:-}" == --* ]]; do
  case "$1" in --types) types="$2";; --ctx) ctx="$2";; *) echo "unknown option $1" >&2; exit 2;; esac; shift 2
done
[[ $# -ge 1 ]] || { echo "usage: $0 [--types T,T…] [--ctx N] DENSE [PRUNED …]" >&2; exit 2; }
QUANTIZE="$("$ROOT/scripts/tools/llama-quantize.sh")"
BUILD="$(dirname "$(dirname "$QUANTIZE")")"
[[ -x "$BUILD/bin/llama-perplexity" ]] ||
  "$COMPACT_CACHE/venv-cmake/bin/cmake" --build "$BUILD" --target llama-perplexity -j "$(nproc)" >&2
(cd "$ROOT" && cargo build --release --quiet --bin compact)
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
python3 -c "
t = open('$ROOT/data/calibration/as_you_like_it.txt', encoding='utf-8').read()
b = t.encode(); mid = len(b) // 2
while mid < len(b) and (b[mid] & 0xC0) == 0x80: mid += 1
open('$tmp/held-out.txt', 'wb').write(b[mid:])"
first=1
for folder in "$@"; do
  for t in f16 $([[ $first == 1 ]] || echo "${types//,/ }"); do
    "$ROOT/target/release/compact" gguf "$folder" --type "$t" --out "$tmp/m.gguf" --force >/dev/null
    ppl="$("$BUILD/bin/llama-perplexity" -m "$tmp/m.gguf" -f "$tmp/held-out.txt" -c "$ctx" -b "$ctx" -t "$(nproc)" 2>&1 |
      grep -o 'Final estimate: PPL = [0-9.]* +/- [0-9.]*' || echo "no estimate")"
    echo "$(basename "$folder") $t ($(du -m "$tmp/m.gguf" | cut -f1) MB): $ppl"
  done
  first=0
done
