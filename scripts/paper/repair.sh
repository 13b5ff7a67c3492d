#!/usr/bin/env bash
# The repair bake-off on the steady signals: for one fixture model at ~20, ~35 and ~50 %
# of its parameters removed, COMPACT as in the paper against the weight-aware score,
# least-squares repair of down_proj fitted on the dense model (--repair-mode dense),
# with the weight-aware score, on the pruned model's own activations (--repair-mode
# sequential), the default repair fitted back onto the dense model's residual stream
# (--repair), with the weight-aware score, and channels chosen for the repair
# (--score obs): held-out perplexity and top-1 agreement against
# the dense model on the same tokens (`compact eval --tasks none`), and each prune's
# report (time, memory, ridge). Resumable: a configuration whose JSON exists is skipped.
#
#   scripts/paper/repair.sh NAME [RATIO …] [-- VARIANT …]
#   e.g. scripts/paper/repair.sh smollm2-135m 20 35 50
#
# Writes results/NAME-repair/*.json (small, committed) and prints the table.
set -euo pipefail
NAME="$1"; shift
RATIOS=() VARIANTS=()
while [[ $# -gt 0 && "$1" != -- ]]; do RATIOS+=("$1"); shift; done
[[ $# -gt 0 ]] && shift && VARIANTS=("$@")
[[ ${#RATIOS[@]} -gt 0 ]] || RATIOS=(20 35 50)
[[ ${#VARIANTS[@]} -gt 0 ]] || VARIANTS=(paper weight repair weight-repair sequential residual weight-residual)
OUT="results/$NAME-repair" LIMIT=0 BACKEND=cpu WORK_NAME="repair/$NAME"
source "$(dirname "${BASH_SOURCE[0]}")/measure-lib.sh"
flags() {
  case "$1" in
    paper) echo --no-repair ;;
    weight) echo --score act2-weight --no-repair ;;
    repair) echo --repair --repair-mode dense ;;
    weight-repair) echo --score act2-weight --repair --repair-mode dense ;;
    sequential) echo --score act2-weight --repair --repair-mode sequential ;;
    residual) echo --repair ;;
    weight-residual) echo --score act2-weight --repair ;;
    obs) echo --score obs --repair --repair-mode dense --repair-ridge 0.01 ;;
    *) echo "unknown variant $1" >&2; exit 2 ;;
  esac
}
# The sizes: the paper's Table 8 for Qwen2.5-0.5B at 20 and 35 %, else the default policy.
sizes() {
  case "$NAME:$1" in
    qwen2.5-0.5b:35) echo --vocab 49536 --ffn 3456 ;;
    qwen2.5-0.5b:20) echo --vocab 49536 --ffn 4736 ;;
    *) echo --ratio "$1%" ;;
  esac
}
for r in "${RATIOS[@]}"; do
  for v in "${VARIANTS[@]}"; do
    key="r$r-$v"
    [[ -f "$OUT/$key.ppl.json" ]] && continue
    # The pruned folder is not kept: an unfinished configuration is pruned again.
    # shellcheck disable=SC2046
    [[ -f "$OUT/$key.report.json" && -f "$WORK/$key/config.json" ]] || /usr/bin/time -f "%e %M" -o "$OUT/$key.time" \
      "$C" prune --model "$D" --out "$WORK/$key" --force --device cpu --report "$OUT/$key.report.json" $(sizes "$r") $(flags "$v")
    [[ -f "$OUT/$key.ppl.json" ]] || "$C" eval --model "$WORK/$key" --dense "$D" --tasks none --device cpu --json "$OUT/$key.ppl.json"
    rm -rf "${WORK:?}/$key"
  done
done
python3 scripts/paper/repair-table.py "$OUT"
