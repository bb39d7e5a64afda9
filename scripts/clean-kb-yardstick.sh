#!/usr/bin/env bash
# The filter's headroom on a noisy-KB world (issue #15, report only: reads world.json's generator facts). Makes a copy
# of DIR/world whose KB leaves out the entries the generator corrupted or mislabelled (generatorOnly.kbNoise), then runs
# the same ablation as scripts/worlds.sh with that KB. A perfect filter could at best turn +retrieval over the noisy KB
# into +retrieval over the clean one; the difference bounds what +reflector can gain over +retrieval.
# Writes DIR/world/kb-clean.yaml, DIR/world/state/action_kb_clean.json and DIR/ablation-clean-kb/.
# Usage: scripts/clean-kb-yardstick.sh DIR (a world folder of make worlds: DIR/world, DIR/reflector, DIR/ablation)
set -euo pipefail
dir="${1:?usage: scripts/clean-kb-yardstick.sh DIR}"
bin="${WORLDGPT_BIN:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/worldgpt}"
world="$dir/world"
# Beside the world's own files (the dataset root refuses paths that leave it): kb-clean.yaml naming
# state/action_kb_clean.json. Nothing reads them unless told to.
python3 - "$world" <<'PY'
import json, sys
world = sys.argv[1]
noise = {n["index"] for n in json.load(open(f"{world}/world.json"))["generatorOnly"].get("kbNoise", [])}
kb = json.load(open(f"{world}/state/action_kb.json"))
json.dump([e for i, e in enumerate(kb) if i not in noise], open(f"{world}/state/action_kb_clean.json", "w"))
text = open(f"{world}/kb.yaml").read()
assert "state/action_kb.json" in text, "kb.yaml does not name state/action_kb.json"
open(f"{world}/kb-clean.yaml", "w").write(text.replace("state/action_kb.json", "state/action_kb_clean.json"))
print(f"clean KB: {len(kb) - len(noise)} of {len(kb)} entries ({len(noise)} noisy left out)")
PY
"$bin" eval --ablation --no-ridge --model "$dir/reflector/model" --reflector "$dir/reflector/reflector.pt" \
    --data "$dir/world" --kb "$world/kb-clean.yaml" --report-dir "$dir/ablation-clean-kb" --threads "${THREADS:-2}" > "$dir/ablation-clean-kb.log" 2>&1
python3 - "$dir" <<'PY'
import csv, sys
d = sys.argv[1]
def step1(path):
    return {r["variant"]: float(r["cosine"]) for r in csv.DictReader(open(path)) if r["step"] == "1" and r["modality"] == "mean"}
noisy, clean = step1(f"{d}/ablation/ablation.csv"), step1(f"{d}/ablation-clean-kb/ablation.csv")
for v in ("+retrieval", "+reflector", "+all"):
    print(f"{v:12s} step 1: noisy KB {noisy[v]:.2f}, clean KB {clean[v]:.2f}, clean − noisy {clean[v] - noisy[v]:+.2f}")
print(f"filter headroom (clean +retrieval − noisy +retrieval): {clean['+retrieval'] - noisy['+retrieval']:+.2f}; "
      f"the filter's gain (noisy +reflector − noisy +retrieval): {noisy['+reflector'] - noisy['+retrieval']:+.2f}")
PY
