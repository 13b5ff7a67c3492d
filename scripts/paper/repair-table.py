"""The repair bake-off's table (Markdown) from results/NAME-repair/*.json: per
configuration V′, I′, share removed, held-out perplexity (dense on the same tokens),
top-1 agreement, the share of the paper's perplexity and agreement gaps to dense that
it closes, and the prune's time and peak memory.

    python3 scripts/paper/repair-table.py results/smollm2-135m-repair
"""
import json
import pathlib
import sys

out = pathlib.Path(sys.argv[1])
rows = {}
for rep in sorted(out.glob("*.report.json")):
    key = rep.name[: -len(".report.json")]
    ppl = out / f"{key}.ppl.json"
    if ppl.exists():
        time = (out / f"{key}.time").read_text().split() if (out / f"{key}.time").exists() else None
        rows[key] = (json.loads(rep.read_text()), json.loads(ppl.read_text()), time)

order = ["paper", "weight", "repair", "weight-repair", "sequential", "residual", "weight-residual", "obs"]
print("| configuration | V′ | I′ | removed | ppl (dense) | top-1 agreement | ppl gap closed | agreement gap closed | prune time | peak RSS |")
print("|---|---|---|---|---|---|---|---|---|---|")
for ratio in sorted({k.split("-")[0] for k in rows}, key=lambda r: int(r[1:])):
    base = rows.get(f"{ratio}-paper")
    for variant in order:
        key = f"{ratio}-{variant}"
        if key not in rows:
            continue
        r, e, time = rows[key]
        ppl, dense, agree = e["perplexity"], e["dense_perplexity"], e["top1_agreement"]
        closed = lambda mine, paper, ideal: f"{100 * (paper - mine) / (paper - ideal):.0f}%" if base and paper != ideal else "—"
        gap_ppl = closed(ppl, base[1]["perplexity"], dense) if variant != "paper" else "—"
        gap_agree = closed(-agree, -base[1]["top1_agreement"], -1.0) if variant != "paper" else "—"
        secs = f"{float(time[0]):.0f} s" if time else "—"
        rss = f"{int(time[1]) / 1024:.0f} MiB" if time else "—"
        print(f"| {key} | {r['plan']['vocab'][1]} | {r['plan']['ffn'][1]} | {100 * r['reduction']:.1f}% | {ppl:.2f} ({dense:.2f}) "
              f"| {100 * agree:.1f}% | {gap_ppl} | {gap_agree} | {secs} | {rss} |")
