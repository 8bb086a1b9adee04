"""``bench/pseudo4d.py`` at toy size: decode-only, the build path serially and on Ray, and the read-time warp."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.paths import REPO_ROOT

TOY = ["--videos", "1", "--frames", "12", "--source-size", "48x64", "--views", "2", "--times", "2",
       "--clips-per-video", "1", "--repeats", "1", "--sizes", "16x32", "--num-cpus", "1"]  # fmt: skip


@pytest.mark.timeout(600)
def test_pseudo4d_runs_at_toy_size(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), FOURREAL_HOME=str(tmp_path / "home"))
    cmd = [sys.executable, "-m", "bench.pseudo4d", *TOY]
    run = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=540)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    for line in ("decode fps", "16x32"):
        assert line in run.stdout, run.stdout[-3000:]
