#!/usr/bin/env python3
"""Compares the tensors of two GGUF files: for each tensor of the first, the second must
hold one of the same name, dimensions, type and data bytes. Prints one line per type
and a verdict; exits 1 on any difference. Used by check-quantize.sh.

    python3 scripts/tools/gguf-tensors-diff.py OURS.gguf THEIRS.gguf"""
import collections, struct, sys

BLOCK = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
         12: (256, 144), 13: (256, 176), 14: (256, 210)}
NAME = {0: "F32", 1: "F16", 30: "BF16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K"}


def tensors(path):
    f = open(path, "rb")
    head = f.read(256 << 20)
    p = [0]
    def take(n):
        r = head[p[0]:p[0] + n]; p[0] += n; return r
    u32 = lambda: struct.unpack("<I", take(4))[0]
    u64 = lambda: struct.unpack("<Q", take(8))[0]
    string = lambda: take(u64()).decode("utf8", "replace")
    size = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    def skip(t):
        if t == 8: string()
        elif t == 9:
            et, n = u32(), u64()
            for _ in range(n): skip(et)
        else: take(size[t])
    assert take(4) == b"GGUF"
    u32(); nt, nkv = u64(), u64()
    align = 32
    for _ in range(nkv):
        k, t = string(), u32()
        if k == "general.alignment": align = struct.unpack("<I", take(4))[0]
        else: skip(t)
    infos = []
    for _ in range(nt):
        name = string(); dims = [u64() for _ in range(u32())]; ty = u32(); off = u64()
        infos.append((name, dims, ty, off))
    start = (p[0] + align - 1) // align * align
    out = {}
    for name, dims, ty, off in infos:
        block, bsize = BLOCK[ty]
        n = 1
        for d in dims: n *= d
        f.seek(start + off)
        out[name] = (dims, ty, f.read(n // block * bsize))
    return out


ours, theirs = tensors(sys.argv[1]), tensors(sys.argv[2])
by_type = collections.Counter()
bad = []
for name, (dims, ty, data) in ours.items():
    t = theirs.get(name)
    if t is None: bad.append(f"{name}: missing from {sys.argv[2]}"); continue
    if t[0] != dims or t[1] != ty: bad.append(f"{name}: {NAME.get(ty, ty)} {dims} vs {NAME.get(t[1], t[1])} {t[0]}"); continue
    if t[2] != data:
        first = next(i for i, (a, b) in enumerate(zip(data, t[2])) if a != b)
        bad.append(f"{name} ({NAME[ty]}): data differs from byte {first} of {len(data)}"); continue
    by_type[NAME[ty]] += 1
print("identical tensors by type:", dict(by_type))
for b in bad[:10]: print("DIFF", b)
print(f"{len(ours) - len(bad)}/{len(ours)} tensors identical")
sys.exit(1 if bad or len(theirs) != len(ours) else 0)
