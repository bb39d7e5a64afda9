#!/usr/bin/env python3
"""Generalisation cross-check of the Swift .pt reader and writer against real PyTorch (never run in CI).

Generates random torch.save files — every dtype, random shapes (0-d, empty), views with storage offsets,
transposes, steps, expands (stride 0), selects, Parameters, nested dict/list/tuple/scalars, zip and legacy
formats, pickle protocols 2 and 4 — then
  1. runs `worldgpt inspect --json` on each and compares dtype, shape, float64 sum and head with torch's values;
  2. runs `worldgpt convert` (.pt -> .pt written by our writer) and reloads the result with
     torch.load(weights_only=True), comparing every tensor bit for bit.
Usage: bench-out/venv-formats/bin/python Benchmarks/peers/torch_formats_crosscheck.py [--cases 300] [--worldgpt PATH]
Set up the venv with Benchmarks/peers/setup-formats-venv.sh.
"""
import argparse, json, math, os, random, subprocess, sys, tempfile

import torch

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int32, torch.int16,
          torch.int8, torch.uint8, torch.bool]
NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float64: "float64",
         torch.int64: "int64", torch.int32: "int32", torch.int16: "int16", torch.int8: "int8", torch.uint8: "uint8",
         torch.bool: "bool"}


def random_tensor(rng, gen):
    dtype = rng.choice(DTYPES)
    rank = rng.choice([0, 1, 1, 2, 2, 3, 4])
    shape = [rng.choice([0, 1, 2, 3, 5, 7]) if rng.random() < 0.15 else rng.randint(1, 9) for _ in range(rank)]
    base = torch.randn(*shape, generator=gen) * 50 if rank else torch.randn((), generator=gen) * 50
    t = base.to(dtype) if dtype != torch.bool else base > 0
    # Random view operations (keep the full storage, as torch.save does for views).
    for _ in range(rng.randint(0, 3)):
        if t.dim() == 0:
            break
        op = rng.choice(["slice", "step", "transpose", "expand", "select", "permute", "narrow"])
        d = rng.randrange(t.dim())
        n = t.shape[d]
        if op == "slice" and n > 1:
            a = rng.randrange(n); b = rng.randint(a, n)
            t = t.narrow(d, a, b - a)
        elif op == "step" and n > 1:
            t = t[(slice(None),) * d + (slice(rng.randrange(n), None, rng.randint(2, 3)),)]
        elif op == "transpose" and t.dim() > 1:
            t = t.transpose(d, (d + 1) % t.dim())
        elif op == "permute" and t.dim() > 2:
            p = list(range(t.dim())); rng.shuffle(p); t = t.permute(*p)
        elif op == "expand" and n == 1:
            size = list(t.shape); size[d] = rng.randint(2, 4); t = t.expand(*size)
        elif op == "select" and n > 0:
            t = t.select(d, rng.randrange(n))
        elif op == "narrow" and n > 2:
            t = t.narrow(d, 1, n - 2)
    if t.is_floating_point() and rng.random() < 0.25:
        t = torch.nn.Parameter(t.clone() if rng.random() < 0.5 else t, requires_grad=rng.random() < 0.7)
    return t


def random_value(rng, gen, depth=0):
    r = rng.random()
    if depth > 2 or r < 0.45:
        return random_tensor(rng, gen)
    if r < 0.55:
        return rng.choice([None, True, False, rng.randint(-10**12, 10**12), rng.uniform(-1e3, 1e3), "text ✓", 7])
    if r < 0.8:
        return {f"k{i}": random_value(rng, gen, depth + 1) for i in range(rng.randint(0, 4))}
    if r < 0.9:
        return [random_value(rng, gen, depth + 1) for _ in range(rng.randint(0, 3))]
    return tuple(random_value(rng, gen, depth + 1) for _ in range(rng.randint(0, 3)))


