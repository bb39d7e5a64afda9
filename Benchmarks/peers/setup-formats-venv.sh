#!/usr/bin/env bash
# Creates bench-out/venv-formats with PyTorch CPU for the Formats cross-check and benchmark (never used in CI).
# Uses the local CPU wheel in /opt/wheels when present, else PyPI's torch; numpy comes from the system site.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p bench-out
[ -x bench-out/venv-formats/bin/python ] || python3 -m venv --system-site-packages bench-out/venv-formats
if ls /opt/wheels/torch-*+cpu-*.whl >/dev/null 2>&1; then
    bench-out/venv-formats/bin/pip install "$(ls /opt/wheels/torch-*+cpu-*.whl | head -1)" numpy
else
    bench-out/venv-formats/bin/pip install torch numpy
fi
