"""``bench/render.py`` at toy size: the flow's Ray render path against a raw pyrender loop."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.paths import REPO_ROOT

TOY = ["--sizes", "32x32", "--views", "2", "--times", "2", "--objects", "1", "--workers", "1"]  # fmt: skip


@pytest.mark.timeout(600)
def test_render_runs_at_toy_size(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), FOURREAL_HOME=str(tmp_path / "home"))
    cmd = [sys.executable, "-m", "bench.render", *TOY]
    run = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=540)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    for line in ("flow / raw",):
        assert line in run.stdout, run.stdout[-3000:]
