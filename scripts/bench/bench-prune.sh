#!/usr/bin/env bash
# Benchmark: wall time and peak resident memory of pruning a model natively, against
# the bound of 1.5 × its largest tensor + 200 MB (the exporter streams tensor by tensor),
# with the paper's method (--no-repair: the repair holds one layer's second moments more).
#   scripts/bench/bench-prune.sh [MODEL] [V'] [I']    defaults: qwen2.5-0.5b 49536 3456
# Then a Llama-3.1-8B-shaped folder, natively (below).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/env.sh"
cd "$ROOT"
model="${1:-qwen2.5-0.5b}" vocab="${2:-49536}" ffn="${3:-3456}"
dir="$COMPACT_CACHE/models/$model"
[[ -d $dir ]] || bash scripts/fixtures/fetch-model.sh "$model"
cargo build --release --quiet --bin compact
out="$(mktemp -d)/pruned"
calib="$(mktemp)"
cat README.md src/*.rs > "$calib"
largest=$(target/release/compact inspect "$dir" --json | python3 -c '
import json, sys, struct
j = json.load(sys.stdin)
f = open(sys.argv[1] + "/model.safetensors", "rb"); n = struct.unpack("<Q", f.read(8))[0]
h = json.loads(f.read(n)); print(max(e["data_offsets"][1] - e["data_offsets"][0] for k, e in h.items() if k != "__metadata__"))' "$dir")
[[ -x /usr/bin/time ]] || { echo "bench-prune: needs GNU time (apt-get install time)" >&2; exit 1; }
/usr/bin/time -v target/release/compact prune --model "$dir" --out "$out" --vocab "$vocab" --ffn "$ffn" --calib "$calib" --no-repair 2> "$out.time" | head -1
rss_kb=$(grep "Maximum resident" "$out.time" | awk '{print $NF}')
wall=$(grep "Elapsed (wall" "$out.time" | awk '{print $NF}')
python3 - "$model" "$vocab" "$ffn" "$wall" "$rss_kb" "$largest" <<'PY'
import sys
model, vocab, ffn, wall, rss_kb, largest = sys.argv[1:]
rss, big = int(rss_kb) * 1000, int(largest)
bound = 1.5 * big + 200e6
print(f"bench-prune: {model} V'={vocab} I'={ffn}: wall {wall}, peak RSS {rss/1e6:.0f} MB; "
      f"bound 1.5 × largest tensor ({big/1e6:.0f} MB) + 200 MB = {bound/1e6:.0f} MB → {rss/bound:.2f} of the bound")
PY
rm -rf "$(dirname "$out")" "$calib"

# The 8B class (skip with BENCH_8B=0): a Llama-3.1-8B-shaped folder (16 GB of bf16 in
# four shards, seeded weights, the real tokenizer; made once by make-seeded-models.sh)
# at Table 8's 35 % (V' 67840, I' 8448), calibrated on the CPU reference with 2 × 64
# tokens. Needs about 27 GB of free disk in all; peak RSS should stay under 1 GB.
if [[ ${BENCH_8B:-1} == 1 ]]; then
  bash scripts/fixtures/make-seeded-models.sh llama3.1-8b
  out="$(mktemp -d)/pruned"
  /usr/bin/time -v target/release/compact prune --model "$COMPACT_CACHE/seeded/llama3.1-8b" --out "$out" \
    --vocab 67840 --ffn 8448 --samples 2 --seq-len 64 --device cpu --no-repair 2> "$out.time" | grep -E "^wrote|calibration:"
  rss_kb=$(grep "Maximum resident" "$out.time" | awk '{print $NF}')
  wall=$(grep "Elapsed (wall" "$out.time" | awk '{print $NF}')
  echo "bench-prune: llama3.1-8b shape V'=67840 I'=8448 (2 × 64 tokens, CPU): wall $wall, peak RSS $((rss_kb / 1000)) MB (target < 1000 MB)"
  rm -rf "$(dirname "$out")"
fi
