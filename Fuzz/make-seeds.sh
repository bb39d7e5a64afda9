#!/usr/bin/env bash
# Regenerates the committed seed corpora in Fuzz/corpus (run after a format changes; `make fuzz` only reads them):
# the runtime's writers (`worldgpt-fuzz seeds`), the small torch fixtures of ../shared/fixtures/torch, their
# data.pkl pickles (pickle target) and raw deflate streams of the .npy seeds (deflate target, Python's zlib).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(find .build-fuzz -path '*release/worldgpt-fuzz' -type f | head -1)
[ -x "$bin" ] || { echo "build first: bash scripts/fuzz.sh (or the swift build line in it)"; exit 1; }
# Lazily made globals are still referenced at exit, which LeakSanitizer reports as leaks.
ASAN_OPTIONS=detect_leaks=0 "$bin" seeds Fuzz/corpus
fixtures=../shared/fixtures/torch
if [ -d "$fixtures" ]; then cp "$fixtures"/*.pt Fuzz/corpus/torch/; chmod u+w Fuzz/corpus/torch/*.pt; fi
python3 - <<'PY'
import glob, os, struct, zipfile, zlib
os.makedirs("Fuzz/corpus/pickle", exist_ok=True)
for path in sorted(glob.glob("Fuzz/corpus/torch/*.pt")):
    if not zipfile.is_zipfile(path):
        continue
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.endswith("/data.pkl"):
                with open("Fuzz/corpus/pickle/" + os.path.basename(path)[:-3] + ".pkl", "wb") as f:
                    f.write(z.read(name))
os.makedirs("Fuzz/corpus/deflate", exist_ok=True)
for path in sorted(glob.glob("Fuzz/corpus/npy/*.npy")):
    data = open(path, "rb").read()
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = c.compress(data) + c.flush()
    with open("Fuzz/corpus/deflate/" + os.path.basename(path)[:-4] + ".deflate", "wb") as f:
        f.write(struct.pack("<II", len(data), zlib.crc32(data) & 0xFFFFFFFF) + stream)
PY

# The project's own example configs (examples/) as training and tuning seeds.
cp examples/train-*.yaml Fuzz/corpus/training-yaml/
cp examples/reflector-demo.json Fuzz/corpus/tuning-json/
du -sh Fuzz/corpus
