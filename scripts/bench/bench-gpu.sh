#!/usr/bin/env bash
# GPU benchmark on the fixture models: the adapter's measured peak FMA rate, the matmul
# kernel at each model's shapes (share of that peak), and calibration tokens/s with
# 512-token windows against the CPU reference in the same run. Prints figures only.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/env.sh"
cd "$ROOT"
models=()
for m in ${BENCH_MODELS:-smollm2-135m qwen2.5-0.5b}; do
  bash scripts/fixtures/fetch-model.sh "$m"
  models+=(--model "$COMPACT_CACHE/models/$m")
done
cargo build --release --bin compact
WGPU_BACKEND="${WGPU_BACKEND:-vulkan}" target/release/compact bench "${models[@]}" --windows "${BENCH_WINDOWS:-2}" --seq-len 512 "$@"
