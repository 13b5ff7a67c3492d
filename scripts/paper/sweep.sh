#!/usr/bin/env bash
# The V'/I' split at a fixed total reduction, in the spirit of the paper's Table 6: for
# each vocabulary size V' the FFN keeps the most channels I' (a multiple of 32) that
# still removes at least RATIO of all parameters; every point is pruned with the
# default calibration (16 × 512 tokens of the built-in text) and evaluated on the six
# tasks (--limit LIMIT) and on held-out text against the dense model.
#
#   scripts/paper/sweep.sh NAME RATIO LIMIT [BACKEND] [V' …]
#   e.g. scripts/paper/sweep.sh smollm2-135m 0.35 50 cpu 49152 32768 24576 16384 8192 4096
#
# Writes results/NAME-sweepRATIO-limitLIMIT/*.json (resumable) and prints the table.
set -euo pipefail
NAME="$1" RATIO="$2" LIMIT="$3" BACKEND="${4:-gpu}"
shift 4 || shift $#
OUT="results/$NAME-sweep$RATIO-limit$LIMIT"
WORK_NAME="sweep/$NAME"
source "$(dirname "${BASH_SOURCE[0]}")/measure-lib.sh"
# I' for a given V': the largest multiple of 32 that still removes RATIO.
ffn_for() {
  "$C" inspect "$D" --json | python3 -c '
import json, math, sys
d = json.load(sys.stdin); c = d["params"]["counted"]; v2 = int(sys.argv[1]); r = float(sys.argv[2])
per_row = (c["embedding"] + c["lm_head"]) // d["vocab_size"]; per_ch = c["ffn"] // d["intermediate_size"]
need = math.ceil(r * d["total"]) - (d["vocab_size"] - v2) * per_row
drop = max(0, math.ceil(need / per_ch))
print((d["intermediate_size"] - drop) // 32 * 32)' "$1" "$RATIO"
}
evaluate dense "$D"
for v in "$@"; do
  i="$(ffn_for "$v")"
  prune "v$v-i$i" --vocab "$v" --ffn "$i"
done
python3 scripts/paper/results-table.py "$OUT"
