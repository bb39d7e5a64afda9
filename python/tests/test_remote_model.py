"""`--model http://HOST:PORT`: a numpy model behind the reference server (worldgpt_client.model_server) predicts inside
`worldgpt rollout` and `eval`; every stored prediction equals the numpy model's on the stored inputs (1e-6), and a
server that fails or dies mid-rollout gives a clear error and a store that resumes."""
import json
import os
import subprocess
import threading

import numpy as np
import pytest

from worldgpt_client.model_server import serve

ENCODER = ["--text-encoder", "hashed", "--action-cache", "none"]


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


def cli(worldgpt, *arguments, check=True):
    result = subprocess.run([worldgpt, *arguments], capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def stored(worldgpt, store, tmp_path):
    """Every step of the store: (episode, index) → {column: vector}, via `memory export`."""
    out = tmp_path / f"export-{len(os.listdir(tmp_path))}"
    cli(worldgpt, "memory", "export", "--db", store, "--out", str(out))
    matrices = {n[:-4]: np.load(out / n) for n in os.listdir(out) if n.endswith(".npy")}
    steps = {}
    with open(out / "steps.jsonl") as f:
        for line in f:
            s = json.loads(line)
            steps[(s["episode"], s["index"])] = {c: matrices[c][ref["row"]] for c, ref in s["embeddings"].items()}
    return steps


def check_predictions(model, steps):
    """Each stored prediction against the numpy model on the stored input state and action (no context: --no-retrieval)."""
    checked = 0
    for key, columns in steps.items():
        state = {c[len("input_"):]: v for c, v in columns.items() if c.startswith("input_")}
        expected = model.expected(state, columns["action_embedding"])
        for c, v in columns.items():
            if c.startswith("predicted_"):
                np.testing.assert_allclose(v, expected[c[len("predicted_"):]], atol=1e-6, rtol=0, err_msg=str(key))
                checked += 1
    return checked


@pytest.fixture
def model_server():
    servers = []

    def start(model):
        server = serve(model)
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"
    yield start
    for s in servers:
        s.shutdown()


def test_rollout_through_the_remote_model_equals_numpy(worldgpt, data, tmp_path, model_server):
    model = NumpyModel()
    url = model_server(model)
    store = str(tmp_path / "remote.sqlite")
    cli(worldgpt, "rollout", "--model", url, "--data", data, "--episodes", "3", "--db", store, "--no-retrieval", *ENCODER)
    steps = stored(worldgpt, store, tmp_path)
    assert len(steps) == 3 * 7
    assert check_predictions(model, steps) == 3 * 7 * 2
    # Batches: the rollout's lock-step batches (3 episodes per step), not one request per prediction.
    assert model.predictions == 21 and model.calls == 7


def test_rollout_with_knowledge_sends_the_kept_context(worldgpt, data, tmp_path, model_server):
    seen = []
    model = NumpyModel()

    def recording(batch):
        seen.extend(len(x.context) for x in batch)
        return model(batch)
    url = model_server(recording)
    store = str(tmp_path / "remote-kb.sqlite")
    cli(worldgpt, "rollout", "--model", url, "--kb", data, "--data", data, "--episodes", "1", "--db", store, *ENCODER)
    shown = json.loads(cli(worldgpt, "memory", "show", "s00-e0007", "--db", store, "--json").stdout)
    kept = [sum(1 for a in s["record"]["annotations"] if a["kind"] == "reflector.kept") for s in shown]
    assert seen == kept and all(k > 0 for k in kept)


def test_eval_through_the_remote_model(worldgpt, data, tmp_path, model_server):
    model = NumpyModel()
    url = model_server(model)
    remote = cli(worldgpt, "eval", "--model", url, "--data", data, "--out", str(tmp_path / "remote.csv"), *ENCODER)
    assert model.predictions > 0
    # The same table from an identity model differs: the remote model's predictions were used.
    identity = cli(worldgpt, "eval", "--model", "identity", "--data", data, "--out", str(tmp_path / "identity.csv"), *ENCODER)
    assert (tmp_path / "remote.csv").read_text() != (tmp_path / "identity.csv").read_text()
    assert "mean" in remote.stdout or "image" in remote.stdout


def test_a_failing_or_dead_server_gives_a_clear_error_and_a_resumable_store(worldgpt, data, tmp_path, model_server):
    store = str(tmp_path / "dies.sqlite")
    failing = model_server(NumpyModel(fail_after=3))
    result = cli(worldgpt, "rollout", "--model", failing, "--data", data, "--episodes", "3", "--db", store, "--no-retrieval", *ENCODER, check=False)
    assert result.returncode != 0
    assert failing in result.stderr and "the GPU went away" in result.stderr, result.stderr
    assert cli(worldgpt, "memory", "verify", "--db", store).returncode == 0
    before = stored(worldgpt, store, tmp_path)
    assert 0 < len(before) < 21
    # A server that is gone: the error says so.
    dead = "http://127.0.0.1:9"
    result = cli(worldgpt, "rollout", "--model", dead, "--data", data, "--episodes", "3", "--db", store, "--no-retrieval", *ENCODER, check=False)
    assert result.returncode != 0 and dead in result.stderr and "model server running" in result.stderr, result.stderr
    # A healthy server resumes the store to the end; what was committed stays, and every prediction is numpy's.
    model = NumpyModel()
    cli(worldgpt, "rollout", "--model", model_server(model), "--data", data, "--episodes", "3", "--db", store, "--no-retrieval", *ENCODER)
    after = stored(worldgpt, store, tmp_path)
    assert len(after) == 21
    for key, columns in before.items():
        for c, v in columns.items():
            np.testing.assert_array_equal(after[key][c], v)
    assert check_predictions(model, after) == 21 * 2
    assert model.predictions == 21 - len(before)


def test_predict_through_the_remote_model_writes_numpys_prediction(worldgpt, data, tmp_path, model_server):
    received = []
    model = NumpyModel()

    def recording(batch):
        received.extend(batch)
        return model(batch)
    url = model_server(recording)
    out = tmp_path / "predicted.npz"
    cli(worldgpt, "predict", "--model", url, "--data", data, "--start", "3", "--no-retrieval", "--out", str(out), *ENCODER)
    assert len(received) == 1
    x = received[0]
    expected = model.expected(x.state, x.action)
    written = np.load(out)
    assert sorted(written.files) == sorted(x.targets)
    for m in x.targets:
        np.testing.assert_allclose(written[m], expected[m], atol=1e-6, rtol=0)
