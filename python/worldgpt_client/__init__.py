"""Python clients of the WorldGPT runtime's HTTP API (`worldgpt serve`, docs/serve.md).

`Client` (sync) and `AsyncClient` (async) speak the API of openapi.yaml over httpx and return typed models;
arrays come back as numpy. `LocalClient` answers the same memory questions by running the `worldgpt` CLI's
`--json` commands when no server runs.
"""
from .models import (APIError, Episode, EpisodePage, Evidence, EvidenceItem, RecalledStep, Run, StepPage,
                     StepSummary, TraceLine, VersionMismatch)
from .client import API_VERSION, AsyncClient, Client
from .local import LocalClient

__all__ = ["API_VERSION", "APIError", "AsyncClient", "Client", "Episode", "EpisodePage", "Evidence", "EvidenceItem",
           "LocalClient", "RecalledStep", "Run", "StepPage", "StepSummary", "TraceLine", "VersionMismatch"]
