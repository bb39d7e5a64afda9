"""The reference server of the remote world-model protocol (docs/serve.md, "Remote world model protocol"): wraps any
Python callable so that `worldgpt rollout|predict|eval --model http://HOST:PORT` predicts with it, with the
runtime's memory, retrieval and reflector around it.

    def predict(batch):          # batch: a list of PredictionInput
        return [{m: next_state_of(x, m) for m in x.targets} for x in batch]   # unit float32 vectors

    python -m worldgpt_client.model_server --model mymodule:predict --port 8471

Standard library HTTP (ThreadingHTTPServer) and numpy; binds 127.0.0.1 unless told otherwise.
"""
from __future__ import annotations

import argparse
import importlib
import json
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, Optional

import numpy as np

PROTOCOL = "worldgpt-predict/1"
MAX_BODY = 256 << 20
_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1"}


def read_safetensors(data: bytes):
    """(tensors by name as numpy arrays, the __metadata__ map) of a safetensors body."""
    if len(data) < 8:
        raise ValueError("body shorter than a safetensors header")
    (length,) = struct.unpack("<Q", data[:8])
    if length > len(data) - 8:
        raise ValueError("safetensors header length exceeds the body")
    header = json.loads(data[8:8 + length])
    metadata = header.pop("__metadata__", {}) or {}
    base = 8 + length
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        dtype = np.dtype(_DTYPES[info["dtype"]])
        array = np.frombuffer(data[base + start:base + end], dtype=dtype)
        tensors[name] = array.reshape(info["shape"]).copy()
    return tensors, metadata


def write_safetensors(tensors: Dict[str, np.ndarray], metadata: Optional[Dict[str, str]] = None) -> bytes:
    """A safetensors body of float32 `tensors` (header padded to 8 bytes)."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(array)), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


@dataclass
class Item:
    """A recalled memory step or a kept knowledge transition."""
    state0: Dict[str, np.ndarray]
    state1: Dict[str, np.ndarray]
    action: Optional[np.ndarray]
    action_text: str = ""
    steps_ago: Optional[int] = None
    sample_id: Optional[str] = None
    score: Optional[float] = None


@dataclass
class PredictionInput:
    """One prediction: the state (modality → float32 vector), the action (text and embedding), the targets, and
    what the runtime put around it."""
    state: Dict[str, np.ndarray]
    action: Optional[np.ndarray]
    action_text: str
    targets: List[str]
    scenario: Optional[str] = None
    memory: List[Item] = field(default_factory=list)
    context: List[Item] = field(default_factory=list)
    reflector_tokens: Optional[np.ndarray] = None


def _state(tensors, prefix):
    return {name[len(prefix):]: a for name, a in tensors.items() if name.startswith(prefix) and "/" not in name[len(prefix):]}


def parse_request(body: bytes) -> List[PredictionInput]:
    tensors, metadata = read_safetensors(body)
    if metadata.get("protocol") != PROTOCOL:
        raise ValueError(f"protocol {metadata.get('protocol')!r}, expected {PROTOCOL}")
    batch = []
    for i, entry in enumerate(json.loads(metadata["inputs"])):
        memory = [Item(_state(tensors, f"{i}/memory/{j}/state0/"), _state(tensors, f"{i}/memory/{j}/state1/"),
                       tensors.get(f"{i}/memory/{j}/action"), m["action"], steps_ago=int(m["steps_ago"]))
                  for j, m in enumerate(entry["memory"])]
        context = [Item(_state(tensors, f"{i}/context/{j}/state0/"), _state(tensors, f"{i}/context/{j}/state1/"),
                        tensors.get(f"{i}/context/{j}/action"), sample_id=c["sample_id"], score=c["score"])
                   for j, c in enumerate(entry["context"])]
        batch.append(PredictionInput(_state(tensors, f"{i}/state/"), tensors.get(f"{i}/action"), entry["action"], entry["targets"],
                                     entry.get("scenario"), memory, context, tensors.get(f"{i}/reflector_tokens")))
    return batch


def make_handler(predict: Callable[[List[PredictionInput]], List[Dict[str, np.ndarray]]]):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, status, body, content_type):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/health":
                self._answer(200, json.dumps({"status": "ok", "protocol": PROTOCOL}).encode(), "application/json")
            else:
                self._answer(404, b"not found", "text/plain")

        def do_POST(self):
            if self.path != "/predict":
                return self._answer(404, b"not found", "text/plain")
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self._answer(413, b"body too large", "text/plain")
            try:
                batch = parse_request(self.rfile.read(length))
            except (ValueError, KeyError) as error:
                return self._answer(400, f"bad request: {error}".encode(), "text/plain")
            try:
                outputs = predict(batch)
                tensors = {}
                for i, (x, out) in enumerate(zip(batch, outputs)):
                    for m in x.targets:
                        tensors[f"{i}/{m}"] = np.asarray(out[m], dtype=np.float32)
            except Exception as error:  # the model's own failure: the runtime reports it with this text
                return self._answer(500, f"model failed: {error!r}".encode(), "text/plain")
            self._answer(200, write_safetensors(tensors, {"protocol": PROTOCOL}), "application/x-safetensors")
    return Handler


def serve(predict, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Starts serving `predict` in a background thread; returns the server (`server.server_address[1]` is the port,
    `server.shutdown()` stops it)."""
    server = ThreadingHTTPServer((host, port), make_handler(predict))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    parser = argparse.ArgumentParser(description="Serve a Python world model to `worldgpt --model http://HOST:PORT`.")
    parser.add_argument("--model", required=True, help="module:function taking a list of PredictionInput")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8471)
    a = parser.parse_args()
    module, name = a.model.split(":")
    predict = getattr(importlib.import_module(module), name)
    server = ThreadingHTTPServer((a.host, a.port), make_handler(predict))
    print(f"worldgpt model server: http://{a.host}:{server.server_address[1]}/predict", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
