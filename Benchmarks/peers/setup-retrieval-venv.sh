#!/usr/bin/env bash
# Creates bench-out/venv-retrieval (numpy, faiss-cpu, hnswlib) for the retrieval peer benchmark (never used in CI).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p bench-out
if [ ! -x bench-out/venv-retrieval/bin/python ]; then
    python3 -m venv bench-out/venv-retrieval
fi
bench-out/venv-retrieval/bin/pip install -q numpy faiss-cpu hnswlib threadpoolctl
