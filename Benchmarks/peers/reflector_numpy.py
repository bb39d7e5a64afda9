#!/usr/bin/env python3
"""Peer (numpy + scipy.special.erf) for the reflector benchmark: WorldGPT's reflector forward (reflector.json forward_math) in numpy float32.

Usage: reflector_numpy.py LAYERS OUT_WIDTH BATCH TRIPLETS REPEATS  -> prints milliseconds per forward call.
Same shapes as ReflectorBench.swift (H=768, 12 heads, FFN 3072, 4 query tokens); random weights.
"""
import sys
import time

import numpy as np
from math import sqrt

from scipy.special import erf

layers, out_width, batch, triplets, repeats = map(int, sys.argv[1:6])
rng = np.random.default_rng(0)
H, HEADS, FFN, Q, D = 768, 12, 3072, 4, 768


def lin(i, o):
    return (rng.standard_normal((o, i), dtype=np.float32) * 0.02, np.zeros(o, np.float32))


def ln():
    return (np.ones(H, np.float32), np.zeros(H, np.float32))


fc1, fc2, fc3 = lin(2 * D, H), lin(D, H), lin(H, out_width)
emb = ln()
qt = rng.standard_normal((1, Q, H), dtype=np.float32) * 0.02
blocks = [dict(sq=lin(H, H), sk=lin(H, H), sv=lin(H, H), so=lin(H, H), sl=ln(), cq=lin(H, H), ck=lin(H, H), cv=lin(H, H),
               co=lin(H, H), cl=ln(), fi=lin(H, FFN), fo=lin(FFN, H), fl=ln()) for _ in range(layers)]


def apply(p, x):
    flat = x.reshape(-1, x.shape[-1]) @ p[0].T + p[1]
    return flat.reshape(x.shape[:-1] + (p[0].shape[0],))


def norm(p, x):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + 1e-12) * p[0] + p[1]


def attention(b, pre, x, ctx):
    B, T, _ = x.shape
    S = ctx.shape[1]
    q = apply(b[pre + "q"], x).reshape(B, T, HEADS, 64).transpose(0, 2, 1, 3)
    k = apply(b[pre + "k"], ctx).reshape(B, S, HEADS, 64).transpose(0, 2, 1, 3)
    v = apply(b[pre + "v"], ctx).reshape(B, S, HEADS, 64).transpose(0, 2, 1, 3)
    s = q @ k.transpose(0, 1, 3, 2) / 8.0
    s = np.exp(s - s.max(-1, keepdims=True))
    s /= s.sum(-1, keepdims=True)
    c = (s @ v).transpose(0, 2, 1, 3).reshape(B, T, H)
    return apply(b[pre + "o"], c)


def gelu(x):
    return 0.5 * x * (1 + erf(x / np.float32(sqrt(2))))


def forward(s0, a, ctx):
    x = apply(fc1, np.concatenate([s0, a], -1))[:, None, :]
    c = apply(fc2, ctx)
    h = norm(emb, qt + x)
    for b in blocks:
        h = norm(b["sl"], attention(b, "s", h, h) + h)
        h = norm(b["cl"], attention(b, "c", h, c) + h)
        h = norm(b["fl"], apply(b["fo"], gelu(apply(b["fi"], h))) + h)
    return apply(fc3, h)


s0 = rng.standard_normal((batch, D), dtype=np.float32)
a = rng.standard_normal((batch, D), dtype=np.float32)
ctx = rng.standard_normal((batch, 3 * triplets, D), dtype=np.float32)
forward(s0, a, ctx)
start = time.perf_counter()
for _ in range(repeats):
    forward(s0, a, ctx)
print(f"{(time.perf_counter() - start) / repeats * 1000:.4f}")
