"""``bench/curate.py`` at toy size: decode, curation and the curated build time their frames and print the ratios."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.paths import REPO_ROOT

TOY = ["--videos", "1", "--shot-frames", "30", "--source-size", "72x128", "--repeats", "1",
       "--views", "2", "--times", "4", "--clips-per-video", "1"]  # fmt: skip


@pytest.mark.timeout(600)
def test_curate_runs_at_toy_size(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), FOURREAL_HOME=str(tmp_path / "home"))
    cmd = [sys.executable, "-m", "bench.curate", *TOY]
    run = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=540)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    for line in ("curation / decode ratio",):
        assert line in run.stdout, run.stdout[-3000:]
