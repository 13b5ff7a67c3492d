#!/usr/bin/env python3
"""Golden blocks for compact's quantizers (src/gguf/quantize.rs), made by ggml's own
reference quantizers: ggml-quants.c from the llama.cpp that llama-cpp-python 0.3.36
vendors (scripts/tools/llama-cpp-source.sh fetches it), compiled here with
-O2 -ffp-contract=off (no fused multiply-adds, as Rust computes) and called through
ctypes on fixed rows. Writes tests/golden/quantize.json: each row's f32 bits and each
type's bytes, in hex.

    python3 tests/golden/make_quantize_golden.py "$(scripts/tools/llama-cpp-source.sh)"
"""

import ctypes
import json
import math
import os
import random
import struct
import subprocess
import sys
import tempfile

lcpp = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
build = tempfile.mkdtemp()
stub = os.path.join(build, "stub.c")
with open(stub, "w") as f:
    # ggml-quants.c's non-reference paths call these; the reference quantizers do not.
    f.write("#include <stdlib.h>\n#include <stddef.h>\n"
            "void ggml_abort(const char *f, int l, const char *m, ...) { abort(); }\n"
            "size_t ggml_row_size(int t, long n) { abort(); }\n"
            "const char *ggml_type_name(int t) { abort(); }\n"
            "size_t ggml_type_size(int t) { abort(); }\n")
lib = os.path.join(build, "libquants.so")
subprocess.check_call(["gcc", "-O2", "-ffp-contract=off", "-shared", "-fPIC", f"-I{lcpp}/ggml/include", f"-I{lcpp}/ggml/src",
                       f"{lcpp}/ggml/src/ggml-quants.c", stub, "-o", lib, "-lm"])
q = ctypes.CDLL(lib)

TYPES = {"Q8_0": (32, 34), "Q4_0": (32, 18), "Q5_0": (32, 22), "Q5_1": (32, 24), "Q4_K": (256, 144), "Q5_K": (256, 176),
         "Q6_K": (256, 210)}
FN = {t: f"quantize_row_{t.lower().replace('_k', '_K')}_ref" for t in TYPES}


def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


rng = random.Random(20261201)
rows = {
    "gaussian": [rng.gauss(0, 0.02) for _ in range(256)],
    "uniform": [rng.uniform(-1, 1) for _ in range(256)],
    "positive": [abs(rng.gauss(0, 0.5)) for _ in range(256)],
    "outliers": [rng.gauss(0, 0.01) * (40 if i % 37 == 0 else 1) for i in range(256)],
    "zeros": [0.0] * 256,
    "tiny": [rng.gauss(0, 1e-20) for _ in range(256)],
    "constant": [0.25] * 256,
    "half-zero": [rng.gauss(0, 0.1) if i % 2 else 0.0 for i in range(256)],
    "negative-max": [-3.0 if i == 5 else rng.uniform(-1, 1) for i in range(256)],
    "ties": [(i % 17 - 8) / 16 for i in range(256)],
    "large": [rng.gauss(0, 300.0) for _ in range(256)],
    "ramp": [math.sin(i / 7) * (1 + i / 64) for i in range(256)],
}
out = {"source": "ggml-quants.c of llama.cpp vendored by llama-cpp-python 0.3.36, gcc -O2 -ffp-contract=off", "rows": []}
for name, vals in rows.items():
    vals = [f32(v) for v in vals]
    x = (ctypes.c_float * 256)(*vals)
    row = {"name": name, "f32": struct.pack("<256f", *vals).hex(), "bytes": {}}
    for ty, (block, size) in TYPES.items():
        buf = ctypes.create_string_buffer(256 // block * size)
        getattr(q, FN[ty])(x, buf, ctypes.c_int64(256))
        row["bytes"][ty] = buf.raw.hex()
    out["rows"].append(row)
with open(os.path.join(here, "quantize.json"), "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print(f"wrote {len(out['rows'])} rows × {len(TYPES)} types")
