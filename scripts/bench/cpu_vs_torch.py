"""Drives the CPU benchmark (scripts/bench/bench-cpu.sh): for each model, compact's CPU
figures and torch f32's (transformers, same model folder, same token ids, same thread
count) measured in the same run, printed side by side with their ratio, then dense
against pruned (~35 %) generation speed and peak memory. Plain python3; torch runs in
the venv given.

    python3 cpu_vs_torch.py --venv VENV --bin COMPACT --work DIR --models M1 M2 [--limit 50]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, **kw):
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def torch(venv, *args):
    out = run([os.path.join(venv, "bin", "python"), os.path.join(HERE, "torch_cpu.py"), *map(str, args)])
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed(cmd):
    """Wall seconds and peak resident MiB of one command (GNU time)."""
    out = run(["/usr/bin/time", "-f", "TIME %e %M", *cmd])
    secs, kib = re.search(r"TIME ([\d.]+) (\d+)", out.stderr).groups()
    return float(secs), int(kib) / 1024, out


def row(what, ours, theirs, unit, higher_is_better=True):
    ratio = ours / theirs if higher_is_better else theirs / ours
    print(f"  {what:52} ours {ours:9.2f} {unit:9} torch {theirs:9.2f} {unit:9} ours/torch {ratio:5.2f}×", flush=True)
    return {"what": what, "ours": ours, "torch": theirs, "unit": unit, "ratio": ratio}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--venv", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--tasks", default="hellaswag,winogrande,arc_challenge,arc_easy,piqa,boolq")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    summary = {}
    for folder in a.models:
        name = os.path.basename(folder.rstrip("/"))
        rows = []
        run([a.bin, "bench", "--device", "cpu", "--model", folder, "--windows", str(a.windows), "--seq-len", str(a.seq_len), "--json-dir", a.work])
        ours = json.load(open(os.path.join(a.work, f"{name}.cpu-bench.json")))
        threads = ours["threads"]
        print(f"\n{name} ({threads} threads)", flush=True)
        windows = os.path.join(a.work, f"{name}.windows.json")
        json.dump(ours["calibration_windows"], open(windows, "w"))
        t = torch(a.venv, "calibrate", folder, windows, threads)
        rows.append(row(f"calibration, {a.windows} × {a.seq_len} tokens", ours["calibration_tokens_per_second"], t["tokens_per_second"], "tokens/s"))

        prompt = os.path.join(a.work, f"{name}.prompt.json")
        json.dump(ours["prompt_ids"], open(prompt, "w"))
        n = len(ours["generated_ids"])
        t = torch(a.venv, "generate", folder, prompt, n, threads)
        rows.append(row(f"greedy generation, {n} tokens", n / ours["generation_seconds"], t["tokens_per_second"], "tokens/s"))
        rows.append(
            row(
                f"greedy generation, {n} tokens, model load included",
                n / ours["with_load_seconds"],
                t["with_load_tokens_per_second"],
                "tokens/s",
            )
        )
        same = next((i for i, (x, y) in enumerate(zip(ours["generated_ids"], t["ids"])) if x != y), n)
        print(f"  (the two greedy continuations agree on their first {same} of {n} tokens)")

        if a.limit > 0:
            reqs = os.path.join(a.work, f"{name}.requests.jsonl")
            cmd = [a.bin, "eval", "--model", folder, "--device", "cpu", "--limit", str(a.limit), "--tasks", a.tasks]
            secs, _, _ = timed(cmd + ["--ppl-windows", "1", "--ppl-seq-len", "64", "--save-requests", reqs])
            t = torch(a.venv, "score", folder, reqs, threads)
            count = t["requests"]
            rows.append(row(f"eval --limit {a.limit} ({count} requests), load included", secs, t["with_load_seconds"], "s", higher_is_better=False))

        # Dense against pruned at ~35 %: generation speed and peak memory, one process each.
        pruned = os.path.join(a.work, f"{name}-35")
        if not os.path.isfile(os.path.join(pruned, "model.safetensors")):
            run([a.bin, "prune", "--model", folder, "--out", pruned, "--ratio", "35%", "--backend", "cpu", "--samples", "4", "--seq-len", "256", "--no-repair"])
        # Twice each, the faster kept: the first run may read the files from disk.
        speed = {}
        for label, m in (("dense", folder), ("pruned 35%", pruned)):
            for _ in range(2):
                secs, mib, out = timed([a.bin, "generate", "--model", m, "--prompt", "The capital of France is", "--max-tokens", "32", "--device", "cpu"])
                made, gen = re.search(r"(\d+) new tokens in ([\d.]+) s", out.stderr).groups()
                speed[label] = max(speed.get(label, (0, 0)), (int(made) / float(gen), mib))
        (d_tps, d_mib), (p_tps, p_mib) = speed["dense"], speed["pruned 35%"]
        print(f"  dense {d_tps:.2f} tokens/s, peak {d_mib:.0f} MiB; pruned 35 % {p_tps:.2f} tokens/s ({p_tps / d_tps:.2f}×), peak {p_mib:.0f} MiB ({p_mib / d_mib:.2f}×)")
        rows.append({"what": "pruned 35% / dense generation", "dense_tokens_per_second": d_tps, "pruned_tokens_per_second": p_tps, "dense_peak_mib": d_mib, "pruned_peak_mib": p_mib})
        summary[name] = rows
    out = os.path.join(a.work, "summary.json")
    json.dump({"when": time.strftime("%Y-%m-%d %H:%M"), "models": summary}, open(out, "w"), indent=1)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
