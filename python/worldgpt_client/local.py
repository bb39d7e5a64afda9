"""`LocalClient`: the memory questions of `Client` answered by the `worldgpt` CLI's `--json` commands, for when no
server runs (the store is opened read-only by each command, so it works while a rollout writes)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from typing import List, Optional

import numpy as np

from .models import Episode, EpisodePage, RecalledStep, _build


class LocalClient:
    def __init__(self, db: str, worldgpt: Optional[str] = None):
        self.db = db
        self.worldgpt = worldgpt or shutil.which("worldgpt") or "worldgpt"

    def _json(self, *arguments: str):
        result = subprocess.run([self.worldgpt, *arguments, "--db", self.db, "--json"], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"worldgpt {' '.join(arguments)} exited {result.returncode}: {result.stderr.strip()}")
        return json.loads(result.stdout)

    def stats(self):
        return self._json("memory", "stats")

    def episodes(self, limit: int = 50, cursor: Optional[str] = None, prefix: Optional[str] = None) -> EpisodePage:
        """The same pages as the server's (the CLI lists every episode; paging happens here)."""
        rows = [e for e in self._json("memory", "ls") if prefix is None or e["name"].startswith(prefix)]
        after = int(cursor) if cursor is not None else None
        rows = [e for e in rows if after is None or e["id"] > after]
        page = rows[:limit]
        snake = [{"id": e["id"], "name": e["name"], "step_count": e["stepCount"], "created_at": e["createdAt"],
                  "first_step": e.get("firstStep"), "last_step": e.get("lastStep")} for e in page]
        return EpisodePage([_build(Episode, e) for e in snake], str(page[-1]["id"]) if len(rows) > limit else None)

    def step(self, episode: str, index: int):
        """The step as `memory show --json` prints it."""
        return self._json("memory", "show", f"{episode}:{index}")[0]

    def search(self, like: str, k: int = 5) -> List[RecalledStep]:
        hits = self._json("memory", "search", "--like", like, "-k", str(k))
        keys = {"stepID": "step_id", "stateSimilarity": "state_similarity", "actionSimilarity": "action_similarity", "stepsAgo": "steps_ago"}
        return [_build(RecalledStep, {keys.get(k, k): v for k, v in h.items()}) for h in hits]

    def export_arrays(self) -> dict:
        """Every embedding column as a numpy matrix (rows in step-id order), via `memory export`."""
        with tempfile.TemporaryDirectory() as out:
            result = subprocess.run([self.worldgpt, "memory", "export", "--db", self.db, "--out", out], capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"worldgpt memory export exited {result.returncode}: {result.stderr.strip()}")
            return {name[:-4]: np.load(os.path.join(out, name)) for name in os.listdir(out) if name.endswith(".npy")}
