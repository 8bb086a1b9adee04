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

from fourreal.core.paths import REPO_ROOT


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


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, start ticks) of a live process, None if it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[19])


def is_running(rec: ProcRecord) -> bool:
    """True if the recorded process (same pid *and* same start time) is alive."""
    st = _stat(rec.pid)
    return st is not None and st[1] == rec.start_ticks


def _descendants(pid: int) -> list[tuple[int, int]]:
    """(pid, start ticks) of every live descendant of ``pid``."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None:
                children.setdefault(st[0], []).append((int(entry.name), st[1]))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child[0])
    return out


def _signal(pid: int, start_ticks: int, sig: int) -> bool:
    st = _stat(pid)
    if st is None or st[1] != start_ticks:
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


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
        st = _stat(pid)
        if st is None or st[1] != start_ticks:
            return True
        time.sleep(0.1)
    return False


def stop_process(rec: ProcRecord, grace: float = 20.0) -> str:
    """Stop one recorded process and everything it started; returns what it took."""
    if not is_running(rec):
        return "not running"
    family = _descendants(rec.pid)
    how = "SIGINT"
    _signal(rec.pid, rec.start_ticks, signal.SIGINT)
    if not _wait_gone(rec.pid, rec.start_ticks, grace / 2):
        _signal(rec.pid, rec.start_ticks, signal.SIGINT)  # a worker may ignore the first
        how = "SIGINT x2"
        if not _wait_gone(rec.pid, rec.start_ticks, grace / 2):
            _signal(rec.pid, rec.start_ticks, signal.SIGKILL)
            _wait_gone(rec.pid, rec.start_ticks, 5)
            how = "SIGKILL"
    # Flow runs may run in their own session and outlive the worker: stop them too.
    leftovers = [(pid, ticks) for pid, ticks in family if _signal(pid, ticks, signal.SIGTERM)]
    for pid, ticks in leftovers:
        if not _wait_gone(pid, ticks, 5):
            _signal(pid, ticks, signal.SIGKILL)
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
    st = _stat(proc.pid)
    if st is None:
        raise RuntimeError(f"{name} exited at once; see {log}")
    return ProcRecord(name=name, pid=proc.pid, start_ticks=st[1], cmd=cmd, log=str(log))


def tail(path: str | Path, n: int = 30) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except FileNotFoundError:
        return ""
