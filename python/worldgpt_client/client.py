"""`Client` and `AsyncClient`: the API of openapi.yaml over httpx, one method per route."""
from __future__ import annotations

import io
import json
from typing import Any, AsyncIterator, Dict, Iterator, List, Optional
from urllib.parse import quote

import httpx
import numpy as np

from .models import (APIError, EpisodePage, Evidence, RecalledStep, Run, StepPage, TraceLine, VersionMismatch, _build)

API_VERSION = "1.0.0"
NPY = "application/x-npy"


def _check(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        try:
            body = response.json()
            raise APIError(response.status_code, body.get("title", ""), body.get("detail", response.text))
        except ValueError:
            raise APIError(response.status_code, response.reason_phrase, response.text) from None
    return response


def _check_version(body: Dict[str, Any]) -> Dict[str, Any]:
    if body["api"].split(".")[0] != API_VERSION.split(".")[0]:
        raise VersionMismatch(f"the server speaks API {body['api']}, this client {API_VERSION}")
    return body


def _step_path(episode: str, index: int) -> str:
    return f"/v1/episodes/{quote(episode, safe='')}/steps/{index}"


def _params(**kwargs) -> Dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v is not None}


def _array(response: httpx.Response) -> np.ndarray:
    return np.load(io.BytesIO(response.content), allow_pickle=False)


class Client:
    """A synchronous client. `Client("http://127.0.0.1:8470", token=None)`; checks the API version on connect."""

    def __init__(self, base_url: str, token: Optional[str] = None, timeout: float = 60.0, check_version: bool = True):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)
        self.server_version = _check_version(self.version()) if check_version else None

    def close(self):
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _get(self, path, **kwargs):
        return _check(self._http.get(path, **kwargs)).json()

    def _post(self, path, body, **kwargs):
        return _check(self._http.post(path, json=body, **kwargs))

    def health(self) -> Dict[str, Any]:
        return self._get("/v1/health")

    def version(self) -> Dict[str, Any]:
        return self._get("/v1/version")

    def stats(self) -> Dict[str, Any]:
        return self._get("/v1/store/stats")

    def verify(self) -> Dict[str, Any]:
        return self._get("/v1/store/verify")

    def ablation_report(self) -> Dict[str, Any]:
        """The report of `worldgpt eval --ablation` in the server's --reports folder (APIError 404 when none)."""
        return self._get("/v1/reports/ablation")

    def episodes(self, limit: int = 50, cursor: Optional[str] = None, scenario: Optional[str] = None,
                 prefix: Optional[str] = None, created_after=None, created_before=None) -> EpisodePage:
        return EpisodePage.parse(self._get("/v1/episodes", params=_params(
            limit=limit, cursor=cursor, scenario=scenario, prefix=prefix, created_after=created_after, created_before=created_before)))

    def all_episodes(self, page_size: int = 500, **filters) -> Iterator:
        cursor = None
        while True:
            page = self.episodes(limit=page_size, cursor=cursor, **filters)
            yield from page.items
            cursor = page.next_cursor
            if cursor is None:
                return

    def steps(self, episode: str, limit: int = 100, cursor: Optional[str] = None) -> StepPage:
        return StepPage.parse(self._get(f"/v1/episodes/{quote(episode, safe='')}/steps", params=_params(limit=limit, cursor=cursor)))

    def evidence(self, episode: str, index: int) -> Evidence:
        return Evidence.parse(self._get(_step_path(episode, index)))

    def array(self, episode: str, index: int, role: str, name: str) -> np.ndarray:
        """One embedding of a step (role input/predicted/observed with a modality, or action/embedding) as float32."""
        return _array(_check(self._http.get(f"{_step_path(episode, index)}/arrays/{role}/{name}", headers={"Accept": NPY})))

    def search(self, like: Optional[str] = None, text: Optional[str] = None, vector=None, k: int = 5, **weights) -> List[RecalledStep]:
        body = _params(like=like, text=text, vector=None if vector is None else [float(x) for x in vector], k=k, **weights)
        return [_build(RecalledStep, h) for h in self._post("/v1/search", body).json()["items"]]

    def export(self, out: str) -> Dict[str, Any]:
        return self._post("/v1/export", {"out": out}).json()

    def prune(self, keep_last: Optional[int] = None, before: Optional[str] = None, dry_run: bool = True) -> Dict[str, Any]:
        return self._post("/v1/prune", _params(keep_last=keep_last, before=before, dry_run=dry_run)).json()

    def predict(self, data: str, sample: str, action: Optional[str] = None, episode: Optional[str] = None) -> TraceLine:
        return _build(TraceLine, self._post("/v1/predict", _params(data=data, sample=sample, action=action, episode=episode)).json())

    def start_run(self, kind: str, idempotency_key: Optional[str] = None, **spec) -> Run:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return _build(Run, self._post("/v1/runs", dict(kind=kind, **spec), headers=headers).json())

    def run(self, run_id: str) -> Run:
        return _build(Run, self._get(f"/v1/runs/{quote(run_id, safe='')}"))

    def runs(self) -> List[Run]:
        return [_build(Run, r) for r in self._get("/v1/runs")["items"]]

    def cancel(self, run_id: str) -> Run:
        return _build(Run, self._post(f"/v1/runs/{quote(run_id, safe='')}/cancel", None).json())

    def trace(self, run_id: str) -> Iterator[TraceLine]:
        """The run's trace lines as they are written, until the run ends."""
        with self._http.stream("GET", f"/v1/runs/{quote(run_id, safe='')}/trace", timeout=None) as response:
            _check(response)
            for line in response.iter_lines():
                if line.strip():
                    yield _build(TraceLine, json.loads(line))


