#!/usr/bin/env bash
# The wasm-side tests (tests/browser.rs) inside headless Chromium with WebGPU
# (SwiftShader), through wasm-bindgen-test-runner and chromedriver.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
profile="$(mktemp -d)"
site="$(mktemp -d)"
server=""
trap 'rm -rf "$profile" "$site" "$ROOT/webdriver.json"; [ -n "$server" ] && kill "$server" 2>/dev/null || true' EXIT
# The calibration test reads the fixture models over HTTP (Range requests) from our own
# server, on a free port, with CORS for the test runner's origin.
cargo build --release --bin compact
echo '<!doctype html>' > "$site/index.html"
target/release/compact serve --dist "$site" --models "$COMPACT_CACHE/models" --port 0 --cors > "$site/serve.log" &
server=$!
for _ in $(seq 50); do grep -q "http://" "$site/serve.log" 2>/dev/null && break; sleep 0.1; done
url="$(grep -o 'http://[0-9.:]*' "$site/serve.log" | head -1)"
[ -n "$url" ] || { echo "compact serve did not start" >&2; exit 1; }
export COMPACT_TEST_MODELS="$url/models"
# wasm-bindgen-test-runner reads the browser's arguments from ./webdriver.json.
python3 - "$profile" > webdriver.json <<'PY'
import json, sys
flags = [l.strip() for l in open("scripts/dev/chromium-flags.txt") if l.strip()]
print(json.dumps({"goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": flags + ["--user-data-dir=" + sys.argv[1]]}}))
PY
export CHROMEDRIVER=/usr/bin/chromedriver
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=600
# Release, like the app's own build: the wasm dependencies are compiled once for both.
cargo test --release --target wasm32-unknown-unknown --test browser "$@"
