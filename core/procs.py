"""Processes as ``/proc`` shows them (Linux): parent, start time, descendants.

A process is named by its pid *and* its start time (clock ticks since boot), so a
recycled pid is never signalled.
"""

from __future__ import annotations

import os
from pathlib import Path


def proc_stat(pid: int) -> tuple[int, int] | None:
    """(ppid, start ticks) of a live process, None if it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[19])


def session_id(pid: int) -> int | None:
    """The session a live process belongs to (the pid of the session's leader)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return int(raw[raw.rindex(")") + 2 :].split()[3])  # state, ppid, pgrp, session


def descendants(pid: int) -> list[tuple[int, int]]:
    """(pid, start ticks) of every live descendant of ``pid``."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = proc_stat(int(entry.name))
            if st is not None:
                children.setdefault(st[0], []).append((int(entry.name), st[1]))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child[0])
    return out


def signal_if_same(pid: int, start_ticks: int, sig: int) -> bool:
    """Signal ``pid`` only if it is still the process that started at ``start_ticks``."""
    st = proc_stat(pid)
    if st is None or st[1] != start_ticks:
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True
