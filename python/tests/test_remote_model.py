"""`--model http://HOST:PORT`: a numpy model behind the reference server (worldgpt_client.model_server) predicts inside
`worldgpt rollout` and `eval`; every stored prediction equals the numpy model's on the stored inputs (1e-6), and a
server that fails or dies mid-rollout gives a clear error and a store that resumes."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from numpy_world_model import NumpyModel
from worldgpt_client.model_server import serve

ENCODER = ["--text-encoder", "hashed", "--action-cache", "none"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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
    """With --kb the reflector's kept transitions go to the model: per step the context the server received is what
    the store says was kept, each item's state1 is the knowledge base's own .pt embedding, and the stored prediction
    is the numpy model's on the stored input, action and that context (1e-6)."""
    seen = []
    model = NumpyModel()

    def recording(batch):
        seen.extend(batch)
        return model(batch)
    url = model_server(recording)
    store = str(tmp_path / "remote-kb.sqlite")
    cli(worldgpt, "rollout", "--model", url, "--kb", data, "--data", data, "--episodes", "1", "--db", store, *ENCODER)
    shown = json.loads(cli(worldgpt, "memory", "show", "s00-e0007", "--db", store, "--json").stdout)
    kept = [[a["item"] for a in sorted(s["record"]["annotations"], key=lambda a: a["rank"]) if a["kind"] == "reflector.kept"] for s in shown]
    assert [len(x.context) for x in seen] == [len(k) for k in kept] and all(kept)
    import yaml
    entry = yaml.safe_load(open(os.path.join(data, "kb.yaml")))["dataset_list"][0]
    annotations = json.load(open(os.path.join(data, entry["root"], entry["annotaion_path"])))
    steps = stored(worldgpt, store, tmp_path)
    for x, items, step in zip(seen, kept, shown):
        assert sorted(c.sample_id for c in x.context) == sorted(i.split(":", 1)[-1] for i in items)
        for c in x.context:
            files = annotations[int(c.sample_id)]["state1"]
            for m, v in c.state1.items():
                np.testing.assert_array_equal(v, load_pt_vector(os.path.join(data, m, "Train_pt", os.path.splitext(files[m])[0] + ".pt")))
        columns = steps[(step["record"]["episode"], step["record"]["index"])]
        state = {c[len("input_"):]: v for c, v in columns.items() if c.startswith("input_")}
        expected = model.expected(state, columns["action_embedding"], [c.state1 for c in x.context])
        for m in x.targets:
            np.testing.assert_allclose(columns["predicted_" + m], expected[m], atol=1e-6, rtol=0)


def load_pt_vector(path):
    """A .pt embedding read by scripts/pt_reference_reader.py (Python's unpickler and numpy, no torch)."""
    import contextlib
    import importlib.util
    import io
    spec = importlib.util.spec_from_file_location("pt_reference_reader", os.path.join(ROOT, "scripts", "pt_reference_reader.py"))
    reader = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reader)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        reader.main(path)
    return np.asarray(json.loads(out.getvalue())["values"], dtype=np.float32)


