#!/usr/bin/env bash
# Builds the web app and serves it with the demo model on http://127.0.0.1:${PORT:-8080}.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
cd "$ROOT"
bash scripts/dev/setup.sh
bash scripts/fixtures/fetch-model.sh smollm2-135m
trunk build --release
cargo build --release --bin compact
exec target/release/compact serve --dist dist --models "$COMPACT_CACHE/models" --port "${PORT:-8080}"
