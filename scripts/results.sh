#!/usr/bin/env bash
# Measures the README's results table for one fixture model: dense, COMPACT at ~10/20/35%
# (--ratio, default policy; for Qwen2.5-0.5B the paper's Table 8 sizes), plain act² and
# vocabulary-only ablations; then prints the table. Long: about 6 minutes per configuration for SmolLM2-135M at --limit 25 on two
# cores (CPU backend), four times that for Qwen2.5-0.5B.
#
#   scripts/results.sh NAME LIMIT [BACKEND]     e.g. scripts/results.sh smollm2-135m 25 cpu
#
# Writes results/NAME-limitLIMIT/*.json (small, committed) and pruned folders under
# $COMPACT_CACHE/results (never committed).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
NAME="$1" LIMIT="$2" BACKEND="${3:-gpu}"
C="${COMPACT_BIN:-target/release/compact}"
D="$COMPACT_CACHE/models/$NAME"
OUT="results/$NAME-limit$LIMIT"
WORK="$COMPACT_CACHE/results/$NAME"
mkdir -p "$OUT" "$WORK"
[[ -n "${COMPACT_BIN:-}" ]] || cargo build --release --quiet --bin compact
bash scripts/fetch-eval.sh
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['plan'][sys.argv[2]][1])" "$1" "$2"; }
evaluate() { # key folder
  [[ -f "$OUT/$1.eval.json" ]] || $C eval --model "$2" --limit "$LIMIT" --backend "$BACKEND" --json "$OUT/$1.eval.json"
  [[ "$1" == dense || -f "$OUT/$1.ppl.json" ]] || $C eval --model "$2" --dense "$D" --tasks none --backend "$BACKEND" --json "$OUT/$1.ppl.json"
}
prune() { # key args…
  local key="$1"; shift
  [[ -f "$OUT/$key.report.json" ]] || $C prune --model "$D" --out "$WORK/$key" --force --backend "$BACKEND" --report "$OUT/$key.report.json" "$@"
  evaluate "$key" "$WORK/$key"
}
evaluate dense "$D"
if [[ "$NAME" == qwen2.5-0.5b ]]; then
  # The paper's Table 8 sizes for this model (10/20/35%).
  prune r10 --vocab 99968 --ffn 4736
  prune r20 --vocab 49536 --ffn 4736
  prune r35 --vocab 49536 --ffn 3456
else
  prune r10 --ratio 10%
  prune r20 --ratio 20%
  prune r35 --ratio 35%
fi
prune act2_35 --vocab "$(field "$OUT/r35.report.json" vocab)" --ffn "$(field "$OUT/r35.report.json" ffn)" --no-mask
prune vocab20 --vocab "$(field "$OUT/r20.report.json" vocab)"
python3 scripts/results-table.py "$OUT"
