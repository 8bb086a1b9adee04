"""A process killed with SIGKILL takes its helpers (temporary Prefect server, local Ray)
with it; a process started in its own session (how `fourreal up` starts the stack) stays."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

from core.procs import proc_stat
from core.reaper import session_descendants

CHILD = textwrap.dedent(
    """
    import subprocess, sys, time
    from prefect import flow
    from core.raycluster import ensure_ray

    ensure_ray(num_cpus=1)              # installs the watcher, starts GCS + raylet + agents

    @flow
    def hello():
        return 1

    hello()                             # no PREFECT_API_URL: a temporary server (uvicorn)
    own = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                           start_new_session=True)
    print("ready", own.pid, flush=True)
    time.sleep(600)
    """
)


def _alive(pid: int, ticks: int) -> bool:
    st = proc_stat(pid)
    return st is not None and st[1] == ticks


def _wait(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return False


def test_sigkill_of_a_flow_process_stops_its_helpers(tmp_path):
    env = dict(os.environ, FOURREAL_HOME=str(tmp_path), PREFECT_HOME=str(tmp_path / "prefect"))
    env.pop("PREFECT_API_URL", None)
    env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: unix sockets
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE, text=True
    )
    own_session = None
    try:
        line = proc.stdout.readline()
        assert line.startswith("ready"), line
        own_pid = int(line.split()[1])
        own_session = (own_pid, proc_stat(own_pid)[1])
        helpers = session_descendants(proc.pid)
        cmdlines = [open(f"/proc/{p}/cmdline", "rb").read() for p, _ in helpers]
        assert any(b"raylet" in c for c in cmdlines), "Ray did not start helpers"
        assert any(b"uvicorn" in c or b"prefect" in c for c in cmdlines), cmdlines
        assert own_pid not in [p for p, _ in helpers]  # another session: not a helper

        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _wait(lambda: not any(_alive(*h) for h in helpers), 60), [
            h for h in helpers if _alive(*h)
        ]
        assert _alive(*own_session)  # started in its own session: left running
    finally:
        if proc.poll() is None:
            proc.kill()
        if own_session and _alive(*own_session):
            os.kill(own_session[0], signal.SIGKILL)