def expected(v):
    if isinstance(v, torch.Tensor):
        flat = v.detach().reshape(-1)
        head = flat[:8]
        if v.dtype == torch.bool:
            head = [bool(x) for x in head.tolist()]
        elif v.is_floating_point():
            head = [float(x) for x in head.double().tolist()]
        else:
            head = [int(x) for x in head.tolist()]
        return {"dtype": NAMES[v.dtype], "shape": list(v.shape), "sum": float(flat.double().sum().item()) if flat.numel() else 0.0,
                "head": head, "_abs": float(flat.double().abs().sum().item()) if flat.numel() else 0.0}
    if isinstance(v, dict):
        return {k: expected(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [expected(x) for x in v]
    return v


def compare(ours, exp, path, problems):
    if isinstance(exp, dict) and "dtype" in exp and "_abs" in exp:
        if not isinstance(ours, dict):
            problems.append(f"{path}: expected a tensor, got {ours!r}"); return
        for key in ("dtype", "shape"):
            if ours.get(key) != exp[key]:
                problems.append(f"{path}: {key} {ours.get(key)} != {exp[key]}")
        if ours.get("head") != exp["head"]:
            problems.append(f"{path}: head {ours.get('head')} != {exp['head']}")
        s = ours.get("sum")
        if s is None or abs(s - exp["sum"]) > 1e-9 * max(1.0, exp["_abs"]):
            problems.append(f"{path}: sum {s} != {exp['sum']}")
    elif isinstance(exp, dict):
        if not isinstance(ours, dict) or list(ours.keys()) != list(exp.keys()):
            problems.append(f"{path}: keys {list(ours.keys()) if isinstance(ours, dict) else ours} != {list(exp.keys())}"); return
        for k in exp:
            compare(ours[k], exp[k], f"{path}.{k}", problems)
    elif isinstance(exp, list):
        if not isinstance(ours, list) or len(ours) != len(exp):
            problems.append(f"{path}: {ours!r} != {exp!r}"); return
        for i, (a, b) in enumerate(zip(ours, exp)):
            compare(a, b, f"{path}[{i}]", problems)
    elif isinstance(exp, float):
        if not isinstance(ours, (int, float)) or ours != exp:
            problems.append(f"{path}: {ours!r} != {exp!r}")
    elif ours != exp or type(ours) != type(exp):
        problems.append(f"{path}: {ours!r} != {exp!r}")


def raw_bytes(x):
    """The elements of `x` in row-major order as bytes (bit-exact comparison, NaN-safe)."""
    flat = torch.empty(x.numel(), dtype=x.dtype)
    flat.copy_(x.detach().reshape(-1))
    return flat if x.dtype == torch.bool else flat.view(torch.uint8)


def same(a, b, path, problems):
    """Structure, scalars and tensors (bit for bit, Parameter-ness, requires_grad) of `b` equal those of `a`."""
    if isinstance(a, torch.Tensor):
        if not isinstance(b, torch.Tensor):
            problems.append(f"{path}: not a tensor after our writer"); return
        if a.dtype != b.dtype or a.shape != b.shape or not torch.equal(raw_bytes(a), raw_bytes(b)):
            problems.append(f"{path}: tensor differs after our writer")
        if isinstance(a, torch.nn.Parameter) != isinstance(b, torch.nn.Parameter) or a.requires_grad != b.requires_grad:
            problems.append(f"{path}: Parameter/requires_grad differs after our writer")
    elif isinstance(a, dict):
        if not isinstance(b, dict) or list(a) != list(b):
            problems.append(f"{path}: dict keys differ after our writer"); return
        for k in a:
            same(a[k], b[k], f"{path}.{k}", problems)
    elif isinstance(a, (list, tuple)):
        if type(a) != type(b) or len(a) != len(b):
            problems.append(f"{path}: {type(a).__name__} differs after our writer"); return
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{path}[{i}]", problems)
    elif type(a) != type(b) or a != b:
        problems.append(f"{path}: {a!r} != {b!r} after our writer")


def flatten(v, prefix=""):
    join = (lambda k: f"{prefix}.{k}" if prefix else str(k))
    if isinstance(v, torch.Tensor):
        return [(prefix, v)]
    if isinstance(v, dict):
        return [x for k, item in v.items() for x in flatten(item, join(k))]
    if isinstance(v, (list, tuple)):
        return [x for i, item in enumerate(v) for x in flatten(item, join(i))]
    return []


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worldgpt", default=".build/debug/worldgpt")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    failures = 0
    kinds = {"zip p2": 0, "zip p4": 0, "legacy": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for case in range(args.cases):
            value = {"root": random_value(rng, gen)} if rng.random() < 0.5 else random_value(rng, gen)
            path = os.path.join(tmp, f"case{case}.pt")
            kind = rng.choice(list(kinds))
            kinds[kind] += 1
            if kind == "legacy":
                torch.save(value, path, _use_new_zipfile_serialization=False)
            else:
                torch.save(value, path, pickle_protocol=2 if kind == "zip p2" else 4)
            problems = []
            out = subprocess.run([args.worldgpt, "inspect", "--json", path], capture_output=True, text=True)
            if out.returncode != 0:
                problems.append(f"inspect failed: {out.stderr.strip()}")
            else:
                compare(json.loads(out.stdout), expected(value), "$", problems)
            # Our writer (structure kept), read back by torch with weights_only=True.
            converted = os.path.join(tmp, f"case{case}-ours.pt")
            out = subprocess.run([args.worldgpt, "convert", path, converted], capture_output=True, text=True)
            if out.returncode != 0:
                problems.append(f"convert failed: {out.stderr.strip()}")
            else:
                same(value, torch.load(converted, weights_only=True), "$", problems)
            if problems:
                failures += 1
                print(f"case {case} ({kind}): " + "; ".join(problems[:5]))
    print(f"torch cross-check: {args.cases} files ({kinds}), {args.cases - failures} ok, {failures} failed (torch {torch.__version__})")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
