#!/usr/bin/env python3
"""Peers for `make bench` (RetrievalBench.swift): FAISS IndexFlatIP and hnswlib on the anchors data.

Data come from ../shared/anchors/anchors.py (768-d unit vectors, clustered/random, seed 20250101) so figures
compare with ../shared/anchors/RESULTS.md. Writes the data as .npy (read by the Swift benchmark), the exact
top-10 ground truth, and one JSON object with every peer figure to --out.
Run with the venv of bench-out/venv-retrieval (numpy, faiss-cpu, hnswlib, threadpoolctl).
"""
import argparse
import json
import os
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--data-dir", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--anchors", default=os.path.join(os.path.dirname(__file__), "../../../shared/anchors"))
ap.add_argument("--n", type=int, default=100_000)
ap.add_argument("--n-large", type=int, default=1_000_000)
ap.add_argument("--nq1", type=int, default=200)
ap.add_argument("--nq1-large", type=int, default=20)
ap.add_argument("--efs", default="16,24,28,32,48,64,96")
ap.add_argument("--sections", default="data,flat,flat_large,hnsw")
a = ap.parse_args()

os.environ["ANCHORS_DATA"] = a.data_dir
sys.path.insert(0, os.path.abspath(a.anchors))
import numpy as np  # noqa: E402
import anchors  # noqa: E402
import faiss  # noqa: E402

sections = set(a.sections.split(","))
out = {"n": a.n, "n_large": a.n_large, "faiss": faiss.__version__}
K = 10


def p50(xs):
    return float(np.median(np.asarray(xs)))


def exact_gt(X, Q):
    faiss.omp_set_num_threads(2)
    idx = faiss.IndexFlatIP(X.shape[1])
    idx.add(X)
    _, ids = idx.search(Q, K)
    return ids


def save(name, arr):
    np.save(os.path.join(a.data_dir, name), np.ascontiguousarray(arr))


def recall(found, gt):
    return float(np.mean([len(set(f[:K].tolist()) & set(g[:K].tolist())) / K for f, g in zip(found, gt)]))


Q = anchors.load_queries("clustered")
if "data" in sections:
    t = time.time()
    Xs = anchors.load_base("clustered", a.n)
    save(f"bench_clustered_{a.n}.npy", Xs)
    save("bench_clustered_queries.npy", Q)
    save(f"bench_gt_clustered_{a.n}.npy", exact_gt(Xs, Q).astype(np.int64))
    del Xs
    if "flat_large" in sections:
        XL = anchors.load_base("clustered", a.n_large, in_ram=False)
        save(f"bench_clustered_{a.n_large}.npy", XL)
        del XL
    out["data_s"] = time.time() - t

if "flat" in sections:
    X = np.load(os.path.join(a.data_dir, f"bench_clustered_{a.n}.npy"))
    idx = faiss.IndexFlatIP(X.shape[1])
    idx.add(X)
    res = {}
    for th in (1, 2):
        faiss.omp_set_num_threads(th)
        idx.search(Q[:1], K)
        lat = []
        for i in range(a.nq1):
            t = time.perf_counter(); idx.search(Q[i:i + 1], K); lat.append(time.perf_counter() - t)
        t = time.perf_counter(); _, ids = idx.search(Q, K); dt = time.perf_counter() - t
        res[str(th)] = {"b1_p50_ms": p50(lat) * 1e3, "b1000_qps": len(Q) / dt}
    out["faiss_flat"] = res
    del X, idx

if "flat_large" in sections:
    X = np.load(os.path.join(a.data_dir, f"bench_clustered_{a.n_large}.npy"))
    idx = faiss.IndexFlatIP(X.shape[1])
    idx.add(X)
    res = {}
    for th in (1, 2):
        faiss.omp_set_num_threads(th)
        idx.search(Q[:1], K)
        lat = []
        for i in range(a.nq1_large):
            t = time.perf_counter(); idx.search(Q[i:i + 1], K); lat.append(time.perf_counter() - t)
        res[str(th)] = {"b1_p50_ms": p50(lat) * 1e3}
    out["faiss_flat_large"] = res
    # read bandwidth as in anchors (np.sum over a 2 GiB array; best of 5)
    big = np.ones(512 * 1024 * 1024, dtype=np.float32)
    best = 0
    for _ in range(5):
        t = time.perf_counter(); big.sum(); dt = time.perf_counter() - t
        best = max(best, big.nbytes / dt / 1e9)
    out["numpy_read_GBps_1t"] = best
    del X, idx, big

if "hnsw" in sections:
    import hnswlib
    X = np.load(os.path.join(a.data_dir, f"bench_clustered_{a.n}.npy"))
    gt = np.load(os.path.join(a.data_dir, f"bench_gt_clustered_{a.n}.npy"))
    p = hnswlib.Index(space="ip", dim=X.shape[1])
    p.init_index(max_elements=a.n, M=16, ef_construction=200, random_seed=100)
    p.set_num_threads(2)
    t = time.perf_counter(); p.add_items(X, np.arange(a.n)); build = time.perf_counter() - t
    p.set_num_threads(1)
    sweep = []
    for ef in [int(e) for e in a.efs.split(",")]:
        p.set_ef(ef)
        best_qps, found = 0, None
        for _ in range(2):
            labels = []
            t = time.perf_counter()
            for i in range(len(Q)):
                l, _ = p.knn_query(Q[i:i + 1], k=K); labels.append(l[0])
            dt = time.perf_counter() - t
            best_qps = max(best_qps, len(Q) / dt); found = labels
        sweep.append({"ef": ef, "recall": recall(found, gt), "b1_qps": best_qps})
    out["hnswlib"] = {"build_s": build, "build_rows_per_s": a.n / build, "sweep": sweep}

with open(a.out, "w") as f:
    json.dump(out, f, indent=1)
print(json.dumps(out))
