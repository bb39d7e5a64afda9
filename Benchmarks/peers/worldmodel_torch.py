"""PyTorch CPU peer of the native world model benchmark (Benchmarks/WorldGPTBench/WorldModelBench.swift).

Same architecture and shapes as NativeWorldModel for the mode (image, audio) -> (video): per-modality input
projections + type embeddings, an action token, one learned query token, pre-LN transformer blocks
(multi-head self-attention, GELU MLP x4), final LayerNorm, a head to the 768-d embedding; cosine loss,
AdamW, gradient clipping at 1.0. Prints one JSON object: samples/s and inference latencies.
Written for this project; run it from bench-out/venv-worldmodel (see setup-worldmodel-venv.sh).
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, width, heads, ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width * ratio)
        self.fc2 = nn.Linear(width * ratio, width)

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attention(h, h, h, need_weights=False)[0]
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class WorldModel(nn.Module):
    def __init__(self, d, a, width, depth, heads, ratio):
        super().__init__()
        self.inputs = nn.ModuleDict({m: nn.Linear(d, width) for m in ["image", "video", "audio", "text"]})
        self.action = nn.Linear(a, width)
        self.type_embedding = nn.Parameter(torch.randn(7, width) * 0.02)
        self.query = nn.Parameter(torch.randn(4, width) * 0.02)
        self.blocks = nn.ModuleList([Block(width, heads, ratio) for _ in range(depth)])
        self.final_norm = nn.LayerNorm(width)
        self.heads = nn.ModuleDict({m: nn.Linear(width, d) for m in ["image", "video", "audio", "text"]})
        self.type_index = {"image": 0, "video": 1, "audio": 2, "text": 3}

    def forward(self, states, action, targets):
        b = action.shape[0]
        tokens = [self.inputs[m](states[m]) + self.type_embedding[self.type_index[m]] for m in states]
        tokens.append(self.action(action) + self.type_embedding[4])
        for m in targets:
            tokens.append(self.query[self.type_index[m]].expand(b, -1))
        x = torch.stack(tokens, dim=1)
        for block in self.blocks:
            x = block(x)
        x = self.final_norm(x)
        out = {}
        for k, m in enumerate(targets):
            delta = self.heads[m](x[:, x.shape[1] - len(targets) + k])
            out[m] = states[m] + delta if m in states else delta
        return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    d, a, pool = 768, 384, 1024
    data = {m: F.normalize(torch.rand(pool, d) - 0.5, dim=1) for m in ["image", "audio", "video"]}
    target = F.normalize(torch.rand(pool, d) - 0.5, dim=1)
    actions = F.normalize(torch.rand(pool, a) - 0.5, dim=1)
    model = WorldModel(d, a, args.width, args.depth, args.heads, 4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)

    def step():
        idx = torch.randint(0, pool, (args.batch,))
        states = {"image": data["image"][idx], "audio": data["audio"][idx]}
        out = model(states, actions[idx], ["video"])
        loss = (1 - F.cosine_similarity(out["video"], target[idx], dim=1)).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    for _ in range(args.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    rate = args.steps * args.batch / (time.perf_counter() - t0)

    model.eval()

    def latency(b, repeats):
        states = {"image": data["image"][:b], "audio": data["audio"][:b]}
        with torch.no_grad():
            F.normalize(model(states, actions[:b], ["video"])["video"], dim=1)
            t = time.perf_counter()
            for _ in range(repeats):
                F.normalize(model(states, actions[:b], ["video"])["video"], dim=1)
        return (time.perf_counter() - t) / repeats * 1000

    print(json.dumps({
        "samples_per_second": rate,
        "latency_batch1_ms": latency(1, 50),
        "latency_batch64_ms": latency(64, 10),
        "torch": torch.__version__,
        "threads": args.threads,
    }))


if __name__ == "__main__":
    main()
