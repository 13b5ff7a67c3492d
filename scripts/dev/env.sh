# Sourced by the other scripts: where the project keeps its caches and tools.
# COMPACT_CACHE (default ~/.cache/compact) holds fetched models and npm tools outside
# the work tree, so fresh clones on the same machine reuse them; nothing there is
# ever committed.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export COMPACT_CACHE="${COMPACT_CACHE:-$HOME/.cache/compact}"
export NODE_TOOLS="$COMPACT_CACHE/node-tools"
export PATH="$HOME/.cargo/bin:$NODE_TOOLS/node_modules/.bin:$PATH"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
