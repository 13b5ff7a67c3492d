"""The README results table (markdown) from one results/NAME-limitN or sweep folder."""
import json, os, sys
R = sys.argv[1]
rows = [("dense", "Dense"), ("r10", "COMPACT ~10%"), ("r20", "COMPACT ~20%"), ("r35", "COMPACT ~35%"), ("act2_35", "plain act² (no mask), sizes of ~35%"), ("vocab20", "vocabulary only (V' of ~20%)"), ("r20_repair", "~20% + repair (`--repair`)"), ("r35_repair", "~35% + repair (`--repair`)"), ("r35_weight", "~35%, weight-aware score"), ("r35_weight_repair", "~35%, weight-aware score + repair"), ("r50", "COMPACT ~50%"), ("r50_repair", "~50% + repair (`--repair`)"), ("r20_weight", "~20%, weight-aware score"), ("r50_weight", "~50%, weight-aware score")]
# A V'/I' sweep folder (scripts/paper/sweep.sh): dense, then every point by V', largest first.
import re
sweep = sorted((int(m.group(1)), m.group(0)) for f in os.listdir(R) if (m := re.match(r"v(\d+)-i\d+(?=\.eval\.json$)", f)))
if sweep:
    rows = [("dense", "Dense")] + [(key, f"V' {v}") for v, key in reversed(sweep)]
tasks = ["hellaswag", "winogrande", "arc_challenge", "arc_easy", "piqa", "boolq"]
titles = ["HeSw", "WiGr", "ARC-C", "ARC-E", "PIQA", "BoolQ"]
print("| model | V' | I' | params | removed | " + " | ".join(titles) + " | avg | avg % | ppl | top-1 agr. |")
print("|---" * (9 + len(titles)) + "|")
dense_avg = None
for key, label in rows:
    f = f"{R}/{key}.eval.json"
    if not os.path.exists(f):
        continue
    e = json.load(open(f))
    acc = {t["model"]["task"]: t["model"] for t in e["tasks"]}
    vals = [100 * acc[t]["acc_norm" if t in ("hellaswag", "piqa", "arc_challenge", "arc_easy") else "acc"] for t in tasks]
    avg = sum(vals) / len(vals)
    if key == "dense":
        dense_avg = avg
        v = i = params = None
        red, ppl, agr = 0.0, e["perplexity"], None
    else:
        r = json.load(open(f"{R}/{key}.report.json"))
        v, i = r["plan"]["vocab"][1], r["plan"]["ffn"][1]
        params = sum(r["plan"]["after"].values())
        red = r["reduction"]
        p = json.load(open(f"{R}/{key}.ppl.json"))
        ppl, agr = f'{p["perplexity"]:.1f} ({p["dense_perplexity"]:.1f})', p["top1_agreement"]
    size = "—" if params is None else f"{params/1e6:.1f}M"
    print(f"| {label} | {v or '—'} | {i or '—'} | {size} | {100*red:.1f}% | " + " | ".join(f"{x:.0f}" for x in vals) +
          f" | {avg:.1f} | {100*avg/dense_avg:.0f}% | {ppl if isinstance(ppl, str) else f'{ppl:.1f}'} | " + ("—" if agr is None else f"{100*agr:.0f}%") + " |")
