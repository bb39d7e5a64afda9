"""The Python client against a live server: paging, arrays, evidence, runs and their traces, sync and async.
Expectations come from the CLI (`memory ls/show/export --json`), not from the server under test."""
import asyncio
import json
import os
import subprocess
import tempfile

import numpy as np
import pytest

from worldgpt_client import API_VERSION, APIError, AsyncClient, Client, LocalClient


def cli_json(worldgpt, *arguments):
    return json.loads(subprocess.run([worldgpt, *arguments, "--json"], check=True, capture_output=True, text=True).stdout)


@pytest.fixture
def client(server_url, token):
    with Client(server_url, token=token) as c:
        yield c


def exported(worldgpt, store):
    """Every step's arrays as `memory export` writes them: {(episode, index): {column: vector}}."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([worldgpt, "memory", "export", "--db", store, "--out", out], check=True, capture_output=True)
        matrices = {n[:-4]: np.load(os.path.join(out, n)) for n in os.listdir(out) if n.endswith(".npy")}
        steps = {}
        with open(os.path.join(out, "steps.jsonl")) as f:
            for line in f:
                s = json.loads(line)
                steps[(s["episode"], s["index"])] = {c: matrices[c][ref["row"]] for c, ref in s["embeddings"].items()}
        return steps


def test_a_client_without_the_token_is_refused(server_url):
    with pytest.raises(APIError) as error:
        Client(server_url)
    assert error.value.status == 401


def test_connect_checks_the_api_version(client):
    assert client.server_version["api"] == API_VERSION
    assert client.server_version["store_format"] == "worldgpt-episode-store"


def test_episode_pages_list_every_episode_once_in_order(client, worldgpt, store):
    expected = [e["name"] for e in cli_json(worldgpt, "memory", "ls", "--db", store)]
    assert len(expected) >= 2
    for size in (1, 2, len(expected) + 5):
        names, cursor, pages = [], None, 0
        while True:
            page = client.episodes(limit=size, cursor=cursor)
            assert len(page.items) <= size
            names += [e.name for e in page.items]
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        assert names == expected
        assert pages == -(-len(expected) // size)


def test_filters_apply_before_the_limit(client, worldgpt, store):
    everything = cli_json(worldgpt, "memory", "ls", "--db", store)
    last = everything[-1]["name"]
    page = client.episodes(limit=1, prefix=last)
    assert [e.name for e in page.items] == [e["name"] for e in everything if e["name"].startswith(last)][:1]
    # A scenario that no step has matches nothing; the stored one matches its episodes.
    assert client.episodes(scenario="no-such-scenario").items == []
    shown = cli_json(worldgpt, "memory", "show", everything[0]["name"], "--db", store)
    scenario = shown[0]["record"]["provenance"]["scenario"]
    expected = [e["name"] for e in everything
                if cli_json(worldgpt, "memory", "show", e["name"], "--db", store)[0]["record"]["provenance"].get("scenario") == scenario]
    got = [e.name for e in client.all_episodes(page_size=1, scenario=scenario)]
    assert got == expected


def test_step_arrays_as_numpy_equal_memory_export(client, worldgpt, store):
    steps = exported(worldgpt, store)
    checked = 0
    for (episode, index), columns in list(steps.items())[:6]:
        for column, expected in columns.items():
            role, name = ("action", "embedding") if column == "action_embedding" else column.split("_", 1)
            got = client.array(episode, index, role, name)
            assert got.dtype == np.float32 and got.shape == expected.shape
            np.testing.assert_array_equal(got, expected)
            checked += 1
    assert checked >= 6


def test_evidence_holds_what_memory_show_reports(client, worldgpt, store):
    episode = cli_json(worldgpt, "memory", "ls", "--db", store)[0]["name"]
    for shown in cli_json(worldgpt, "memory", "show", episode, "--db", store)[:4]:
        record = shown["record"]
        evidence = client.evidence(episode, record["index"])
        for kind, field in (("recalled", "recalled"), ("retrieved", "retrieved"), ("reflector.kept", "kept"), ("reflector.dropped", "dropped")):
            expected = sorted((a["rank"], a["item"]) for a in record["annotations"] if a["kind"] == kind)
            assert sorted((i.rank, i.item) for i in getattr(evidence, field)) == expected, (kind, record["index"])
        assert evidence.action == record["action"]["text"]


def test_unknown_step_is_a_problem_with_status_404(client):
    with pytest.raises(APIError) as error:
        client.evidence("no-such-episode", 0)
    assert error.value.status == 404 and "no-such-episode" in error.value.detail


def test_search_like_equals_the_cli(client, worldgpt, store):
    episode = cli_json(worldgpt, "memory", "ls", "--db", store)[0]["name"]
    expected = cli_json(worldgpt, "memory", "search", "--like", f"{episode}:2", "-k", "4", "--db", store)
    got = client.search(like=f"{episode}:2", k=4)
    assert [(h.episode, h.index) for h in got] == [(h["episode"], h["index"]) for h in expected]
    assert np.allclose([h.score for h in got], [h["score"] for h in expected], atol=1e-6)


def test_prune_dry_run_counts_and_deletes_nothing(client, worldgpt, store):
    before = client.stats()["steps"]
    episodes = cli_json(worldgpt, "memory", "ls", "--db", store)
    result = client.prune(keep_last=2, dry_run=True)
    assert result["dry_run"] is True
    assert result["steps"] == sum(max(0, e["stepCount"] - 2) for e in episodes)
    assert client.stats()["steps"] == before


def test_rollout_run_trace_followed_to_the_end(client, data):
    before = {e.name for e in client.all_episodes()}
    run = client.start_run("rollout", data=data, episodes=4, idempotency_key="pytest-sync-rollout")
    assert run.kind == "rollout"
    lines = list(client.trace(run.id))
    final = client.run(run.id)
    assert final.status == "succeeded", final.error
    assert len(lines) == final.trace_lines == 4 * 7
    # Every traced step is in the store, with the traced action; the new episodes appeared.
    for line in lines[::5]:
        assert client.evidence(line.episode, line.step).action == line.action
    after = {e.name for e in client.all_episodes()}
    assert before <= after and {l.episode for l in lines} <= after
    # Resubmitting with the same key returns the same run and starts nothing.
    again = client.start_run("rollout", data=data, episodes=4, idempotency_key="pytest-sync-rollout")
    assert again.id == run.id and again.attempts == 1


def test_async_client_pages_arrays_and_a_run(server_url, token, worldgpt, store, data):
    expected = [e["name"] for e in cli_json(worldgpt, "memory", "ls", "--db", store)]
    steps = exported(worldgpt, store)

    async def main():
        async with AsyncClient(server_url, token=token) as client:
            names, cursor = [], None
            while True:
                page = await client.episodes(limit=2, cursor=cursor)
                names += [e.name for e in page.items]
                cursor = page.next_cursor
                if cursor is None:
                    break
            (episode, index), columns = next(iter(steps.items()))
            array = await client.array(episode, index, "input", "image")
            run = await client.start_run("fork", **{"from": f"{episode}:2"}, actions=["push the red block left", "lift it up"], name="async-fork")
            lines = [line async for line in client.trace(run.id)]
            final = await client.run(run.id)
            return names, array, columns["input_image"], lines, final

    names, array, expected_array, lines, final = asyncio.run(main())
    assert names == expected
    np.testing.assert_array_equal(array, expected_array)
    assert final.status == "succeeded", final.error
    assert [(l.episode, l.step, l.action) for l in lines] == [("async-fork", 2, "push the red block left"), ("async-fork", 3, "lift it up")]


def test_local_client_pages_like_the_server(client, store, worldgpt):
    local = LocalClient(store, worldgpt=worldgpt)
    assert [e.name for e in local.episodes(limit=2).items] == [e.name for e in client.episodes(limit=2).items]
    assert local.episodes(limit=2).next_cursor == client.episodes(limit=2).next_cursor


def test_ablation_report_equals_the_csv_eval_wrote(client, store):
    """The server's --reports folder defaults to the store's: Tests/ServerTests wrote `eval --ablation` there."""
    report = client.ablation_report()
    path = os.path.join(os.path.dirname(store), "ablation.csv")
    assert os.path.realpath(report["path"]) == os.path.realpath(path)
    rows = [line.strip().split(",") for line in open(path)][1:]
    means = {}
    for variant, step, modality, cosine in rows:
        if modality == "mean":
            means.setdefault(variant, {})[int(step)] = float(cosine)
    assert report["variants"] == list(means)
    assert report["steps"] == max(max(m) for m in means.values())
    for series in report["series"]:
        assert series["mean"] == [means[series["variant"]].get(step) for step in range(1, report["steps"] + 1)]
    assert len(report["cells"]) == sum(1 for r in rows if r[2] != "mean")
