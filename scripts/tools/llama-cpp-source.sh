#!/usr/bin/env bash
# Prints the path of llama.cpp's source tree, fetching it first if needed: the copy that
# the llama-cpp-python sdist on PyPI vendors (pinned version and sha256), extracted
# into $COMPACT_CACHE. Used by check-llama-cpp.sh (its converter) and by
# tests/golden/make_quantize_golden.py (its reference quantizers). Idempotent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/env.sh"
LCPP_VERSION=0.3.36
LCPP_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
LCPP="$COMPACT_CACHE/llama.cpp-$LCPP_VERSION"
if [[ ! -f "$LCPP/convert_hf_to_gguf.py" ]]; then
  tgz="$COMPACT_CACHE/downloads/llama_cpp_python-$LCPP_VERSION.tar.gz"
  if [[ ! -f "$tgz" ]]; then
    mkdir -p "$(dirname "$tgz")"
    # The simple index (PEP 503) is what pip itself reads; it lists the sdist's URL.
    url="$(curl -fsS "https://pypi.org/simple/llama-cpp-python/" |
      grep -o "https://[^\"#]*llama_cpp_python-$LCPP_VERSION.tar.gz" | head -1)"
    [[ -n "$url" ]] || { echo "llama-cpp-python $LCPP_VERSION is not on the package index" >&2; exit 1; }
    curl -fsSL -o "$tgz.partial" "$url" && mv "$tgz.partial" "$tgz"
  fi
  echo "$LCPP_SHA256  $tgz" | sha256sum -c --quiet >&2 || { rm -f "$tgz"; echo "bad sha256: $tgz" >&2; exit 1; }
  rm -rf "$LCPP.partial" && mkdir -p "$LCPP.partial"
  tar xzf "$tgz" -C "$LCPP.partial" --strip-components=3 "llama_cpp_python-$LCPP_VERSION/vendor/llama.cpp"
  rm -rf "$LCPP" && mv "$LCPP.partial" "$LCPP"
fi
echo "$LCPP"
