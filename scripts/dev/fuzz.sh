#!/usr/bin/env bash
# Fuzzes the four hand-written parsers with libFuzzer (cargo fuzz, on the nightly
# toolchain): the safetensors header, the GGUF header (with the import plan and the
# rebuilt tokenizer), SentencePiece's tokenizer.model and tokenizer.json surgery. The
# targets are in fuzz/fuzz_targets/ and call compact::fuzzing; the seeds are in
# fuzz/seeds/ (made by fuzz/make-seeds.py).
#
#   scripts/dev/fuzz.sh [SECONDS] [TARGET …]    default: 600 s for each of the four
#
# Each target's corpus grows in fuzz/corpus/TARGET (git-ignored, kept between runs).
# A crash is copied to fuzz/regressions/TARGET/, which tests/fuzz_seeds.rs replays in
# every `make test` once it is committed. The exec counts go to results/fuzz.json.
# Not part of `make test`: it needs nightly Rust and takes minutes per target.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors_header gguf_header sentencepiece_model tokenizer_surgery)

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz.sh: cargo fuzz needs a nightly toolchain: rustup toolchain install nightly" >&2
    exit 1
fi
command -v cargo-fuzz > /dev/null || cargo install cargo-fuzz --locked

cargo +nightly fuzz build --release 2>&1 | tail -3
results=results/fuzz.json
[ -f "$results" ] || echo '{}' > "$results"
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    rm -f fuzz/artifacts/"$t"/*
    log="$(mktemp)"
    echo "fuzz.sh: $t for $seconds s"
    status=0
    started=$(date +%s)
    # -rss_limit_mb: a parser that allocates more than this on any input is a finding.
    cargo +nightly fuzz run --release "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=1024 -max_len=1048576 -timeout=20 -print_final_stats=1 \
        > "$log" 2>&1 || status=$?
    elapsed=$(( $(date +%s) - started ))
    runs="$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' || true)"
    # libFuzzer's own count of fuzzing seconds (the wall time also holds any rebuild).
    fuzzed="$(grep -o 'runs in [0-9]* second' "$log" | grep -o '[0-9]*' || true)"
    [ -z "$fuzzed" ] || elapsed="$fuzzed"
    [ -n "$runs" ] || runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)"
    corpus="$(find "fuzz/corpus/$t" -type f | wc -l)"
    crashes=0
    for f in fuzz/artifacts/"$t"/*; do
        [ -f "$f" ] || continue
        mkdir -p "fuzz/regressions/$t"
        cp "$f" "fuzz/regressions/$t/"
        crashes=$((crashes + 1))
    done
    echo "fuzz.sh: $t: $runs runs in $elapsed s, coverage $cov, corpus $corpus, crashes $crashes (exit $status)"
    [ "$status" -eq 0 ] || tail -40 "$log"
    python3 - "$results" "$t" "$elapsed" "$runs" "$cov" "$corpus" "$crashes" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" <<'EOF'
import json, sys
path, target, seconds, runs, cov, corpus, crashes, when = sys.argv[1:]
data = json.load(open(path))
data[target] = {"seconds": int(seconds), "runs": int(runs), "coverage": int(cov), "corpus": int(corpus),
                "crashes": int(crashes), "when": when}
json.dump(data, open(path, "w"), indent=2, sort_keys=True)
open(path, "a").write("\n")
EOF
    rm -f "$log"
done
