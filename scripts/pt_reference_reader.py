#!/usr/bin/env python3
"""Independent reader for .pt files written by `TorchFile.save`: emulates torch.load(weights_only=True) with
Python's own unpickler (restricted find_class + persistent_load over the zip records) and numpy, then prints
the loaded structure as JSON. Used by FormatsTests as a cross-check when python3 + numpy are available;
torch itself is not needed. Exit status 2 = refused/unreadable."""
import collections, json, pickle, struct, sys, zipfile

import numpy as np

STORAGES = {"FloatStorage": "<f4", "HalfStorage": "<f2", "DoubleStorage": "<f8", "LongStorage": "<i8",
            "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
            "BoolStorage": "?", "BFloat16Storage": "<u2"}


class StorageType:
    def __init__(self, name):
        self.name = name


class Tensor:
    def __init__(self, array, dtype, parameter=False, requires_grad=False):
        self.array, self.dtype, self.parameter, self.requires_grad = array, dtype, parameter, requires_grad


def rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks, metadata=None):
    name, data = storage
    base = np.frombuffer(data, dtype=STORAGES[name])
    view = np.lib.stride_tricks.as_strided(base[offset:], shape=tuple(size),
                                           strides=tuple(s * base.itemsize for s in stride)) if size else base[offset:offset + 1].reshape(())
    return Tensor(np.array(view), name, False, requires_grad)


def rebuild_parameter(tensor, requires_grad, hooks):
    return Tensor(tensor.array, tensor.dtype, True, requires_grad)


ALLOWED = {("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor_v2,
           ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
           ("collections", "OrderedDict"): collections.OrderedDict,
           ("_codecs", "encode"): lambda s, enc: s.encode(enc)}


def main(path):
    z = zipfile.ZipFile(path)
    pkl = [n for n in z.namelist() if n.endswith("/data.pkl")]
    assert len(pkl) == 1, "exactly one data.pkl"
    prefix = pkl[0][:-len("data.pkl")]
    assert z.read(prefix + "byteorder") == b"little"
    assert z.read(prefix + "version").strip() == b"3"
    # torch aligns storage payloads to 64 bytes; check the local headers.
    raw = open(path, "rb").read()
    for info in z.infolist():
        if info.filename.startswith(prefix + "data/"):
            n, e = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
            assert (info.header_offset + 30 + n + e) % 64 == 0, "unaligned " + info.filename

    class Restricted(pickle.Unpickler):
        def find_class(self, module, name):
            if module == "torch" and name in STORAGES:
                return StorageType(name)
            if (module, name) in ALLOWED:
                return ALLOWED[(module, name)]
            raise pickle.UnpicklingError("forbidden " + module + "." + name)

        def persistent_load(self, pid):
            kind, storage_type, key, location, numel = pid
            assert kind == "storage" and location == "cpu"
            data = z.read(prefix + "data/" + key)
            assert len(data) == numel * np.dtype(STORAGES[storage_type.name]).itemsize
            return (storage_type.name, data)

    obj = Restricted(z.open(pkl[0])).load()

    def describe(v):
        if isinstance(v, Tensor):
            a = v.array
            if v.dtype == "BFloat16Storage":
                a = (a.astype(np.uint32) << 16).view(np.float32)
            return {"tensor": v.dtype, "shape": list(v.array.shape), "parameter": v.parameter,
                    "requires_grad": v.requires_grad, "values": [float(x) for x in a.reshape(-1).astype(np.float64)]}
        if isinstance(v, dict):
            return {"dict": [[describe(k), describe(x)] for k, x in v.items()]}
        if isinstance(v, list):
            return {"list": [describe(x) for x in v]}
        if isinstance(v, tuple):
            return {"tuple": [describe(x) for x in v]}
        if isinstance(v, bytes):
            return {"bytes": list(v)}
        if isinstance(v, bool) or v is None or isinstance(v, (int, float, str)):
            return {type(v).__name__: v}
        raise TypeError(type(v))

    print(json.dumps(describe(obj)))


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except Exception as error:  # report any refusal as exit status 2
        print(repr(error), file=sys.stderr)
        sys.exit(2)