def test_eval_through_the_remote_model_equals_numpy(worldgpt, data, tmp_path, model_server):
    """Every prediction of `eval --model URL` against the numpy model computed here from the dataset's own files: the
    states read from the test split's .pt embeddings, the actions embedded by `worldgpt embed`, the truth from the
    .pt files of state1. The per-prediction cosines (`--shard 1/1` scores) match within 1e-4 (×100, so 1e-6 of the
    cosine), the CSV's means within its 4 decimals, and the vectors the runtime sent equal the dataset's."""
    received = []
    model = NumpyModel()

    def recording(batch):
        received.extend(batch)
        return model(batch)
    url = model_server(recording)
    report = tmp_path / "eval-report"
    cli(worldgpt, "eval", "--model", url, "--data", data, "--out", str(tmp_path / "remote.csv"), *ENCODER)
    first = len(received)
    received.clear()
    cli(worldgpt, "eval", "--model", url, "--data", data, "--shard", "1/1", "--report-dir", str(report), *ENCODER)
    scores = json.loads((report / "eval-scores-1-of-1.json").read_text())
    # The dataset, independently: test.yaml's modes and annotations, the .pt embeddings of every state.
    import yaml
    config = yaml.safe_load(open(os.path.join(data, "test.yaml")))
    entry = config["dataset_list"][0]
    annotations = json.load(open(os.path.join(data, entry["root"], entry["annotaion_path"])))

    def state(files):
        return {m: load_pt_vector(os.path.join(data, m, "Train_pt", os.path.splitext(f)[0] + ".pt"))
                for m, f in files.items() if f and m in entry["modality"]}
    samples = [(state(a["state0"]), state(a["state1"]), a["action"]["text"]) for a in annotations]
    texts = sorted({t for _, _, t in samples})
    (tmp_path / "actions.txt").write_text("\n".join(texts) + "\n")
    cli(worldgpt, "embed", "--model", "hashed", "--file", str(tmp_path / "actions.txt"), "--out", str(tmp_path / "actions.npy"))
    embedded = dict(zip(texts, np.load(tmp_path / "actions.npy")))
    # The evaluator's jobs: for each mode in order, each sample with its inputs in state0 and targets in state1.
    jobs = [(row, i) for row, mode in enumerate(config["modality_modes"]) for i, (s0, s1, _) in enumerate(samples)
            if all(m in s0 for m in mode["inputs"]) and all(m in s1 for m in mode["targets"])]
    assert first == len(received) == len(jobs) == scores["jobs"]
    expected_scores = []
    for job, ((row, i), x) in enumerate(zip(jobs, received)):
        mode = config["modality_modes"][row]
        s0, s1, text = samples[i]
        masked = {m: s0[m] for m in mode["inputs"]}
        assert sorted(x.state) == sorted(masked) and sorted(x.targets) == sorted(mode["targets"]), job
        for m in masked:
            np.testing.assert_array_equal(x.state[m], masked[m])
        np.testing.assert_allclose(x.action, embedded[text], atol=1e-6, rtol=0)
        predicted = model.expected(masked, embedded[text])
        for m in mode["targets"]:
            cosine = float(predicted[m].astype(np.float64) @ s1[m] / np.linalg.norm(s1[m]) / np.linalg.norm(predicted[m]))
            expected_scores.append((job, row, scores["modalities"].index(m), 100 * cosine))
    got = [(s["job"], s["row"], s["column"], s["value"]) for s in scores["scored"]]
    assert [g[:3] for g in got] == [e[:3] for e in expected_scores]
    np.testing.assert_allclose([g[3] for g in got], [e[3] for e in expected_scores], atol=1e-4, rtol=0)
    # The CSV (validation_sim.csv's layout): each mode's mean cosine ×100 per modality.
    lines = (tmp_path / "remote.csv").read_text().strip().split("\n")
    header = lines[0].split(",")[1:]
    for row, line in enumerate(lines[1:]):
        cells = line.rsplit(",", len(header))[1:]
        for column, cell in enumerate(cells):
            values = [e[3] for e in expected_scores if e[1] == row and scores["modalities"][e[2]] == header[column]]
            if values:
                assert abs(float(cell) - np.mean(values)) < 1e-4 + 1e-9, (line, header[column])
            else:
                assert cell == ""


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


def test_a_model_server_killed_mid_rollout_gives_a_clear_error_and_a_resumable_store(worldgpt, data, tmp_path, model_server):
    """The model server is its own process (`python -m worldgpt_client.model_server`) and SIGKILLs itself when the 4th
    of the rollout's 7 lock-step batches arrives: the rollout stops with an error naming the server, the store verifies
    and keeps the steps before it, and the same command against a new server finishes it with numpy's predictions."""
    store = str(tmp_path / "killed.sqlite")
    environment = dict(os.environ, WORLDGPT_TEST_DIE_AFTER="3",
                       PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "python", "tests"), os.path.join(ROOT, "python")]))
    server = subprocess.Popen([sys.executable, "-m", "worldgpt_client.model_server", "--model", "numpy_world_model:predict", "--port", "0"],
                              stdout=subprocess.PIPE, text=True, env=environment)
    try:
        line = server.stdout.readline()
        assert "http://127.0.0.1:" in line, line
        url = line.split()[-1].rsplit("/predict", 1)[0]
        started = time.monotonic()
        result = cli(worldgpt, "rollout", "--model", url, "--data", data, "--episodes", "3", "--db", store, "--no-retrieval", *ENCODER, check=False)
        assert time.monotonic() - started < 120
        assert server.wait(timeout=30) == -signal.SIGKILL, "the model server killed itself mid-rollout"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert result.returncode != 0
    assert "remote world model" in result.stderr and url in result.stderr, result.stderr
    assert "Fatal error" not in result.stderr and "Stack dump" not in result.stderr, result.stderr
    assert cli(worldgpt, "memory", "verify", "--db", store).returncode == 0
    before = stored(worldgpt, store, tmp_path)
    assert 0 < len(before) < 21 and len(before) % 3 == 0, sorted(before)
    model = NumpyModel()
    assert check_predictions(model, before) == len(before) * 2
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
