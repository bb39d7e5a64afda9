"""Typed models of openapi.yaml's schemas (snake_case, as on the wire), and the client's errors."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional


def _build(cls, data: Dict[str, Any]):
    """An instance of dataclass `cls` from a JSON object (unknown keys are ignored: the API may add fields)."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


class APIError(Exception):
    """A problem+json answer: `status`, `title` and `detail` as the server sent them."""

    def __init__(self, status: int, title: str, detail: str):
        super().__init__(f"{status} {title}: {detail}")
        self.status, self.title, self.detail = status, title, detail


class VersionMismatch(Exception):
    """The server speaks another major version of the API than this client."""


@dataclass
class Episode:
    id: int
    name: str
    step_count: int
    created_at: float
    first_step: Optional[int] = None
    last_step: Optional[int] = None


@dataclass
class EpisodePage:
    items: List[Episode]
    next_cursor: Optional[str] = None

    @classmethod
    def parse(cls, data):
        return cls([_build(Episode, e) for e in data["items"]], data.get("next_cursor"))


@dataclass
class StepSummary:
    id: int
    episode: str
    index: int
    action: str
    created_at: float
    cosine: Dict[str, float]
    recalled: int
    retrieved: int
    kept: int
    dropped: int


@dataclass
class StepPage:
    items: List[StepSummary]
    next_cursor: Optional[str] = None

    @classmethod
    def parse(cls, data):
        return cls([_build(StepSummary, s) for s in data["items"]], data.get("next_cursor"))


@dataclass
class EvidenceItem:
    item: str
    rank: int
    score: Optional[float] = None
    reason: Optional[str] = None
    state_similarity: Optional[float] = None
    action_similarity: Optional[float] = None
    recency: Optional[float] = None
    steps_ago: Optional[int] = None


@dataclass
class Evidence:
    """What the model saw at a step, and why."""
    id: int
    episode: str
    index: int
    action: str
    created_at: float
    recalled: List[EvidenceItem]
    retrieved: List[EvidenceItem]
    kept: List[EvidenceItem]
    dropped: List[EvidenceItem]
    cosine: Dict[str, float]
    arrays: Dict[str, Dict[str, int]]
    provenance: Optional[Dict[str, Any]] = None

    @classmethod
    def parse(cls, data):
        data = dict(data)
        for kind in ("recalled", "retrieved", "kept", "dropped"):
            data[kind] = [_build(EvidenceItem, i) for i in data[kind]]
        return _build(cls, data)


@dataclass
class RecalledStep:
    step_id: int
    episode: str
    index: int
    score: float
    state_similarity: float
    action_similarity: float
    recency: float
    steps_ago: int
    weights: Dict[str, float] = field(default_factory=dict)


@dataclass
class Run:
    id: str
    kind: str
    status: str
    created_at: float
    command: List[str]
    trace_lines: int
    attempts: int
    finished_at: Optional[float] = None
    exit_status: Optional[int] = None
    error: Optional[str] = None
    idempotency_key: Optional[str] = None
    pid: Optional[int] = None

    @property
    def finished(self) -> bool:
        return self.status != "running"


@dataclass
class TraceLine:
    episode: str
    step: int
    action: str
    recalled: List[str]
    retrieved: List[Dict[str, Any]]
    kept: List[Dict[str, Any]]
    cosine: Dict[str, float]
    prediction_head: Dict[str, List[float]]
