"""One real local stack (``fourreal up``) for the deployment tests of this package.

The stack runs in subprocesses with their own data root, ``PREFECT_HOME`` and
port; this pytest process never sets ``PREFECT_API_URL``, so the session's
ephemeral ``prefect_harness`` used by other tests is untouched. It talks to
the stack over plain HTTP (``Api``) and reads the stack's catalog directly.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RETRY_CODES = {429, 502, 503}
RETRIES = 5
UP_TIMEOUT = 420  # server start under load (~60 s), deploy --all (~30 s), margins


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    """The stack's REST API over urllib (no Prefect settings in this process)."""

    def __init__(self, url: str):
        self.url = url

    def call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method,
            headers={"content-type": "application/json"},
        )  # fmt: skip
        # as Prefect's own client does: a busy server (its database locked under load)
        # answers 503; retry those, with backoff, a few times
        for attempt in range(RETRIES + 1):
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return json.loads(r.read() or b"null")
            except urllib.error.HTTPError as e:
                if e.code not in RETRY_CODES or attempt == RETRIES:
                    raise
                time.sleep(2**attempt)

    def deployment(self, flow: str, name: str) -> dict:
        return self.call("GET", f"/deployments/name/{flow}/{name}")

    def run_deployment(self, deployment_id: str) -> dict:
        return self.call("POST", f"/deployments/{deployment_id}/create_flow_run", {})

    def runs_of(self, deployment_id: str) -> list[dict]:
        body = {"deployments": {"id": {"any_": [deployment_id]}}, "sort": "EXPECTED_START_TIME_ASC"}
        return self.call("POST", "/flow_runs/filter", body)

    def events(self, name: str) -> list[dict]:
        body = {"filter": {"event": {"name": [name]}, "order": "ASC"}, "limit": 50}
        return self.call("POST", "/events/filter", body)["events"]


@dataclass
class Stack:
    home: Path
    port: int
    api: Api
    ui_url: str
    env: dict
    logs: Path

    def log_tails(self, n: int = 40) -> str:
        out = []
        for f in sorted(self.logs.glob("*.log")):
            lines = f.read_text(errors="replace").splitlines()[-n:]
            out.append(f"---- {f.name}\n" + "\n".join(lines))
        return "\n".join(out)

    def wait_for(self, what: str, check, timeout: float, interval: float = 1.0):
        """Poll ``check()`` until it returns something truthy; fail with the logs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(interval)
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{self.log_tails()}")

    def wait_run(self, run_id: str, timeout: float = 300) -> dict:
        """Wait for a flow run's terminal state; it must be COMPLETED."""

        def done():
            run = self.api.call("GET", f"/flow_runs/{run_id}")
            return run if run["state_type"] in TERMINAL else None

        run = self.wait_for(f"flow run {run_id}", done, timeout)
        if run["state_type"] != "COMPLETED":
            pytest.fail(
                f"flow run {run['name']} ended {run['state_type']}: "
                f"{run['state'].get('message')}\n{self.log_tails()}"
            )
        return run

    def wait_nth_run(self, deployment_id: str, n: int, timeout: float = 300) -> dict:
        """Wait until the deployment has ``n`` runs (started by a trigger); return the n-th."""
        runs = self.wait_for(
            f"run #{n} of deployment {deployment_id}",
            lambda: (r := self.api.runs_of(deployment_id)) and len(r) >= n and r,
            timeout,
        )
        return runs[n - 1]


def fourreal_cli() -> str:
    exe = Path(sys.executable).with_name("fourreal")
    return str(exe) if exe.exists() else "fourreal"


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    """``fourreal up`` on a free loopback port; ``fourreal down`` afterwards, checked by pid."""
    home = tmp_path_factory.mktemp("stack-home")
    port = free_port()
    env = dict(os.environ)
    for key in ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_PROFILE"):
        env.pop(key, None)
    env["FOURREAL_HOME"] = str(home)
    cmd = [fourreal_cli(), "up", "--port", str(port), "--poll-seconds", "2", "--demo-corpus"]
    up = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=UP_TIMEOUT)
    state_file = home / "prefect" / "stack.json"
    stack = Stack(
        home=home,
        port=port,
        api=Api(f"http://127.0.0.1:{port}/api"),
        ui_url=f"http://127.0.0.1:{port}",
        env=env,
        logs=home / "prefect" / "logs",
    )
    try:
        assert up.returncode == 0, f"fourreal up failed:\n{up.stdout}\n{up.stderr}"
        yield stack
    finally:
        started = json.loads(state_file.read_text())["processes"] if state_file.exists() else []
        down = subprocess.run(
            [fourreal_cli(), "down"], env=env, capture_output=True, text=True, timeout=180
        )
        assert down.returncode == 0, down.stderr
        alive = [p for p in started if _alive(p["pid"], p["start_ticks"])]
        assert not alive, f"still running after fourreal down: {alive}"
        assert not state_file.exists()


def _alive(pid: int, start_ticks: int) -> bool:
    from fourreal.stack.server import ProcRecord, is_running

    return is_running(ProcRecord(name="", pid=pid, start_ticks=start_ticks, cmd=[], log=""))
