"""The numpy world model of test_remote_model.py, importable by a model server started as its own process
(`python -m worldgpt_client.model_server --model MODULE:predict` with python/tests on PYTHONPATH)."""
import os
import signal
import threading

import numpy as np


class NumpyModel:
    """next[m] = normalise(state[m] (or the state's mean) + P·action + 0.1·mean of kept context state1)."""

    def __init__(self, fail_after=None):
        rng = np.random.default_rng(7)
        self.projection = None
        self.rng = rng
        self.calls = 0
        self.predictions = 0
        self.fail_after = fail_after
        self.lock = threading.Lock()

    def expected(self, state, action, context_state1=()):
        base = np.mean(list(state.values()), axis=0)
        if self.projection is None or self.projection.shape != (base.size, action.size):
            self.projection = (np.random.default_rng(7).standard_normal((base.size, action.size)) * 0.05).astype(np.float32)
        out = {}
        for m in ("image", "video", "audio", "text"):
            v = state.get(m, base).astype(np.float64) + self.projection.astype(np.float64) @ action.astype(np.float64)
            if context_state1:
                v = v + 0.1 * np.mean([c.get(m, np.mean(list(c.values()), axis=0)) for c in context_state1], axis=0)
            out[m] = (v / np.linalg.norm(v)).astype(np.float32)
        return out

    def __call__(self, batch):
        with self.lock:
            self.calls += 1
            if self.fail_after is not None and self.calls > self.fail_after:
                raise RuntimeError("the GPU went away")
            self.predictions += len(batch)
        outputs = []
        for x in batch:
            assert x.action is not None, "the runtime sends action embeddings"
            full = self.expected(x.state, x.action, [c.state1 for c in x.context])
            outputs.append({m: full[m] for m in x.targets})
        return outputs


_served = NumpyModel()
_batches = 0


def predict(batch):
    """The model server's callable. With WORLDGPT_TEST_DIE_AFTER=N the process kills itself (SIGKILL, mid-request)
    when batch N + 1 arrives: a model server that dies in the middle of a rollout."""
    global _batches
    _batches += 1
    die_after = os.environ.get("WORLDGPT_TEST_DIE_AFTER")
    if die_after is not None and _batches > int(die_after):
        os.kill(os.getpid(), signal.SIGKILL)
    return _served(batch)
