#!/usr/bin/env bash
# Measures the README's results table for one fixture model: dense, COMPACT at ~10/20/35%
# (--ratio, default policy; for Qwen2.5-0.5B the paper's Table 8 sizes), plain act² and
# vocabulary-only ablations, and beyond the paper the repair of down_proj at ~20/35/50%
# and the weight-aware score at ~20/35/50%; then prints the table. Long: at --limit 200 on two cores
# (CPU backend) about 25 minutes per SmolLM2-135M configuration and 1–2 hours per
# Qwen2.5-0.5B one; it resumes from the JSON already written.
#
#   scripts/paper/results.sh NAME LIMIT [BACKEND]     e.g. scripts/paper/results.sh smollm2-135m 25 cpu
#
# Writes results/NAME-limitLIMIT/*.json (small, committed) and pruned folders under
# $COMPACT_CACHE/results (never committed).
set -euo pipefail
NAME="$1" LIMIT="$2" BACKEND="${3:-gpu}"
OUT="results/$NAME-limit$LIMIT"
WORK_NAME="results/$NAME"
source "$(dirname "${BASH_SOURCE[0]}")/measure-lib.sh"
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['plan'][sys.argv[2]][1])" "$1" "$2"; }
evaluate dense "$D"
# 35% first: the setting the paper reports against dense (about 70% for Qwen2.5-0.5B).
if [[ "$NAME" == qwen2.5-0.5b ]]; then
  # The paper's Table 8 sizes for this model (35/20/10%).
  prune r35 --vocab 49536 --ffn 3456
  prune r20 --vocab 49536 --ffn 4736
  prune r10 --vocab 99968 --ffn 4736
else
  prune r35 --ratio 35%
  prune r20 --ratio 20%
  prune r10 --ratio 10%
fi
prune act2_35 --vocab "$(field "$OUT/r35.report.json" vocab)" --ffn "$(field "$OUT/r35.report.json" ffn)" --no-mask
prune vocab20 --vocab "$(field "$OUT/r20.report.json" vocab)"
# Beyond the paper, at the ~35% sizes: the repair of down_proj, and the weight-aware score.
prune r35_repair --vocab "$(field "$OUT/r35.report.json" vocab)" --ffn "$(field "$OUT/r35.report.json" ffn)" --repair
prune r35_weight --vocab "$(field "$OUT/r35.report.json" vocab)" --ffn "$(field "$OUT/r35.report.json" ffn)" --score act2-weight
prune r20_repair --vocab "$(field "$OUT/r20.report.json" vocab)" --ffn "$(field "$OUT/r20.report.json" ffn)" --repair
prune r50 --ratio 50%
prune r50_repair --vocab "$(field "$OUT/r50.report.json" vocab)" --ffn "$(field "$OUT/r50.report.json" ffn)" --repair
# The weight-aware score at the ~20% and ~50% sizes too.
prune r20_weight --vocab "$(field "$OUT/r20.report.json" vocab)" --ffn "$(field "$OUT/r20.report.json" ffn)" --score act2-weight
prune r50_weight --vocab "$(field "$OUT/r50.report.json" vocab)" --ffn "$(field "$OUT/r50.report.json" ffn)" --score act2-weight
python3 scripts/paper/results-table.py "$OUT"
