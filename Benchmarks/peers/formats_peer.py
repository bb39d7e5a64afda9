#!/usr/bin/env python3
"""Peer timings for the Formats benchmark: torch.load / torch.save / numpy.load / a numpy safetensors reader.
Prints one line per operation: `<op> <median milliseconds>`. Run by WorldGPTBench (never in CI)."""
import json, statistics, struct, sys, time

import numpy as np

repeats = 5


def timed(fn):
    fn()  # warm up (page cache)
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def safetensors_numpy(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    codes = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4", "U8": "u1", "BOOL": "?", "BF16": "<u2"}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data, dtype=codes[info["dtype"]], count=(e - b) // np.dtype(codes[info["dtype"]]).itemsize,
                                  offset=8 + n + b).reshape(info["shape"]).copy()
    return out


def main():
    args = dict(a.split("=", 1) for a in sys.argv[1:])
    if "npy" in args:
        print("npy_read", timed(lambda: np.load(args["npy"])))
    if "safetensors" in args:
        print("safetensors_read", timed(lambda: safetensors_numpy(args["safetensors"])))
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)
    if "pt" in args:
        print("pt_load", timed(lambda: torch.load(args["pt"], weights_only=True)))
        value = torch.load(args["pt"], weights_only=True)
        print("pt_save", timed(lambda: torch.save(value, args["pt_out"])))
    if "reflector" in args:
        print("reflector_load", timed(lambda: torch.load(args["reflector"], weights_only=True)))


if __name__ == "__main__":
    main()
