#!/usr/bin/env bash
# Every test: installs what is missing, fetches and converts the fixture models and the
# evaluation data, checks formatting and clippy on both targets, then runs the native tests (unit + integration on real weights), the
# wasm tests inside headless Chromium, and the browser end-to-end tests against the
# built app.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
cd "$ROOT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "setup"
bash scripts/dev/setup.sh
step "fixtures"
bash scripts/fixtures/fetch-model.sh all
bash scripts/fixtures/fetch-eval.sh
bash scripts/fixtures/fetch-tokenizers.sh
bash scripts/fixtures/make-seeded-models.sh download-1g

step "house rules: rustfmt, clippy -D warnings (native and wasm32)"
# In the release profile: build scripts and proc macros are then shared with the
# release builds below instead of compiled twice.
cargo fmt --check
cargo clippy --release --all-targets -- -D warnings
cargo clippy --release --target wasm32-unknown-unknown --lib --bin compact-web --bin compact-worker -- -D warnings

export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"
step "native tests (cargo test --release)"
cargo test --release --all-targets

step "wasm tests in headless Chromium"
bash scripts/dev/test-wasm.sh

step "web app build (trunk)"
trunk build --release

step "browser end-to-end tests"
cargo build --release --bin compact
COMPACT_BIN="$ROOT/target/release/compact" DIST="$ROOT/dist" MODELS="$COMPACT_CACHE/models" SEEDED="$COMPACT_CACHE/seeded" \
  node --test --test-reporter=spec tests/web/
