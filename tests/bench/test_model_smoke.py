"""``bench/model.py`` at toy size: a base and a sync step of the tiny preset on a 2x2 grid, and generation."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.paths import REPO_ROOT

TOY = ["--preset", "tiny", "--grid", "2", "2", "--iters", "1", "--warmup", "0", "--generate",
       "--steps", "1", "--up-steps", "1"]  # fmt: skip


@pytest.mark.timeout(600)
def test_model_runs_at_toy_size(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), FOURREAL_HOME=str(tmp_path / "home"))
    cmd = [sys.executable, "-m", "bench.model", *TOY]
    run = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=540)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    for line in ("tiny",):
        assert line in run.stdout, run.stdout[-3000:]
