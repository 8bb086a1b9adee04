"""Helpers die with their parent, even when the parent is killed with SIGKILL.

A process that runs flows in-process starts helpers of its own: Prefect's temporary
API server (uvicorn, when no ``PREFECT_API_URL`` is set) and a local Ray (GCS, raylet,
dashboard and its agents). A SIGKILL gives the parent no chance to stop them, and they
then run forever. ``install_reaper()`` starts one small watcher per process: it keeps a
snapshot of the parent's descendants *in the parent's session* (pid + start time), and
when the parent is gone it sends them SIGTERM, then SIGKILL after a grace period.

Processes started in a session of their own are left alone on purpose: that is how
``fourreal up`` starts the long-lived stack (server, workers), which must outlive the
command that started it (``fourreal down`` stops it). What the watcher cannot see is
a process that left the parent's session before the parent died; such a helper is
the user's to stop.

Run as ``python -m core.reaper PARENT_PID PARENT_START_TICKS``; the parent
keeps the write end of the watcher's stdin, so its death is also an EOF there.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

from core.procs import descendants, proc_stat, signal_if_same

_INSTALLED_FOR: int | None = None  # the pid the watcher watches (a fork must install anew)
_watcher: subprocess.Popen | None = None
POLL_SECONDS = 0.5
GRACE_SECONDS = 5.0


def install_reaper() -> None:
    """Start the watcher of this process once (idempotent; Linux only)."""
    global _INSTALLED_FOR, _watcher
    me = os.getpid()
    if _INSTALLED_FOR == me or not os.path.isdir("/proc"):
        return
    st = proc_stat(me)
    if st is None:
        return
    _watcher = subprocess.Popen(
        [sys.executable, "-m", "core.reaper", str(me), str(st[1])],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # not in the parent's session: never in its own kill list
    )
    _INSTALLED_FOR = me


def session_descendants(pid: int) -> list[tuple[int, int]]:
    """(pid, start ticks) of the descendants of ``pid`` that share its session."""
    try:
        sid = os.getsid(pid)
    except ProcessLookupError:
        return []
    out = []
    for child, ticks in descendants(pid):
        try:
            if os.getsid(child) == sid:
                out.append((child, ticks))
        except ProcessLookupError:
            continue
    return out


def _parent_alive(pid: int, ticks: int) -> bool:
    st = proc_stat(pid)
    return st is not None and st[1] == ticks


def _stop(procs: list[tuple[int, int]], grace: float) -> None:
    alive = [p for p in procs if signal_if_same(*p, signal.SIGTERM)]
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _parent_alive(*p)]
        time.sleep(0.1)
    for p in alive:
        signal_if_same(*p, signal.SIGKILL)


def watch(parent: int, ticks: int) -> None:
    """Refresh the snapshot while the parent lives; stop the snapshot when it is gone."""
    snapshot: list[tuple[int, int]] = []
    stdin = sys.stdin.fileno()
    while _parent_alive(parent, ticks):
        snapshot = session_descendants(parent) or snapshot
        ready, _, _ = select.select([stdin], [], [], POLL_SECONDS)
        if ready and not os.read(stdin, 4096):  # EOF: the parent's end is closed
            break
    # Orphans were re-parented: walk the snapshot, not the (gone) parent's tree.
    _stop([p for p in snapshot if p[0] != os.getpid()], GRACE_SECONDS)


if __name__ == "__main__":
    watch(int(sys.argv[1]), int(sys.argv[2]))
