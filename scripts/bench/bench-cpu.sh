#!/usr/bin/env bash
# CPU benchmark against torch f32 on the fixture models, in one run on this machine:
# calibration tokens/s (16 × 512), greedy generation tokens/s (32 tokens, model load
# included and excluded), `compact eval --limit 50` against lm-eval-style torch scoring
# of the very same requests, and dense against pruned (~35 %) generation speed and peak
# memory. torch and transformers go into a throwaway venv under $COMPACT_CACHE (once);
# never part of `make test`. Prints figures only.
#
#   BENCH_MODELS="smollm2-135m" BENCH_LIMIT=0 scripts/bench/bench-cpu.sh    # a quick run
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/env.sh"
cd "$ROOT"
VENV="$COMPACT_CACHE/torch-venv"
if ! "$VENV/bin/python" -c "import torch, transformers" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q torch transformers safetensors
fi
models=()
for m in ${BENCH_MODELS:-smollm2-135m qwen2.5-0.5b}; do
  bash scripts/fixtures/fetch-model.sh "$m"
  models+=("$COMPACT_CACHE/models/$m")
done
bash scripts/fixtures/fetch-eval.sh
cargo build --release --bin compact
python3 scripts/bench/cpu_vs_torch.py --venv "$VENV" --bin target/release/compact --work "$COMPACT_CACHE/bench-cpu" \
  --limit "${BENCH_LIMIT:-50}" --models "${models[@]}"
