#!/usr/bin/env bash
# Idempotent installation of everything `make demo` and `make test` need on a bare
# Debian machine that has rustup: apt packages (lavapipe Vulkan, Chromium and its
# driver), the wasm32 target, trunk and wasm-bindgen-cli at pinned versions, and the
# npm tools (wasm-opt from binaryen, playwright-core driving the system Chromium).
# Every step is skipped when what it installs is already present at the right version.
set -euo pipefail

TRUNK_VERSION=0.21.14
WASM_BINDGEN_VERSION=0.2.130
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
die() { printf '\033[31msetup: error:\033[0m %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup first (https://rustup.rs)"
command -v rustup >/dev/null || die "rustup not found: the wasm32 target is added with rustup"

# --- Debian packages -------------------------------------------------------------
APT_PACKAGES=(mesa-vulkan-drivers libvulkan1 chromium chromium-driver nodejs npm unzip ca-certificates)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node/npm may come from elsewhere than Debian (as on these machines): accept any on PATH.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
if ((${#missing[@]})); then
  say "apt-get install ${missing[*]}"
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || die "apt-get install ${missing[*]} failed"
else
  say "apt packages present (${APT_PACKAGES[*]})"
fi

# --- Rust targets and cargo-installed tools ---------------------------------------
for component in rustfmt clippy; do
  if rustup component list --installed | grep -q "^$component"; then
    say "rust component $component present"
  else
    say "rustup component add $component"
    rustup component add "$component"
  fi
done

if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "rust target wasm32-unknown-unknown present"
else
  say "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if [[ "$(wasm-bindgen --version 2>/dev/null)" == "wasm-bindgen $WASM_BINDGEN_VERSION" ]]; then
  say "wasm-bindgen-cli $WASM_BINDGEN_VERSION present"
else
  say "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes)"
  cargo install -q wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if [[ "$(trunk --version 2>/dev/null)" == "trunk $TRUNK_VERSION" ]]; then
  say "trunk $TRUNK_VERSION present"
else
  say "cargo install trunk $TRUNK_VERSION (6-10 minutes on 2 cores)"
  cargo install -q trunk --version "$TRUNK_VERSION" --locked --force
fi

# --- npm tools (pinned by tests/web/package-lock.json) -----------------------------
# Installed into the shared cache so fresh clones on this machine reuse them.
mkdir -p "$NODE_TOOLS"
if cmp -s "$ROOT/tests/web/package-lock.json" "$NODE_TOOLS/package-lock.json" \
   && [[ -x "$NODE_TOOLS/node_modules/.bin/wasm-opt" ]]; then
  say "npm tools present (binaryen, playwright-core)"
else
  say "npm ci (binaryen, playwright-core) into $NODE_TOOLS"
  cp "$ROOT/tests/web/package.json" "$ROOT/tests/web/package-lock.json" "$NODE_TOOLS/"
  (cd "$NODE_TOOLS" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) \
    || die "npm ci failed in $NODE_TOOLS"
fi
"$NODE_TOOLS/node_modules/.bin/wasm-opt" --version | grep -q "version 132" \
  || die "wasm-opt from binaryen 132 is not working"

say "done"
