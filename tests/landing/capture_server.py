"""A local stand-in for the Segment / RudderStack HTTP tracking API's `POST /v1/batch`.

It behaves as both services document it: Basic auth with the write key as user name (401
otherwise), an optionally gzip-encoded JSON body `{"batch": [...], "sentAt": ...}`, at most 500 KB
per batch and 32 KB per message (400 otherwise), `{"success": true}` on acceptance. What it
accepted is kept as received, so a test can land it the way a warehouse export would: one
message per line.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_BATCH_BYTES = 500 * 1024
MAX_MESSAGE_BYTES = 32 * 1024


class CaptureServer:
    def __init__(self, write_key: str) -> None:
        self.write_key = write_key
        self.batches: list[dict[str, Any]] = []
        self.rejected: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> CaptureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return [message for batch in self.batches for message in batch["batch"]]

    def write_landing(self, directory: Path, name: str) -> list[Path]:
        """Each accepted batch as one landing file: its messages one per line, every field kept."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        with self._lock:
            for index, batch in enumerate(self.batches, start=1):
                path = directory / f"{name}-{index:03d}.jsonl"
                path.write_text("".join(json.dumps(message) + "\n" for message in batch["batch"]))
                paths.append(path)
        return paths

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep the test output quiet
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                if status != 200:
                    with server._lock:
                        server.rejected.append((status, body.get("message", "")))

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                if self.path.rstrip("/") != "/v1/batch":
                    return self._reply(404, {"code": "not_found", "message": self.path})
                expected = "Basic " + base64.b64encode(f"{server.write_key}:".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self._reply(401, {"code": "unauthorized", "message": "invalid write key"})
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                if len(raw) > MAX_BATCH_BYTES:
                    return self._reply(400, {"code": "too_large", "message": "batch over 500 KB"})
                try:
                    body = json.loads(raw)
                except ValueError:
                    return self._reply(400, {"code": "invalid_json", "message": "body is not JSON"})
                batch = body.get("batch") if isinstance(body, dict) else None
                if not isinstance(batch, list):
                    return self._reply(400, {"code": "invalid_batch", "message": "no batch array"})
                if any(len(json.dumps(m).encode()) > MAX_MESSAGE_BYTES for m in batch):
                    return self._reply(400, {"code": "too_large", "message": "message over 32 KB"})
                with server._lock:
                    server.batches.append(body)
                return self._reply(200, {"success": True})

        return Handler
