"""The Ray driver: one task per shard, each running the worldgpt binary; retries, progress, the final merge.

A task that fails (non-zero exit) or whose worker process dies is retried by Ray; the retry runs the same command,
which resumes from the shard's own store (`worldgpt rollout` skips every step already committed), so a retried shard
loses and repeats nothing. The binary is started with PR_SET_PDEATHSIG, so it dies with its worker and never races a
retry on the same store. Every node must see the same binary (same SHA-256) and the output folder (a shared file
system on a cluster).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import ray

KINDS = ("rollout", "samples", "eval")

# Ray ships this package to every worker (a node needs ray and the worldgpt binary, not this package installed);
# Ray takes it only for a whole job, so a caller that starts Ray itself passes it to `ray.init(runtime_env=…)`.
RUNTIME_ENV = {"py_modules": [os.path.dirname(os.path.abspath(__file__))]}


class ShardFailed(Exception):
    """A shard's worldgpt process exited with an error (retried by Ray)."""


class BinaryMismatch(Exception):
    """A node's worldgpt binary differs from the driver's (not retried: fix the deployment)."""


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def shard_paths(kind: str, out: Path, i: int, n: int) -> dict:
    """Where shard i of n writes (the merge reads the same names)."""
    stem = f"shard-{i}-of-{n}"
    if kind == "rollout":
        return {"db": out / f"{stem}.sqlite", "trace": out / f"{stem}.jsonl"}
    if kind == "samples":
        return {"folder": out / f"samples-{stem}"}
    return {"scores": out / "ablation-shards" / f"ablation-scores-{i}-of-{n}.json", "folder": out / "ablation-shards"}


def shard_command(kind: str, binary: str, args: list[str], out: Path, i: int, n: int) -> list[str]:
    """The worldgpt command line of shard i of n."""
    p = shard_paths(kind, out, i, n)
    shard = ["--shard", f"{i}/{n}"]
    if kind == "rollout":
        return [binary, "rollout", *args, *shard, "--db", str(p["db"]), "--trace", str(p["trace"])]
    if kind == "samples":
        return [binary, "samples", "build", *args, *shard, "--out", str(p["folder"])]
    return [binary, "eval", "--ablation", *args, *shard, "--report-dir", str(p["folder"])]


def merge_command(kind: str, binary: str, out: Path, n: int) -> list[str]:
    """The worldgpt command that joins the n shards' outputs."""
    parts = [shard_paths(kind, out, i, n) for i in range(1, n + 1)]
    if kind == "rollout":
        return [binary, "memory", "merge", str(out / "merged.sqlite"), *[str(p["db"]) for p in parts],
                "--trace", str(out / "trace.jsonl")]
    if kind == "samples":
        return [binary, "samples", "merge", str(out / "samples"), *[str(p["folder"]) for p in parts]]
    return [binary, "eval", "--merge", *[str(p["scores"]) for p in parts], "--report-dir", str(out)]


def _die_with_parent() -> None:
    # Linux: the child gets SIGKILL when the worker that started it dies, so a retry never races it on the store.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@ray.remote
class Progress:
    """Progress of every shard: (done, total) units and the attempt number, as the tasks report them."""

    def __init__(self, n: int):
        self.state = {i: {"done": 0, "total": 0, "attempt": 0, "pid": None} for i in range(1, n + 1)}

    def update(self, i: int, **fields) -> None:
        self.state[i].update(fields)

    def snapshot(self) -> dict:
        return self.state


_PROGRESS = re.compile(r"(\d+)/(\d+)")


