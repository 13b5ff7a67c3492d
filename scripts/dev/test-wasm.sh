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
# server. The test page comes from wasm-bindgen-test-runner's own server, another
# origin: we pick the runner's port here and give it through WASM_BINDGEN_TEST_ADDRESS,
# so that our server allows exactly that origin (--cors-origin) and no other. It comes
# from below the kernel's ephemeral range: the runner binds it only after the wasm build,
# and a port the kernel hands out on its own (chromedriver's, any connection's) could
# take it meanwhile. Our server takes any free port and says which (a port picked for it
# was once taken before it bound).
cargo build --release --bin compact
runner_port="$(python3 -c '
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
while True:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randrange(20000, max(20001, low))))
        print(s.getsockname()[1])
        break
    except OSError:
        s.close()')"
echo '<!doctype html>' > "$site/index.html"
target/release/compact serve --dist "$site" --models "$COMPACT_CACHE/models" --port 0 \
  --cors-origin "http://127.0.0.1:$runner_port" > "$site/serve.log" &
server=$!
for _ in $(seq 50); do grep -q "http://" "$site/serve.log" 2>/dev/null && break; sleep 0.1; done
url="$(grep -o 'http://[0-9.:]*' "$site/serve.log" | head -1)"
[ -n "$url" ] || { echo "compact serve did not start" >&2; exit 1; }
export COMPACT_TEST_MODELS="$url/models"
export WASM_BINDGEN_TEST_ADDRESS="127.0.0.1:$runner_port"
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
