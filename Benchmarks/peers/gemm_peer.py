"""Peer for the GEMM benchmark: numpy float32 matmul. Set OPENBLAS_NUM_THREADS before running.

usage: gemm_peer.py M N K
Prints one JSON line: {"gflops": best GFLOP/s over repeats, "numpy": version, "blas": info}.
"""
import json
import sys
import time

import numpy as np


def main():
    m, n, k = (int(x) for x in sys.argv[1:4])
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    a @ b  # warm-up
    reps = max(3, int(2e10 / (2 * m * n * k)))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = min(best, (time.perf_counter() - start) / reps)
    blas = "unknown"
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]["name"] + " " + str(cfg["Build Dependencies"]["blas"].get("version", ""))
    except Exception:
        pass
    print(json.dumps({"gflops": 2 * m * n * k / best / 1e9, "numpy": np.__version__, "blas": blas}))


if __name__ == "__main__":
    main()