@ray.remote
def run_shard(kind: str, i: int, n: int, binary: str, digest: str, args: list, out: str, progress) -> dict:
    """Runs shard i of n on whichever node Ray chose; raises ShardFailed (retried) when worldgpt fails."""
    if not os.path.exists(binary) or sha256(binary) != digest:
        raise BinaryMismatch(f"node {os.uname().nodename}: {binary} is missing or differs from the driver's (sha256 {digest[:12]}…); "
                             "install the same worldgpt build on every node")
    out_path = Path(out)
    attempts_file = out_path / f"shard-{i}-of-{n}.attempts"
    attempt = int(attempts_file.read_text() or "0") + 1 if attempts_file.exists() else 1
    attempts_file.write_text(str(attempt))
    (out_path / f"shard-{i}-of-{n}.pid").write_text(str(os.getpid()))
    progress.update.remote(i, attempt=attempt, pid=os.getpid())
    command = shard_command(kind, binary, list(args), out_path, i, n)
    start = time.time()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
    tail: list[str] = []
    stdout: list[bytes] = []
    reader = threading.Thread(target=lambda: stdout.extend(child.stdout), daemon=True)
    reader.start()
    last, counts = 0.0, None
    for raw in child.stderr:
        line = raw.decode("utf-8", "replace").strip()
        tail = (tail + [line])[-20:]
        m = _PROGRESS.search(line)
        if m:
            counts = (int(m.group(1)), int(m.group(2)))
            if time.time() - last > 0.2:
                progress.update.remote(i, done=counts[0], total=counts[1])
                last = time.time()
    code = child.wait()
    reader.join()
    if counts:
        progress.update.remote(i, done=counts[0], total=counts[1])
    if code != 0:
        raise ShardFailed(f"shard {i}/{n} (attempt {attempt}) exited with status {code}: " + " | ".join(tail[-5:]))
    summary = b"".join(stdout).decode("utf-8", "replace").strip().splitlines()
    return {"shard": i, "attempt": attempt, "seconds": time.time() - start, "summary": summary[-1] if summary else ""}


@dataclass
class RunResult:
    shards: list
    merge_output: str
    seconds: float


def run(kind: str, shards: int, out: Path, binary: str, args: list[str], retries: int = 3,
        echo: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True)) -> RunResult:
    """Runs `worldgpt <kind>` as `shards` Ray tasks and merges their outputs into `out`.

    Connects to RAY_ADDRESS when set (a cluster started with `ray start --head`), else starts a local Ray.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    if shards < 1:
        raise ValueError("--shards must be at least 1")
    binary = os.path.abspath(binary)
    if not os.access(binary, os.X_OK):
        raise FileNotFoundError(f"{binary}: no worldgpt binary here (build it with `swift build -c release`, or pass --worldgpt PATH)")
    out.mkdir(parents=True, exist_ok=True)
    merged = {"rollout": out / "merged.sqlite", "samples": out / "samples", "eval": out / "ablation.csv"}[kind]
    if merged.exists():
        raise FileExistsError(f"{merged} exists: the merge writes a new file; pick another --out or remove it")
    digest = sha256(binary)
    start = time.time()
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        ray.init(address=address or None, include_dashboard=False, log_to_driver=False, runtime_env=RUNTIME_ENV,
                 **({} if address else {"num_cpus": min(shards, os.cpu_count() or 1)}))
    progress = Progress.remote(shards)
    tasks = {
        run_shard.options(max_retries=retries, retry_exceptions=[ShardFailed]).remote(
            kind, i, shards, binary, digest, args, str(out.resolve()), progress): i
        for i in range(1, shards + 1)
    }
    results: dict[int, dict] = {}
    pending = list(tasks)
    last_line = ""
    while pending:
        ready, pending = ray.wait(pending, timeout=1.0)
        for ref in ready:
            i = tasks[ref]
            try:
                results[i] = ray.get(ref)
            except Exception as error:  # the task's last attempt failed: report which shard and why
                for ref2 in pending:
                    ray.cancel(ref2, force=True)
                raise RuntimeError(f"shard {i}/{shards} failed after {retries + 1} attempt(s): {error}") from error
        state = ray.get(progress.snapshot.remote())
        for i, r in results.items():  # a finished shard's count is final even if its last update was throttled
            state[i]["done"] = max(state[i]["done"], state[i]["total"])
        done = sum(s["done"] for s in state.values())
        total = sum(s["total"] for s in state.values())
        retried = [f"{i}(attempt {s['attempt']})" for i, s in state.items() if s["attempt"] > 1]
        line = (f"{kind}: {len(results)}/{shards} shards done, {done}/{total or '?'} units"
                + (f"; retried: {', '.join(retried)}" if retried else ""))
        if line != last_line:
            echo(line)
            last_line = line
    merge = subprocess.run(merge_command(kind, binary, out, shards), capture_output=True, text=True)
    if merge.returncode != 0:
        raise RuntimeError(f"merge failed (status {merge.returncode}): {merge.stderr.strip() or merge.stdout.strip()}")
    return RunResult(shards=[results[i] for i in sorted(results)], merge_output=merge.stdout, seconds=time.time() - start)
