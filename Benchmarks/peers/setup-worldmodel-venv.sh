#!/usr/bin/env bash
# Creates bench-out/venv-worldmodel with PyTorch CPU for the WorldModel peer benchmark (never used in CI).
# Uses the local CPU wheel in /opt/wheels when present (pip's find-links), else PyPI's torch.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p bench-out
if [ ! -x bench-out/venv-worldmodel/bin/python ]; then
    python3 -m venv bench-out/venv-worldmodel
fi
if ls /opt/wheels/torch-*+cpu-*.whl >/dev/null 2>&1; then
    bench-out/venv-worldmodel/bin/pip install "$(ls /opt/wheels/torch-*+cpu-*.whl | head -1)" numpy
else
    bench-out/venv-worldmodel/bin/pip install torch numpy
fi
