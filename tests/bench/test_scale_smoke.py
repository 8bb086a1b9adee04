"""``bench/scale.py`` at toy size, and that it leaves nothing running.

Ray daemonises its node processes, so a parent cannot find them by ancestry. The bench
runs under a small wrapper that is a child subreaper (``PR_SET_CHILD_SUBREAPER``): every
process the bench starts, daemonised or not, stays the wrapper's descendant. Once the
bench has exited, the wrapper lists its live descendants by pid; there must be none.
This does not trust the bench's own way of finding its processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.paths import REPO_ROOT

TOY = ["--quick", "--store", "local", "--objects", "2", "--views", "2", "--times", "2",
       "--height", "32", "--width", "32", "--repeats", "1"]  # fmt: skip

WRAPPER = """
import ctypes, json, os, subprocess, sys, time
from core.procs import descendants, proc_stat

PR_SET_CHILD_SUBREAPER = 36
assert ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
bench = subprocess.run([sys.executable, "-m", "bench.scale", *sys.argv[1:]])
time.sleep(1)  # a process the bench signalled may still be on its way out
while True:  # reap what was reparented here and has exited
    try:
        if os.waitpid(-1, os.WNOHANG)[0] == 0:
            break
    except ChildProcessError:
        break
left = []
for pid, _ in descendants(os.getpid()):
    cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\\0", b" ").decode(errors="replace")
    left.append([pid, cmd[:200]])
    os.kill(pid, 9)  # do not leak them past the test either
print(json.dumps({"returncode": bench.returncode, "left": left}))
"""


@pytest.mark.timeout(600)
def test_scale_runs_at_toy_size_and_leaves_nothing_running():
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    env.pop("RAY_ADDRESS", None)
    run = subprocess.run(
        [sys.executable, "-c", WRAPPER, *TOY],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["left"] == [], out["left"]  # first: a failed run must not leak either
    assert out["returncode"] == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "objects/s" in run.stdout and "projection:" in run.stdout
