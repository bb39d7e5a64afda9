"""The Ray driver on a local Ray (two worker processes): a 4-shard rollout with one worker process SIGKILLed
mid-shard finishes, the killed shard is retried and resumes from its store, and the merged store and trace equal
the unsharded run's (every exported byte but the creation times; no step lost, none duplicated). Also: a sample
build and an ablation through the driver equal their unsharded runs, and a wrong binary is refused.

Needs the debug build (`swift build`; WORLDGPT_BIN overrides) and ray==2.60.* (scripts/setup.sh installs it).
Run: `make test-scale` (python3 -m unittest discover -s python/tests).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # a local Ray on 127.0.0.1 only

import ray  # noqa: E402

from worldgpt_ray import driver  # noqa: E402

BINARY = os.environ.get("WORLDGPT_BIN", str(ROOT / ".build" / "debug" / "worldgpt"))
ENCODER = ["--text-encoder", "hashed", "--action-cache", "none"]


def worldgpt(*args: str) -> str:
    r = subprocess.run([BINARY, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"worldgpt {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r.stdout


def exported(db: Path, out: Path) -> dict:
    """`memory export` of a store, creation times (wall clock) removed from the JSON lines."""
    worldgpt("memory", "export", "--db", str(db), "--out", str(out))
    files = {}
    for f in sorted(out.iterdir()):
        data = f.read_bytes()
        if f.suffix == ".jsonl":
            rows = [json.loads(line) for line in data.decode().splitlines()]
            for row in rows:
                row.pop("createdAt", None)
            data = json.dumps(rows, sort_keys=True).encode()
        files[f.name] = data
    return files


def step_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            return c.execute("SELECT count(*) FROM steps").fetchone()[0]
    except sqlite3.Error:
        return 0


class RayDriverTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(BINARY, os.X_OK):
            raise AssertionError(f"{BINARY} is missing: run `swift build` first (make test-scale does)")
        cls.tmp = Path(tempfile.mkdtemp(prefix="worldgpt-ray-"))
        # Ray keeps its session files under the temporary folder (a short path: Ray's sockets must fit 107 bytes).
        cls.ray_tmp = Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))
        d = cls.tmp
        (d / "world.yaml").write_text("scenarios: 2\nepisodes: 200\nsteps: 7\nseed: 5\ndimension: 64\nhidden: 32\n"
                                      "modalities: [image, audio]\noracle_samples: 2\n")
        worldgpt("simworld", "generate", "--config", str(d / "world.yaml"), "--out", str(d / "world"), "--quiet")
        (d / "train.yaml").write_text(
            "data: world/train.yaml\nvalidation: world/test.yaml\n"
            "model: {width: 32, depth: 1, heads: 2, mlp_ratio: 2, seed: 1}\noptimizer: {lr: 3.0e-3, warmup_steps: 2}\n"
            "training:\n  batch_size: 16\n  stages: [{kind: single-unimodal, steps: 20}]\n"
            "  memory_probability: 0.5\n  memory_steps: [2, 3]\n")
        subprocess.run([BINARY, "train", "--config", "train.yaml", "--out", "run", *ENCODER], cwd=d, check=True, capture_output=True)
        (d / "reflector.json").write_text('{"steps": 5, "batch_size": 4, "hidden_width": 64, "layers": 1, "candidates": 8, '
                                          '"train_samples": 64, "eval_samples": 16, '
                                          '"filter": {"threshold": 0, "budget": 4, "mmr_lambda": 0.7}}')
        worldgpt("train-reflector", "--model", str(d / "run/final"), "--kb", str(d / "world"), "--config", str(d / "reflector.json"),
                 "--out", str(d / "tuned"), *ENCODER)
        cls.rollout_args = ["--model", str(d / "tuned/model"), "--reflector", str(d / "tuned"), "--kb", str(d / "world"),
                            "--data", str(d / "world"), "--episodes", "999", "--no-observe", "--group-size", "5", *ENCODER]
        worldgpt("rollout", *cls.rollout_args, "--db", str(d / "whole.sqlite"), "--trace", str(d / "whole.jsonl"))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=str(cls.ray_tmp), runtime_env=driver.RUNTIME_ENV)

    @classmethod
    def tearDownClass(cls):
        if ray.is_initialized():
            ray.shutdown()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        shutil.rmtree(cls.ray_tmp, ignore_errors=True)

    def test_a_killed_worker_is_retried_and_the_merged_store_equals_the_unsharded_run(self):
        out = self.tmp / "ray-rollout"
        victim = out / "shard-2-of-4.pid"
        store = out / "shard-2-of-4.sqlite"
        killed = {}

        def kill_mid_shard():
            deadline = time.time() + 300
            while time.time() < deadline:
                n = step_count(store)
                if victim.exists() and n > 0:
                    pid = int(victim.read_text())
                    os.kill(pid, signal.SIGKILL)  # the Ray worker process running shard 2 (its worldgpt dies with it)
                    killed.update(pid=pid, steps=n)
                    return
                time.sleep(0.005)

        killer = threading.Thread(target=kill_mid_shard, daemon=True)
        killer.start()
        lines: list[str] = []
        result = driver.run("rollout", 4, out, BINARY, self.rollout_args, retries=3, echo=lines.append)
        killer.join(timeout=5)
        self.assertIn("pid", killed, "the worker of shard 2 was killed")
        self.assertLess(killed["steps"], 70, "the kill landed mid-shard (shard 2 holds 10 episodes × 7 steps)")
        by_shard = {s["shard"]: s for s in result.shards}
        self.assertGreaterEqual(by_shard[2]["attempt"], 2, f"shard 2 was retried: {result.shards}")
        self.assertTrue(any("retried: 2(attempt" in line for line in lines), lines)
        self.assertIn("merged 280 steps of 40 episodes", result.merge_output)
        self.assertEqual((out / "trace.jsonl").read_text(), (self.tmp / "whole.jsonl").read_text())
        with sqlite3.connect(f"file:{out / 'merged.sqlite'}?mode=ro", uri=True) as c:
            ids = [r[0] for r in c.execute("SELECT id FROM steps ORDER BY id")]
            pairs = c.execute("SELECT count(DISTINCT episode_id || ':' || step_index) FROM steps").fetchone()[0]
        self.assertEqual(ids, list(range(1, 281)), "no step lost, none duplicated")
        self.assertEqual(pairs, 280)
        self.assertEqual(exported(out / "merged.sqlite", self.tmp / "export-ray"), exported(self.tmp / "whole.sqlite", self.tmp / "export-whole"))
        worldgpt("memory", "verify", "--db", str(out / "merged.sqlite"))

    def test_samples_and_ablation_through_the_driver_equal_their_unsharded_runs(self):
        d = self.tmp
        samples = ["--data", str(d / "world"), "--kb", str(d / "world"), "--limit", "40", *ENCODER]
        worldgpt("samples", "build", *samples, "--out", str(d / "samples-whole"))
        driver.run("samples", 3, d / "ray-samples", BINARY, samples, echo=lambda _: None)
        whole = sorted(p.relative_to(d / "samples-whole") for p in (d / "samples-whole").rglob("*") if p.is_file())
        merged = sorted(p.relative_to(d / "ray-samples/samples") for p in (d / "ray-samples/samples").rglob("*") if p.is_file())
        self.assertEqual(merged, whole)
        for p in whole:
            self.assertEqual((d / "ray-samples/samples" / p).read_bytes(), (d / "samples-whole" / p).read_bytes(), str(p))

        ablation = ["--model", str(d / "tuned/model"), "--reflector", str(d / "tuned"), "--data", str(d / "world"), "--steps", "2",
                    "--group-size", "10", "--no-ridge", "--episodes", "20", *ENCODER]
        subprocess.run([BINARY, "eval", "--ablation", *ablation, "--report-dir", str(d / "ablation-whole")], check=True, capture_output=True)
        driver.run("eval", 2, d / "ray-ablation", BINARY, ablation, echo=lambda _: None)
        for name in ("ablation.csv", "ablation.svg"):
            self.assertEqual((d / "ray-ablation" / name).read_bytes(), (d / "ablation-whole" / name).read_bytes(), name)

    def test_a_node_with_another_binary_is_refused_before_running(self):
        other = self.tmp / "other-worldgpt"
        shutil.copy(BINARY, other)
        digest = driver.sha256(str(other))
        with open(other, "ab") as f:
            f.write(b"\0")  # the "node's" binary now differs from what the driver hashed
        progress = driver.Progress.remote(1)
        out = self.tmp / "mismatch"
        out.mkdir()
        ref = driver.run_shard.remote("rollout", 1, 1, str(other), digest, self.rollout_args, str(out), progress)
        with self.assertRaises(ray.exceptions.RayTaskError) as caught:
            ray.get(ref)
        self.assertIn("differs from the driver's", str(caught.exception))
        self.assertEqual(list(out.iterdir()), [], "nothing ran")


if __name__ == "__main__":
    unittest.main()