class AsyncClient:
    """The same API with async methods. Use `await AsyncClient.connect(url)` (it checks the version), or `async with`."""

    def __init__(self, base_url: str, token: Optional[str] = None, timeout: float = 60.0):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout)
        self.server_version = None

    @classmethod
    async def connect(cls, base_url: str, token: Optional[str] = None, timeout: float = 60.0) -> "AsyncClient":
        client = cls(base_url, token, timeout)
        client.server_version = _check_version(await client.version())
        return client

    async def __aenter__(self):
        self.server_version = _check_version(await self.version())
        return self

    async def __aexit__(self, *exc):
        await self.aclose()

    async def aclose(self):
        await self._http.aclose()

    async def _get(self, path, **kwargs):
        return _check(await self._http.get(path, **kwargs)).json()

    async def _post(self, path, body, **kwargs):
        return _check(await self._http.post(path, json=body, **kwargs))

    async def health(self):
        return await self._get("/v1/health")

    async def version(self):
        return await self._get("/v1/version")

    async def stats(self):
        return await self._get("/v1/store/stats")

    async def ablation_report(self):
        return await self._get("/v1/reports/ablation")

    async def episodes(self, limit: int = 50, cursor: Optional[str] = None, **filters) -> EpisodePage:
        return EpisodePage.parse(await self._get("/v1/episodes", params=_params(limit=limit, cursor=cursor, **filters)))

    async def steps(self, episode: str, limit: int = 100, cursor: Optional[str] = None) -> StepPage:
        return StepPage.parse(await self._get(f"/v1/episodes/{quote(episode, safe='')}/steps", params=_params(limit=limit, cursor=cursor)))

    async def evidence(self, episode: str, index: int) -> Evidence:
        return Evidence.parse(await self._get(_step_path(episode, index)))

    async def array(self, episode: str, index: int, role: str, name: str) -> np.ndarray:
        return _array(_check(await self._http.get(f"{_step_path(episode, index)}/arrays/{role}/{name}", headers={"Accept": NPY})))

    async def search(self, like=None, text=None, vector=None, k: int = 5, **weights) -> List[RecalledStep]:
        body = _params(like=like, text=text, vector=None if vector is None else [float(x) for x in vector], k=k, **weights)
        return [_build(RecalledStep, h) for h in (await self._post("/v1/search", body)).json()["items"]]

    async def start_run(self, kind: str, idempotency_key: Optional[str] = None, **spec) -> Run:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return _build(Run, (await self._post("/v1/runs", dict(kind=kind, **spec), headers=headers)).json())

    async def run(self, run_id: str) -> Run:
        return _build(Run, await self._get(f"/v1/runs/{quote(run_id, safe='')}"))

    async def trace(self, run_id: str) -> AsyncIterator[TraceLine]:
        async with self._http.stream("GET", f"/v1/runs/{quote(run_id, safe='')}/trace", timeout=None) as response:
            _check(response)
            async for line in response.aiter_lines():
                if line.strip():
                    yield _build(TraceLine, json.loads(line))
