#!/usr/bin/env bash
# The browser flow's wall time and peak wasm memory with 4 × 128-token windows, for
# SmolLM2-135M and Qwen2.5-0.5B (the paper's 35% sizes), in headless Chromium on
# SwiftShader WebGPU (Qwen then written as a Q4_K_M GGUF in the tab), both on the app's
# CPU device (8 × 512 tokens, on every core and on one), both with the repair of
# down_proj on the CPU device, and the 1B
# class on both devices (below). Builds the app first.
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
# The app's CPU device (for browsers without WebGPU): the CPU reference in wasm on the
# page's Web Workers, against the page alone (?workers=1), 8 × 512 tokens. The weights
# are read into the page cache first, so that neither run pays for the disk.
cat "$MODELS"/smollm2-135m/*.safetensors "$MODELS"/qwen2.5-0.5b/*.safetensors >/dev/null
node tests/web/bench.mjs smollm2-135m 16384 960 8 512 cpu
node tests/web/bench.mjs qwen2.5-0.5b 49536 3456 8 512 cpu
# The repair of down_proj (beyond the paper) in the tab, on the CPU device.
REPAIR=residual node tests/web/bench.mjs smollm2-135m 16384 960 4 128 cpu
REPAIR=residual node tests/web/bench.mjs qwen2.5-0.5b 49536 3456 4 128 cpu
# The 1B class: folders with the published shapes of Llama-3.2-1B, Gemma-3-1B,
# Qwen2.5-1.5B and Qwen3-1.7B (seeded weights, the real tokenizers) at 35 % (Table 8's
# sizes for the first two, the default policy's for the Qwens), 2 × 64 tokens on the CPU
# device and on SwiftShader's WebGPU; Llama's results also leave the tab as a Q4_K_M
# GGUF (every core, then one worker).
bash scripts/fixtures/make-seeded-models.sh
for spec in "llama3.2-1b 33792 5760" "gemma3-1b 95232 5120" "qwen2.5-1.5b 50688 5952" "qwen3-1.7b 50688 3840"; do
  read -r name vocab ffn <<<"$spec"
  for device in cpu webgpu; do
    gguf=()
    [[ $name == llama3.2-1b && $device == cpu ]] && gguf=(Q4_K_M)
    MODELS="$COMPACT_CACHE/seeded" node tests/web/bench.mjs "$name" "$vocab" "$ffn" 2 64 "$device" "${gguf[@]}"
  done
done
