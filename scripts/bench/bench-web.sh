#!/usr/bin/env bash
# The browser flow's wall time and peak wasm memory with 4 × 128-token windows, for
# SmolLM2-135M and Qwen2.5-0.5B (the paper's 35% sizes), in headless Chromium on
# SwiftShader WebGPU (Qwen then written as a Q4_K_M GGUF in the tab), SmolLM2-135M on
# the app's CPU device, and a Llama-3.2-1B-shaped model on it. Builds the app first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/env.sh"
cd "$ROOT"
bash scripts/fixtures/fetch-model.sh smollm2-135m
bash scripts/fixtures/fetch-model.sh qwen2.5-0.5b
trunk build --release
cargo build --release --bin compact
export COMPACT_BIN="$ROOT/target/release/compact" DIST="$ROOT/dist" MODELS="$COMPACT_CACHE/models"
node tests/web/bench.mjs smollm2-135m 16384 960 4 128
node tests/web/bench.mjs qwen2.5-0.5b 49536 3456 4 128 webgpu Q4_K_M
# The app's CPU device (for browsers without WebGPU): the CPU reference in wasm.
node tests/web/bench.mjs smollm2-135m 16384 960 4 128 cpu
# The 1B class: a Llama-3.2-1B-shaped folder (seeded weights, the real tokenizer) at
# Table 8's 35 %, on the CPU device; its 1.6 GB zip and a Q4_K_M GGUF leave the tab.
bash scripts/fixtures/make-seeded-models.sh llama3.2-1b
MODELS="$COMPACT_CACHE/seeded" node tests/web/bench.mjs llama3.2-1b 33792 5760 2 64 cpu Q4_K_M
