"""The PostgreSQL backend of the episode store (issue 18), against a throwaway PostgreSQL 15 that this module starts
itself (scripts/pg-temp.sh: initdb in a temporary folder, a free loopback port, no system service):

- 4 concurrent `rollout --shard I/4` processes write one database; every step reads back bit-identical to the
  unsharded SQLite run (exported .npy bytes and JSON lines, creation times aside), and `memory verify` passes;
- a writer SIGKILLed 10 times loses no committed step, and resumes where the database ends;
- recall in one process finds steps another process wrote, with the same hits and scores as SQLite;
- LISTEN/NOTIFY: `memory watch` sees each committed offload batch;
- the server restarted mid-run (`pg_ctl restart`): the writer reconnects and goes on, nothing lost;
- `memory merge` copies SQLite -> PostgreSQL -> SQLite unchanged;
- `worldgpt serve --db postgresql://…` answers the inspection routes as the same store served from SQLite does, and
  runs a fork through the server into the database (the password kept out of the run's command line);
- an old-schema database (before `v2-step-counts`) is listed correctly read-only and migrated by the first writer; the
  per-episode counts then follow inserts and prunes.

Needs the debug build of `worldgpt` and `worldgpt-pg` (`swift build`; WORLDGPT_BIN overrides) and Debian's
postgresql-15 (scripts/setup.sh installs it). With CI=true a missing server fails instead of skipping.
Run: `make test-scale`.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BINARY = os.environ.get("WORLDGPT_BIN", str(ROOT / ".build" / "debug" / "worldgpt"))
PG_TEMP = ROOT / "scripts" / "pg-temp.sh"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
ENCODER = ["--text-encoder", "hashed", "--action-cache", "none"]


def worldgpt(*args: str, timeout: float = 600) -> str:
    r = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"worldgpt {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r.stdout


def exported(db: str, out: Path, drop=("createdAt",)) -> dict:
    """`memory export` of a store: file name -> bytes, with `drop` keys removed from the JSON lines."""
    worldgpt("memory", "export", "--db", db, "--out", str(out))
    files = {}
    for f in sorted(out.iterdir()):
        data = f.read_bytes()
        if f.suffix == ".jsonl":
            rows = [json.loads(line) for line in data.decode().splitlines()]
            for row in rows:
                for key in drop:
                    row.pop(key, None)
            data = json.dumps(rows, sort_keys=True).encode()
        files[f.name] = data
    return files


def timeless(x):
    """`x` without creation times (a copied step's may differ in its last bit: it passes through Foundation's Date)."""
    if isinstance(x, dict):
        return {k: timeless(v) for k, v in x.items() if k not in ("created_at", "timestamp")}
    if isinstance(x, list):
        return [timeless(v) for v in x]
    return x


class Served:
    """A `worldgpt serve` process on a free port; `get`/`post` return the decoded JSON body."""

    def __init__(self, *args: str):
        self.process = subprocess.Popen([BINARY, "serve", "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if "listening on http://" not in line:
            self.process.kill()
            raise AssertionError(f"worldgpt serve did not start: {line!r} {self.process.stderr.read()}")
        self.base = line.split("listening on ")[1].split()[0]

    def request(self, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, headers={"Content-Type": "application/json"} if data else {})
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())

    def get(self, path: str):
        return self.request(path)

    def post(self, path: str, body):
        return self.request(path, body)

    def pages(self, path: str, limit: int) -> list:
        """Every item of a cursor listing, `limit` a page."""
        items, cursor = [], None
        sep = "&" if "?" in path else "?"
        while True:
            page = self.get(f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
            assert len(page["items"]) <= limit
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def close(self):
        self.process.terminate()
        self.process.wait(timeout=60)
        self.process.stdout.close()
        self.process.stderr.close()


class PostgresStoreTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(BINARY, os.X_OK) or not os.access(Path(BINARY).parent / "worldgpt-pg", os.X_OK):
            raise AssertionError(f"{BINARY} or worldgpt-pg beside it is missing: run `swift build` first (make test-scale does)")
        if not (PG_BIN / "pg_ctl").exists():
            message = f"{PG_BIN}/pg_ctl is missing: install postgresql-15 (scripts/setup.sh)"
            if os.environ.get("CI") == "true":
                raise AssertionError(message)
            raise unittest.SkipTest(message)
        cls.tmp = Path(tempfile.mkdtemp(prefix="worldgpt-pg-"))
        cls.server = Path(tempfile.mkdtemp(prefix="pg", dir="/tmp"))
        os.chmod(cls.server, 0o755)
        r = subprocess.run(["bash", str(PG_TEMP), "start", str(cls.server)], capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"could not start PostgreSQL: {r.stderr}")
        cls.port = int(r.stdout.strip().splitlines()[-1])
        d = cls.tmp
        (d / "world.yaml").write_text("scenarios: 2\nepisodes: 40\nsteps: 6\nseed: 7\ndimension: 32\nhidden: 16\n"
                                      "modalities: [image, audio]\noracle_samples: 2\n")
        worldgpt("simworld", "generate", "--config", str(d / "world.yaml"), "--out", str(d / "world"), "--quiet")
        cls.rollout_args = ["--model", "identity", "--data", str(d / "world"), "--episodes", "999", "--group-size", "4", *ENCODER]
        worldgpt("rollout", *cls.rollout_args, "--db", str(d / "whole.sqlite"), "--trace", str(d / "whole.jsonl"))

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["bash", str(PG_TEMP), "stop", str(cls.server)], capture_output=True)
        shutil.rmtree(cls.server, ignore_errors=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def psql(self, sql: str, database: str = "postgres") -> str:
        r = subprocess.run([str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "worldgpt", "-d", database,
                            "-At", "-c", sql], capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"psql {sql}: {r.stderr}")
        return r.stdout.strip()

    def database(self, name: str) -> str:
        self.psql(f"DROP DATABASE IF EXISTS {name}")
        self.psql(f"CREATE DATABASE {name}")
        return f"postgresql://worldgpt@127.0.0.1:{self.port}/{name}"

    def out(self, name: str) -> Path:
        p = self.tmp / name
        shutil.rmtree(p, ignore_errors=True)
        return p

    def test_concurrent_rollout_shards_read_back_bit_identical(self):
        url = self.database("shards")
        writers = [subprocess.Popen([BINARY, "rollout", *self.rollout_args, "--shard", f"{i}/4", "--db", url],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(1, 5)]
        for w in writers:
            out, err = w.communicate(timeout=600)
            self.assertEqual(w.returncode, 0, err)
        whole = exported(str(self.tmp / "whole.sqlite"), self.out("x-whole"))
        self.assertEqual(exported(url, self.out("x-pg")), whole, "steps read back from PostgreSQL differ from the unsharded SQLite run")
        report = json.loads(worldgpt("memory", "verify", "--db", url, "--json"))
        self.assertEqual(report["problems"], [])
        self.assertEqual(report["checkedSteps"], int(self.psql("SELECT count(*) FROM steps", "shards")))
        # PostgreSQL -> SQLite copy through `memory merge`, then the merged trace equals the unsharded run's.
        copy = self.tmp / "from-pg.sqlite"
        copy.unlink(missing_ok=True)
        worldgpt("memory", "merge", str(copy), url, "--trace", str(self.tmp / "from-pg.jsonl"))
        self.assertEqual(exported(str(copy), self.out("x-copy")), whole)
        self.assertEqual((self.tmp / "from-pg.jsonl").read_text(), (self.tmp / "whole.jsonl").read_text())

    def test_sqlite_to_postgres_merge_and_back(self):
        url = self.database("copied")
        worldgpt("memory", "merge", url, str(self.tmp / "whole.sqlite"))
        whole = exported(str(self.tmp / "whole.sqlite"), self.out("y-whole"))
        self.assertEqual(exported(url, self.out("y-pg")), whole)
        with self.assertRaises(AssertionError) as refused:
            worldgpt("memory", "merge", url, str(self.tmp / "whole.sqlite"))
        self.assertIn("already holds steps", str(refused.exception))

    def offload_loop(self, url: str, episode: str, extra=()) -> subprocess.Popen:
        return subprocess.Popen([BINARY, "memory", "offload-loop", "--db", url, "--episode", episode, "--batch", "16", "--dim", "32", *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stored_indexes(self, database: str, episode: str) -> list[int]:
        text = self.psql(f"SELECT s.step_index FROM steps s JOIN episodes e ON e.id = s.episode_id WHERE e.name = '{episode}' ORDER BY 1", database)
        return [int(x) for x in text.split()] if text else []

    def test_writer_killed_ten_times_loses_nothing_committed(self):
        url = self.database("killed")
        rng = random.Random(18)
        committed = -1
        for kill in range(10):
            w = self.offload_loop(url, "crash")
            wanted = rng.randint(1, 6)
            for _ in range(wanted):
                line = w.stdout.readline()
                self.assertTrue(line.startswith("committed crash "), f"writer said {line!r}, stderr: {w.stderr.read() if w.poll() is not None else ''}")
                committed = int(line.split()[2])
            time.sleep(rng.random() * 0.05)  # anywhere in the next batch: before, inside or after its transaction
            w.send_signal(signal.SIGKILL)
            w.wait()
            w.stdout.close(); w.stderr.close()
            time.sleep(0.3)  # the killed writer's store process ends with it; its open transaction is rolled back
            stored = self.stored_indexes("killed", "crash")
            self.assertGreaterEqual(len(stored), committed + 1, f"kill {kill + 1}: a committed step is missing")
            self.assertEqual(stored, list(range(len(stored))), f"kill {kill + 1}: the stored steps are not a prefix")
        total = len(self.stored_indexes("killed", "crash"))
        ref = self.tmp / "killed-ref.sqlite"
        ref.unlink(missing_ok=True)
        worldgpt("memory", "offload-loop", "--db", str(ref), "--episode", "crash", "--batch", "16", "--dim", "32", "--max-steps", str(total))
        # Ids may skip values (a killed transaction used them); everything else is bit-identical.
        self.assertEqual(exported(url, self.out("k-pg"), drop=("createdAt", "id")), exported(str(ref), self.out("k-ref"), drop=("createdAt", "id")))
        self.assertEqual(json.loads(worldgpt("memory", "verify", "--db", url, "--json"))["problems"], [])

    def test_recall_finds_steps_written_by_another_process(self):
        url = self.database("recall")
        for episode in ("alpha", "beta"):
            w = self.offload_loop(url, episode, ["--max-steps", "64"])
            _, err = w.communicate(timeout=300)
            self.assertEqual(w.returncode, 0, err)
        hits = json.loads(worldgpt("memory", "search", "--db", url, "--like", "alpha:5", "--k", "10", "--json"))
        self.assertTrue(any(h["episode"] == "beta" for h in hits), f"no step of the other writer recalled: {hits}")
        copy = self.tmp / "recall.sqlite"
        copy.unlink(missing_ok=True)
        worldgpt("memory", "merge", str(copy), url)
        self.assertEqual(hits, json.loads(worldgpt("memory", "search", "--db", str(copy), "--like", "alpha:5", "--k", "10", "--json")))
        # A third writer adds steps; the next recall (a new process) sees them.
        w = self.offload_loop(url, "gamma", ["--max-steps", "32"])
        _, err = w.communicate(timeout=300)
        self.assertEqual(w.returncode, 0, err)
        hits = json.loads(worldgpt("memory", "search", "--db", url, "--like", "gamma:3", "--k", "5", "--episode", "gamma", "--json"))
        self.assertTrue(hits and all(h["episode"] == "gamma" for h in hits), hits)

    def test_watch_sees_each_committed_batch(self):
        url = self.database("watched")
        watch = subprocess.Popen([BINARY, "memory", "watch", "--db", url, "--count", "3", "--timeout", "120"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(watch.stderr.readline().strip(), "listening")
        worldgpt("memory", "offload-loop", "--db", url, "--episode", "w", "--batch", "16", "--dim", "32", "--max-steps", "48")
        out, _ = watch.communicate(timeout=120)
        self.assertEqual(watch.returncode, 0)
        ids = [int(x) for x in self.psql("SELECT id FROM steps ORDER BY id", "watched").split()]
        self.assertEqual(out.split("\n")[:3], [f"{ids[i]} {ids[i + 15]} 16" for i in (0, 16, 32)])

    def test_server_restart_mid_run_writer_reconnects(self):
        url = self.database("restarted") + "?timeout=20"
        w = self.offload_loop(url, "r")
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(w.stdout), daemon=True)
        reader.start()

        def wait_for(n: int) -> None:
            deadline = time.time() + 180
            while len(lines) < n and time.time() < deadline and w.poll() is None:
                time.sleep(0.05)
            self.assertGreaterEqual(len(lines), n, f"the writer stopped committing: {w.stderr.read() if w.poll() is not None else ''}")

        wait_for(5)
        r = subprocess.run(["bash", str(PG_TEMP), "restart", str(self.server)], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        after = len(lines)
        wait_for(after + 10)  # commits after the restart: the writer reconnected and went on
        w.send_signal(signal.SIGTERM)
        w.wait(timeout=60)
        reader.join(timeout=10)
        err = w.stderr.read()
        w.stdout.close(); w.stderr.close()
        self.assertIn("reconnecting", err, "the writer did not report the lost connection")
        last = int(lines[-1].split()[2])
        stored = self.stored_indexes("restarted", "r")
        self.assertEqual(stored, list(range(len(stored))))
        self.assertGreaterEqual(len(stored), last + 1, "a step committed before or after the restart is missing")

    def test_server_down_writer_fails_clearly_and_resumes_on_rerun(self):
        url = self.database("gaveup") + "?reconnect=2&timeout=10"
        w = self.offload_loop(url, "g")
        committed = -1
        for _ in range(3):
            committed = int(w.stdout.readline().split()[2])
        r = subprocess.run(["bash", str(PG_TEMP), "stop", str(self.server)], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        try:
            for line in w.stdout:
                committed = int(line.split()[2])
            self.assertNotEqual(w.wait(timeout=120), 0, "the writer went on without a server")
            err = w.stderr.read()
            w.stdout.close(); w.stderr.close()
            self.assertIn("cannot reach the server at 127.0.0.1", err)
            self.assertIn("gave up after 2 s", err)
        finally:
            r = subprocess.run(["bash", str(PG_TEMP), "restart", str(self.server)], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
        before = self.stored_indexes("gaveup", "g")
        self.assertGreaterEqual(len(before), committed + 1, "a committed step is missing")
        worldgpt("memory", "offload-loop", "--db", url, "--episode", "g", "--batch", "16", "--dim", "32", "--max-steps", "32")
        self.assertEqual(self.stored_indexes("gaveup", "g"), list(range(len(before) + 32)), "the rerun did not resume where the store ended")

    def test_four_concurrent_writers_interleave_and_read_back_exact(self):
        url = self.database("four")
        names = ["w1", "w2", "w3", "w4"]
        writers = [self.offload_loop(url, n, ["--max-steps", "480"]) for n in names]
        for w in writers:
            _, err = w.communicate(timeout=600)
            self.assertEqual(w.returncode, 0, err)
        ranges = {}
        for n in names:
            ids = [int(x) for x in self.psql(f"SELECT s.id FROM steps s JOIN episodes e ON e.id = s.episode_id WHERE e.name = '{n}' ORDER BY 1",
                                             "four").split()]
            self.assertEqual(len(ids), 480)
            ranges[n] = (ids[0], ids[-1])
        overlapping = sum(1 for a in names for b in names if a < b and ranges[a][0] < ranges[b][1] and ranges[b][0] < ranges[a][1])
        self.assertGreater(overlapping, 0, f"the writers did not run at the same time: {ranges}")
        ref = self.tmp / "four-ref.sqlite"
        ref.unlink(missing_ok=True)

        modalities = {"image", "video", "audio", "text"}

        def normal(x):
            # A State's modality map prints as a flat [key, value, ...] list in hash order: compare it as a map.
            if isinstance(x, list) and x and len(x) % 2 == 0 and all(isinstance(k, str) and k in modalities for k in x[::2]):
                return {k: normal(v) for k, v in zip(x[::2], x[1::2])}
            if isinstance(x, list):
                return [normal(v) for v in x]
            if isinstance(x, dict):
                return {k: normal(v) for k, v in x.items()}
            return x

        def steps(db: str, name: str) -> list:
            rows = json.loads(worldgpt("memory", "show", "--db", db, name, "--json"))
            for r in rows:
                r.pop("id")
                r["record"].pop("timestamp")
            return normal(rows)

        for n in names:
            worldgpt("memory", "offload-loop", "--db", str(ref), "--episode", n, "--batch", "16", "--dim", "32", "--max-steps", "480")
            self.assertEqual(steps(url, n), steps(str(ref), n), f"episode {n} differs from an uninterrupted SQLite run")
        self.assertEqual(json.loads(worldgpt("memory", "verify", "--db", url, "--json"))["problems"], [])

    def step_counts(self, database: str) -> dict:
        """Per-episode step counts, counted by PostgreSQL itself (name -> count)."""
        rows = self.psql("SELECT e.name, count(s.id) FROM episodes e LEFT JOIN steps s ON s.episode_id = e.id GROUP BY e.name ORDER BY 1", database)
        return {name: int(n) for name, n in (line.split("|") for line in rows.splitlines())}

    def test_serve_over_postgres_answers_as_over_sqlite_and_runs_a_fork(self):
        url = self.database("served")
        worldgpt("memory", "merge", url, str(self.tmp / "whole.sqlite"))
        # A password in the URL (trust authentication ignores it) must reach the store processes and no command line.
        secret = url.replace("worldgpt@", "worldgpt:s3cret@")
        pg = Served("--db", secret, "--root", str(self.tmp), "--model", "identity", "--text-encoder", "hashed", "--action-cache", "none")
        lite = Served("--db", str(self.tmp / "whole.sqlite"), "--root", str(self.tmp))
        try:
            counts = self.step_counts("served")
            self.assertEqual(pg.get("/v1/version")["store_migrations"], ["v1", "v2-step-counts"])
            self.assertEqual(pg.get("/v1/version")["store_migrations"], lite.get("/v1/version")["store_migrations"])
            stats = pg.get("/v1/store/stats")
            self.assertEqual((stats["episodes"], stats["steps"]), (len(counts), sum(counts.values())))
            self.assertNotIn("s3cret", json.dumps(stats))
            self.assertEqual(pg.get("/v1/store/verify")["problems"], [])

            episodes = pg.pages("/v1/episodes", 7)
            self.assertEqual({e["name"]: e["step_count"] for e in episodes}, counts)
            self.assertEqual(timeless(episodes), timeless(lite.pages("/v1/episodes", 7)))
            prefix = episodes[3]["name"][:-1]
            self.assertEqual(timeless(pg.pages("/v1/episodes?prefix=" + urllib.parse.quote(prefix), 2)),
                             timeless(lite.pages("/v1/episodes?prefix=" + urllib.parse.quote(prefix), 2)))
            self.assertTrue(all(e["name"].startswith(prefix) for e in pg.pages("/v1/episodes?prefix=" + urllib.parse.quote(prefix), 2)))
            name = urllib.parse.quote(episodes[1]["name"])
            steps = pg.pages(f"/v1/episodes/{name}/steps", 4)
            self.assertEqual(len(steps), counts[episodes[1]["name"]])
            self.assertEqual(timeless(steps), timeless(lite.pages(f"/v1/episodes/{name}/steps", 4)))
            for index in (0, len(steps) - 1):
                self.assertEqual(timeless(pg.get(f"/v1/episodes/{name}/steps/{index}")), timeless(lite.get(f"/v1/episodes/{name}/steps/{index}")))
                self.assertEqual(pg.get(f"/v1/episodes/{name}/steps/{index}/arrays/input/image"),
                                 lite.get(f"/v1/episodes/{name}/steps/{index}/arrays/input/image"))
            search = {"like": f"{episodes[1]['name']}:2", "k": 5}
            hits = pg.post("/v1/search", search)
            self.assertEqual(len(hits["items"]), 5)
            self.assertEqual(hits, lite.post("/v1/search", search))
            with self.assertRaises(urllib.error.HTTPError) as missing:
                pg.get("/v1/episodes/no-such-episode/steps")
            self.assertEqual(missing.exception.code, 404)

            # A run that writes: a fork executed by the server's `worldgpt fork --db postgresql://…`.
            fork_from = f"{episodes[1]['name']}:1"
            run = pg.post("/v1/runs", {"kind": "fork", "from": fork_from, "actions": ["push the block", "wait"], "name": "forked"})
            self.assertNotIn("s3cret", json.dumps(run))
            deadline = time.time() + 300
            while run["status"] == "running" and time.time() < deadline:
                time.sleep(0.5)
                run = pg.get(f"/v1/runs/{run['id']}")
            self.assertEqual(run["status"], "succeeded", run.get("error"))
            after = self.step_counts("served")
            self.assertEqual(after["forked"], 2)
            self.assertEqual({e["name"]: e["step_count"] for e in pg.pages("/v1/episodes", 50)}, after)
            forked = pg.get("/v1/episodes/forked/steps")["items"]
            self.assertEqual([s["action"] for s in forked], ["push the block", "wait"])
        finally:
            pg.close()
            lite.close()

    def test_old_schema_database_is_listed_then_migrated_to_step_counts(self):
        url = self.database("oldschema")
        worldgpt("memory", "merge", url, str(self.tmp / "whole.sqlite"))
        # Back to the schema of a store written before `v2-step-counts` (v1 only).
        self.psql("DROP TRIGGER steps_counted_insert ON steps; DROP TRIGGER steps_counted_delete ON steps; "
                  "DROP TRIGGER steps_counted_move ON steps; DROP FUNCTION worldgpt_steps_counted_insert(), "
                  "worldgpt_steps_counted_delete(), worldgpt_steps_counted_move(); DROP TABLE episode_step_counts; "
                  "DELETE FROM worldgpt_migrations WHERE identifier = 'v2-step-counts'", "oldschema")
        counts = self.step_counts("oldschema")
        # Read-only opens do not migrate; listings count the steps themselves.
        self.assertEqual(json.loads(worldgpt("memory", "stats", "--db", url, "--json"))["migrations"], ["v1"])
        served = Served("--db", url, "--root", str(self.tmp))
        try:
            self.assertEqual({e["name"]: e["step_count"] for e in served.pages("/v1/episodes", 5)}, counts)
        finally:
            served.close()
        self.assertEqual(self.psql("SELECT to_regclass('episode_step_counts') IS NULL", "oldschema"), "t")
        # The first writer migrates: the counts table holds what PostgreSQL counts, and follows inserts and prunes.
        actions = self.tmp / "extra-actions.txt"
        actions.write_text("push the block\nwait\nturn left\n")
        first = sorted(counts)[0]
        worldgpt("fork", "--model", "identity", *ENCODER, "--db", url, "--from", f"{first}:1", "--actions", str(actions), "--name", "extra")
        lite_stats = json.loads(worldgpt("memory", "stats", "--db", str(self.tmp / "whole.sqlite"), "--json"))
        self.assertEqual(json.loads(worldgpt("memory", "stats", "--db", url, "--json"))["migrations"], lite_stats["migrations"])
        kept = "SELECT e.name, c.steps FROM episode_step_counts c JOIN episodes e ON e.id = c.episode_id ORDER BY 1"

        def table() -> dict:
            return {name: int(n) for name, n in (line.split("|") for line in self.psql(kept, "oldschema").splitlines())}

        self.assertEqual(table(), {**counts, "extra": 3})
        self.assertEqual(table(), self.step_counts("oldschema"))
        worldgpt("memory", "prune", "--db", url, "--keep-last", "3")
        self.assertEqual(table(), self.step_counts("oldschema"))
        self.assertTrue(all(n == min(3, counts.get(name, 3)) for name, n in table().items()), table())
        served = Served("--db", url, "--root", str(self.tmp))
        try:
            self.assertEqual({e["name"]: e["step_count"] for e in served.pages("/v1/episodes", 5)}, self.step_counts("oldschema"))
        finally:
            served.close()
        # A schema newer than this build is refused, as the SQLite store refuses one.
        self.psql("INSERT INTO worldgpt_migrations(identifier) VALUES ('v9-future')", "oldschema")
        with self.assertRaises(AssertionError) as refused:
            worldgpt("memory", "stats", "--db", url)
        self.assertIn("newer than this build knows", str(refused.exception))

