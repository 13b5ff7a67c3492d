# Sourced by results.sh and sweep.sh: resumable prune and eval steps that write their
# JSON into $OUT (committed) and pruned folders into $WORK (never committed).
# The caller sets NAME, LIMIT, BACKEND, OUT and WORK_NAME (under $COMPACT_CACHE);
# COMPACT_BIN picks the binary.
source "$(dirname "${BASH_SOURCE[0]}")/../dev/env.sh"
cd "$ROOT"
C="${COMPACT_BIN:-target/release/compact}"
D="$COMPACT_CACHE/models/$NAME"
WORK="$COMPACT_CACHE/$WORK_NAME"
mkdir -p "$OUT" "$WORK"
[[ -n "${COMPACT_BIN:-}" ]] || cargo build --release --quiet --bin compact
bash scripts/fixtures/fetch-eval.sh
# evaluate KEY FOLDER: the six tasks, and (pruned models) held-out text against the dense one.
evaluate() {
  [[ -f "$OUT/$1.eval.json" ]] || "$C" eval --model "$2" --limit "$LIMIT" --backend "$BACKEND" --json "$OUT/$1.eval.json"
  [[ "$1" == dense || -f "$OUT/$1.ppl.json" ]] || "$C" eval --model "$2" --dense "$D" --tasks none --backend "$BACKEND" --json "$OUT/$1.ppl.json"
}
# prune KEY ARGS…: `compact prune` of the dense model into $WORK/KEY with ARGS, then evaluate it.
# A row is the paper's method (--no-repair) unless its ARGS ask for the repair.
# The pruned folder is not committed: on a new machine a configuration whose evaluation
# is unfinished is pruned again.
prune() {
  local key="$1"; shift
  [[ -f "$OUT/$key.eval.json" && -f "$OUT/$key.ppl.json" ]] && return 0
  [[ -f "$OUT/$key.report.json" && -f "$WORK/$key/config.json" ]] ||
    "$C" prune --model "$D" --out "$WORK/$key" --force --backend "$BACKEND" --report "$OUT/$key.report.json" \
      $([[ " $* " == *" --repair "* ]] || echo --no-repair) "$@"
  evaluate "$key" "$WORK/$key"
}
