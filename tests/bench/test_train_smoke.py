"""``bench/train.py`` at toy size: a few steps of each stage of the tiny preset from a local data root, and the loader."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.paths import REPO_ROOT

TOY = ["--presets", "tiny", "--store", "local", "--steps", "2", "--threads", "1",
       "--loader-workers", "0"]  # fmt: skip


@pytest.mark.timeout(600)
def test_train_runs_at_toy_size(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), FOURREAL_HOME=str(tmp_path / "home"))
    cmd = [sys.executable, "-m", "bench.train", *TOY]
    run = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=540)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    for line in ("base", "sync", "upsampler"):
        assert line in run.stdout, run.stdout[-3000:]
