"""A real HTTP file server on loopback for the download tests (run as a subprocess).

    python -m tests.loopback_http --root DIR --port PORT --log FILE [--slow-s S]

Serves the files of ``DIR`` (GET and HEAD, with ``Content-Length`` and a
quoted sha256 ``ETag``); a missing file is a 404. Two routes misbehave on
purpose:

* ``/truncated/<name>``: announces the whole length, sends half, closes;
* ``/slow/<name>``: sends the headers, then waits ``--slow-s`` seconds
  before the body (a client with a shorter read timeout gives up).

It also answers the Hugging Face hub's resolve protocol for files of
``DIR/hub/<repo_type>s/<repo_id>/`` (``/datasets/<repo_id>/resolve/<rev>/<file>``):
``X-Repo-Commit``, ``ETag``/``X-Linked-Etag`` and ``Content-Length`` on HEAD and GET,
which is what ``huggingface_hub.hf_hub_download`` reads.

Every request is appended to ``--log`` as ``METHOD PATH`` (one line, flushed):
a test counts what its build fetched.
"""

from __future__ import annotations

import argparse
import hashlib
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

HUB_COMMIT = "0123456789abcdef0123456789abcdef01234567"


class Handler(BaseHTTPRequestHandler):
    root: Path
    log: Path
    slow_s: float
    lock = threading.Lock()
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass  # the request log below is the one the tests read

    def _record(self) -> None:
        with self.lock, open(self.log, "a") as f:
            f.write(f"{self.command} {self.path}\n")

    def do_HEAD(self):  # noqa: N802 (http.server's naming)
        self._record()
        self._answer(body=False)

    def do_GET(self):  # noqa: N802
        self._record()
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        behaviour, name = "plain", path.lstrip("/")
        for prefix in ("truncated", "slow"):
            if name.startswith(prefix + "/"):
                behaviour, name = prefix, name[len(prefix) + 1 :]
        extra = {}
        hub = _hub_file(name)
        if hub is not None:
            name = hub
            extra = {"X-Repo-Commit": HUB_COMMIT}
        file = (self.root / name).resolve()
        if self.root not in file.parents or not file.is_file():
            self._send(404, b"not found\n", body, {"X-Error-Code": "EntryNotFound"})
            return
        data = file.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest() + '"'
        headers = {"ETag": etag, "Content-Type": "application/octet-stream", **extra}
        if hub is not None:
            headers["X-Linked-Etag"] = etag
            headers["X-Linked-Size"] = str(len(data))
        if behaviour == "truncated" and body:
            self._send(200, data[: len(data) // 2], True, headers, length=len(data))
            self.close_connection = True
            return
        if behaviour == "slow" and body:
            self._send_headers(200, len(data), headers)
            time.sleep(self.slow_s)
            self._write(data)
            return
        self._send(200, data, body, headers)

    def _send_headers(self, status: int, length: int, headers: dict) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(length))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _send(self, status, data, body, headers, length=None) -> None:
        self._send_headers(status, len(data) if length is None else length, headers)
        if body:
            self._write(data)

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to finish


def _hub_file(name: str) -> str | None:
    """``datasets/<owner>/<repo>/resolve/<rev>/<file>`` -> ``hub/datasets/<owner>/<repo>/<file>``."""
    parts = name.split("/")
    if len(parts) >= 6 and parts[0] in ("datasets", "models", "spaces") and parts[3] == "resolve":
        return "/".join(["hub", parts[0], parts[1], parts[2], *parts[5:]])
    return None


@dataclass
class LoopbackHTTP:
    """A running server: its base URL, pid and request log."""

    url: str
    proc: subprocess.Popen
    log: Path

    def requests(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.is_file() else []


def start(root: Path, log: Path, slow_s: float = 5.0) -> LoopbackHTTP:
    """Start the server on a free loopback port (its own session); wait until it answers."""
    from tests.servers import free_port, stop

    port = free_port()
    cmd = [sys.executable, "-m", "tests.loopback_http", "--root", str(root), "--port", str(port)]
    cmd += ["--log", str(log), "--slow-s", str(slow_s)]
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(cmd, cwd=repo, start_new_session=True)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return LoopbackHTTP(f"http://127.0.0.1:{port}", proc, log)
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"loopback HTTP server did not start on port {port}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--slow-s", type=float, default=5.0)
    args = ap.parse_args()
    Handler.root = Path(args.root).resolve()
    Handler.log = Path(args.log)
    Handler.slow_s = args.slow_s
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
