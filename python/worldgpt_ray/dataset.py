"""A PyTorch-style map Dataset over packed sample shards (`worldgpt samples build --pack N`, docs/scale.md).

    from worldgpt_ray.dataset import PackedSamples
    data = PackedSamples("samples/")            # numpy arrays; PackedSamples(folder, as_torch=True) for tensors
    item = data[0]
    item["state0"]        # [M, D] float32, M = 4 modalities in data.modalities order (image, video, audio, text)
    item["state0_mask"]   # [M] bool, True where the modality is present (absent rows are zeros)
    item["context_state0"], item["context_state0_mask"]   # [K, M, D], [K, M]: the kept context, rank order
    item["history_state0"], item["history_state0_mask"]   # [H, M, D], [H, M]: earlier steps, most recent first
    loader = torch.utils.data.DataLoader(data, batch_size=None)   # K and H vary per sample: batch with your own collate

Files are memory-mapped (nothing is read until an item is); only numpy is needed, and torch only for as_torch=True.
The class derives from torch.utils.data.Dataset when torch is importable.
"""
from __future__ import annotations

import bisect
import json
import struct
from pathlib import Path

import numpy as np

try:  # torch is optional: numpy stands in for it
    import torch
    from torch.utils.data import Dataset as _Base
except ImportError:  # pragma: no cover - depends on the machine
    torch = None
    _Base = object

_DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4", "U8": "u1", "BOOL": "?"}
FORMAT = "worldgpt-packed-samples-1"


class PackedSamplesError(ValueError):
    """A packed folder or part that cannot be read, with the file and the reason."""


def read_safetensors(path: Path) -> tuple[dict, dict]:
    """The arrays of a safetensors file, memory-mapped (read-only), and its metadata."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise PackedSamplesError(f"{path}: too short for a safetensors header")
        (size,) = struct.unpack("<Q", raw)
        header = json.loads(f.read(size))
    metadata = header.pop("__metadata__", {})
    base = 8 + size
    arrays = {}
    for name, info in header.items():
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise PackedSamplesError(f"{path}: {name} has dtype {info['dtype']}, not one this reader knows")
        shape = tuple(info["shape"])
        start, end = info["data_offsets"]
        if end - start != int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize:
            raise PackedSamplesError(f"{path}: {name}'s byte range does not match its shape {list(shape)}")
        arrays[name] = (np.zeros(shape, dtype) if end == start
                        else np.memmap(path, dtype=dtype, mode="r", offset=base + start, shape=shape))
    return arrays, metadata


class PackedSamples(_Base):
    """Every sample of a folder's `packed/part-*.safetensors`, in sample order (see the module doc)."""

    def __init__(self, folder: str | Path, as_torch: bool = False):
        if as_torch and torch is None:
            raise ImportError("as_torch=True needs torch; without it the arrays are numpy")
        self.as_torch = as_torch
        indexes = sorted(Path(folder, "packed").glob("part-*.json"))
        if not indexes:
            raise PackedSamplesError(f"{folder}: no packed/part-*.json (build with `worldgpt samples build --pack N`)")
        self.parts, self.starts, self.sample_ids = [], [], []
        self.modalities = None
        total = 0
        for index_file in indexes:
            index = json.loads(index_file.read_text())
            if index.get("format") != FORMAT:
                raise PackedSamplesError(f"{index_file}: format {index.get('format')!r}, expected {FORMAT!r}")
            arrays, _ = read_safetensors(index_file.with_name(index["file"]))
            if arrays["state0"].shape[0] != index["count"]:
                raise PackedSamplesError(f"{index_file}: {index['count']} samples in the index, {arrays['state0'].shape[0]} in the file")
            self.modalities = self.modalities or index["modalities"]
            self.parts.append(arrays)
            self.starts.append(total)
            self.sample_ids += [s["sample_id"] for s in index["samples"]]
            total += index["count"]
        self.total = total

    def __len__(self) -> int:
        return self.total

    def __getitem__(self, i: int) -> dict:
        if i < 0:
            i += self.total
        if not 0 <= i < self.total:
            raise IndexError(f"sample {i} of {self.total}")
        p = bisect.bisect_right(self.starts, i) - 1
        a, r = self.parts[p], i - self.starts[p]
        c0, c1 = int(a["context_offsets"][r]), int(a["context_offsets"][r + 1])
        h0, h1 = int(a["history_offsets"][r]), int(a["history_offsets"][r + 1])
        item = {"index": int(a["index"][r]), "sample_id": self.sample_ids[i]}
        for name in ("state0", "state1"):
            item[name] = np.array(a[name][r])
            item[name + "_mask"] = np.array(a[name + "_mask"][r]).astype(bool)
        item["action"] = np.array(a["action"][r])
        for prefix, lo, hi in (("context_", c0, c1), ("history_", h0, h1)):
            for name in ("state0", "state1"):
                item[prefix + name] = np.array(a[prefix + name][lo:hi])
                item[prefix + name + "_mask"] = np.array(a[prefix + name + "_mask"][lo:hi]).astype(bool)
            item[prefix + "action"] = np.array(a[prefix + "action"][lo:hi])
        item["context_scores"] = np.array(a["context_scores"][c0:c1])
        if self.as_torch:
            item = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in item.items()}
        return item
