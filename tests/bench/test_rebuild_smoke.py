"""``bench/rebuild.py`` at toy size: a real build of one object, the rest recorded, and the timed no-op rebuild."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.paths import REPO_ROOT

TOY = ["--objects", "20", "--rendered", "1"]  # fmt: skip


@pytest.mark.timeout(600)
def test_rebuild_runs_at_toy_size(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), FOURREAL_HOME=str(tmp_path / "home"))
    cmd = [sys.executable, "-m", "bench.rebuild", *TOY]
    run = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=540)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    for line in ("checks (0 made, all skipped, nothing written, no Ray): ok",):
        assert line in run.stdout, run.stdout[-3000:]
