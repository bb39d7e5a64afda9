#!/usr/bin/env python3
"""The cross-world table of `make worlds` from each world's ablation.csv, yardstick.txt and world.json (the report is
the only reader of world.json). Usage: worlds_report.py OUT FAMILY... -- SEED...  Writes OUT/worlds.csv, worlds.md and
worlds.svg, and prints the Markdown table with the acceptance checks of issue #15."""
import csv, json, os, sys
from collections import defaultdict

out = sys.argv[1]
split = sys.argv.index("--")
families, seeds = sys.argv[2:split], sys.argv[split + 1:]
VARIANTS = ["identity", "ridge", "ridge+memory", "ridge+knowledge", "ridge+all", "base", "+memory", "+retrieval",
            "+reflector", "+all"]


def ablation(path):
    cells = defaultdict(list)  # (variant, step) -> cosines over modalities
    with open(path) as f:
        for row in csv.DictReader(f):
            cells[(row["variant"], int(row["step"]))].append(float(row["cosine"]))
    means = {k: sum(v) / len(v) for k, v in cells.items()}
    ablation.below_identity = sorted({(v, s) for (v, s), m in means.items()
                                      if v != "identity" and ("identity", s) in means and m < means[("identity", s)]})
    steps = max(s for _, s in means)
    def over(variant, lo, hi):
        vals = [means[(variant, s)] for s in range(lo, min(hi, steps) + 1) if (variant, s) in means]
        return sum(vals) / len(vals) if vals else None
    return {v: (means.get((v, 1)), over(v, 3, 7)) for v in {k[0] for k in means}}


def yardstick(path):
    rows = {}
    for line in open(path):
        parts = line.split()
        if parts and parts[0] == "told":
            name = " ".join(parts[:2])
            rows[name] = float(parts[-1])
        elif parts and parts[0] in ("identity", "ridge"):
            try: rows[parts[0]] = float(parts[-1])
            except ValueError: pass
    return rows


records, checks = [], []
for family in families:
    for seed in seeds:
        d = os.path.join(out, f"{family}-{seed}")
        a = ablation(os.path.join(d, "ablation", "ablation.csv"))
        y = yardstick(os.path.join(d, "yardstick.txt"))
        world_json = json.load(open(os.path.join(d, "world", "world.json")))
        oracle = world_json["oracles"]["mean"]
        kb_noise = float(world_json.get("config", {}).get("kbNoise", world_json.get("config", {}).get("kb_noise", 0)) or 0)
        below = ablation.below_identity
        rec = {"world": f"{family}-{seed}"}
        for v in VARIANTS:
            s1, s37 = a.get(v, (None, None))
            rec[f"{v} @1"], rec[f"{v} @3-7"] = s1, s37
        rec["told ridge (test)"] = y.get("told ridge")
        rec["told ridge+knowledge (test)"] = y.get("told ridge+knowledge")
        rec["ridge (test)"] = y.get("ridge")
        for k in ("identity", "stateActionOnly", "noScenario", "noHistory", "trueDynamics"):
            rec[f"oracle {k}"] = oracle[k]
        records.append(rec)
        g = lambda key: rec.get(key) or 0.0
        told_gain = g("told ridge+knowledge (test)") - g("ridge (test)")
        checks.append((rec["world"], [
            ("base ≥ ridge @1", g("base @1") >= g("ridge @1")),
            ("+memory−base ≥ ridge+memory−ridge (3–7)", g("+memory @3-7") - g("base @3-7") >= g("ridge+memory @3-7") - g("ridge @3-7")),
            ("+all−base @1 ≥ 0.8×told gain", g("+all @1") - g("base @1") >= 0.8 * told_gain),
        ] + ([("+all−base @1 ≥ 1.5 (knowledge worth ≥ 5)", g("+all @1") - g("base @1") >= 1.5)]
             if oracle["trueDynamics"] - oracle["noScenario"] >= 5 else [])
          + ([("+reflector ≥ +retrieval + 0.5 @1 (noisy KB)", g("+reflector @1") >= g("+retrieval @1") + 0.5)] if kb_noise > 0 else [])
          + [("no variant below identity at any step", not below)]))
        rec["below identity"] = ", ".join(f"{v}@{s}" for v, s in below) or "none"

keys = list(records[0].keys())
with open(os.path.join(out, "worlds.csv"), "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=keys)
    w.writeheader()
    for r in records: w.writerow({k: ("" if v is None else (f"{v:.2f}" if isinstance(v, float) else v)) for k, v in r.items()})

fmt = lambda v: "–" if v is None else f"{v:.2f}"
lines = ["| variant | " + " | ".join(r["world"] + " @1 / 3–7" for r in records) + " |",
         "|---|" + "---|" * len(records)]
for v in VARIANTS:
    lines.append(f"| {v} | " + " | ".join(f"{fmt(r[f'{v} @1'])} / {fmt(r[f'{v} @3-7'])}" for r in records) + " |")
for k in ("ridge (test)", "told ridge (test)", "told ridge+knowledge (test)", "oracle identity", "oracle stateActionOnly",
          "oracle noScenario", "oracle noHistory", "oracle trueDynamics"):
    lines.append(f"| {k} | " + " | ".join(fmt(r[k]) for r in records) + " |")
lines.append("")
for world, cs in checks:
    lines.append(f"- {world}: " + "; ".join(f"{name} {'yes' if ok else 'NO'}" for name, ok in cs))
table = "\n".join(lines)
open(os.path.join(out, "worlds.md"), "w").write(table + "\n")
print(table)

# SVG: per world, the gains over base/ridge at step 1 (knowledge) and over steps 3–7 (memory), model vs ridge.
bars = []
for r in records:
    g = lambda key: r.get(key) or 0.0
    bars.append((r["world"], [("knowledge, model", g("+all @1") - g("base @1")), ("knowledge, ridge", g("ridge+knowledge @1") - g("ridge @1")),
                              ("memory, model", g("+memory @3-7") - g("base @3-7")), ("memory, ridge", g("ridge+memory @3-7") - g("ridge @3-7"))]))
colors = ["#1f77b4", "#aec7e8", "#d62728", "#ff9896"]
width, height, left, top = 120 * len(bars) + 80, 320, 50, 30
top_value = max([v for _, bs in bars for _, v in bs] + [1.0])
scale = (height - top - 60) / top_value
base_y = height - 60
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
       f'<text x="{left}" y="16">gain in cosine ×100: model (dark) vs ridge (light); knowledge at step 1, memory over steps 3–7</text>',
       f'<line x1="{left}" y1="{base_y}" x2="{width - 10}" y2="{base_y}" stroke="black"/>']
for i, (world, bs) in enumerate(bars):
    x0 = left + 10 + i * 120
    for j, (name, v) in enumerate(bs):
        h = max(v, 0) * scale
        svg.append(f'<rect x="{x0 + j * 24}" y="{base_y - h:.1f}" width="20" height="{h:.1f}" fill="{colors[j]}"><title>{name}: {v:+.2f}</title></rect>')
    svg.append(f'<text x="{x0}" y="{base_y + 16}">{world}</text>')
for j, (name, _) in enumerate(bars[0][1]):
    svg.append(f'<rect x="{left + j * 130}" y="{height - 28}" width="10" height="10" fill="{colors[j]}"/><text x="{left + j * 130 + 14}" y="{height - 19}">{name}</text>')
svg.append("</svg>")
open(os.path.join(out, "worlds.svg"), "w").write("\n".join(svg) + "\n")
