"""Processes the stack starts: spawned in their own session, recorded by pid *and* start
time, and stopped with their descendants (a recycled pid is never signalled).

Workers can ignore one SIGTERM: SIGINT, a grace period, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from core.paths import REPO_ROOT
from core.procs import descendants, proc_stat, signal_if_same


def prefect_bin() -> str:
    """The ``prefect`` executable of the running interpreter's environment."""
    exe = Path(sys.executable).with_name("prefect")
    return str(exe) if exe.exists() else "prefect"


@dataclass(kw_only=True)
class ProcRecord:
    """One process ``up`` started: pid plus its start time (in clock ticks since boot)."""

    name: str
    pid: int
    start_ticks: int
    cmd: list[str]
    log: str


def is_running(rec: ProcRecord) -> bool:
    """True if the recorded process (same pid *and* same start time) is alive."""
    st = proc_stat(rec.pid)
    return st is not None and st[1] == rec.start_ticks


def _reap(pid: int) -> None:
    """Collect a child's exit status if we are its parent (no zombies)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _wait_gone(pid: int, start_ticks: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        st = proc_stat(pid)
        if st is None or st[1] != start_ticks:
            return True
        time.sleep(0.1)
    return False


def stop_process(rec: ProcRecord, grace: float = 20.0) -> str:
    """Stop one recorded process and everything it started; returns what it took."""
    if not is_running(rec):
        return "not running"
    family = descendants(rec.pid)
    how = "SIGINT"
    signal_if_same(rec.pid, rec.start_ticks, signal.SIGINT)
    if not _wait_gone(rec.pid, rec.start_ticks, grace / 2):
        signal_if_same(rec.pid, rec.start_ticks, signal.SIGINT)  # a worker may ignore the first
        how = "SIGINT x2"
        if not _wait_gone(rec.pid, rec.start_ticks, grace / 2):
            signal_if_same(rec.pid, rec.start_ticks, signal.SIGKILL)
            _wait_gone(rec.pid, rec.start_ticks, 5)
            how = "SIGKILL"
    # Flow runs may run in their own session and outlive the worker: stop them too.
    leftovers = [
        (pid, ticks) for pid, ticks in family if signal_if_same(pid, ticks, signal.SIGTERM)
    ]
    for pid, ticks in leftovers:
        if not _wait_gone(pid, ticks, 5):
            signal_if_same(pid, ticks, signal.SIGKILL)
    if leftovers:
        how += f", {len(leftovers)} child process(es) stopped"
    return how


def spawn(name: str, cmd: list[str], env: dict[str, str], log: Path) -> ProcRecord:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the caller's terminal does not reach it
        )
    st = proc_stat(proc.pid)
    if st is None:
        raise RuntimeError(f"{name} exited at once; see {log}")
    return ProcRecord(name=name, pid=proc.pid, start_ticks=st[1], cmd=cmd, log=str(log))


def tail(path: str | Path, n: int = 30) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except FileNotFoundError:
        return ""
