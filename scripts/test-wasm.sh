#!/usr/bin/env bash
# The wasm-side tests (tests/browser.rs) inside headless Chromium with WebGPU
# (SwiftShader), through wasm-bindgen-test-runner and chromedriver.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
profile="$(mktemp -d)"
trap 'rm -rf "$profile" "$ROOT/webdriver.json"' EXIT
# wasm-bindgen-test-runner reads the browser's arguments from ./webdriver.json.
python3 - "$profile" > webdriver.json <<'PY'
import json, sys
flags = [l.strip() for l in open("scripts/chromium-flags.txt") if l.strip()]
print(json.dumps({"goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": flags + ["--user-data-dir=" + sys.argv[1]]}}))
PY
export CHROMEDRIVER=/usr/bin/chromedriver
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=120
cargo test --target wasm32-unknown-unknown --test browser "$@"
