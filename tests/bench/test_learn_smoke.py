"""``bench/learn.py`` end to end at toy size: data, the three stages with their validation
curves, generation on held-out objects scored beside every baseline, the upsampler against
bicubic, and the last stdout line one JSON object."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.paths import REPO_ROOT

TOY = ["--objects", "3", "--heldout", "2", "--pseudo4d", "2", "--base-steps", "2",
       "--sync-steps", "1", "1", "--upsampler-steps", "2", "--eval-every", "1",
       "--sample-steps", "2", "--bootstrap", "50", "--dim", "32", "--heads", "2",
       "--depth", "1", "--base-batch", "2", "--sync-batch", "1", "--upsampler-batch", "1",
       "--threads", "1"]  # fmt: skip


@pytest.mark.timeout(600)
def test_learn_runs_at_toy_size(tmp_path):
    cmd = [sys.executable, "-m", "bench.learn", "--out", str(tmp_path / "out"), *TOY]
    run = subprocess.run(cmd, cwd=REPO_ROOT, env=dict(os.environ), capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["heldout_grids"] == 2
    table = result["4d"]["4d_model"]
    for row in ("model", "same_time", "same_view", "oracle", "background"):
        assert 0 < table["rows"][row]["psnr"] <= 100
    assert table["rows"]["oracle"]["psnr"] >= table["rows"]["same_time"]["psnr"]
    assert set(result["beats_best_baseline"]) == {"psnr", "psnr_object"}
    for stage in ("base", "4d", "upsampler"):
        steps = [step for step, _ in result["validation"][stage]]
        assert steps[0] == 0 and steps == sorted(steps) and len(steps) >= 2
    up = result["upsampler"]
    assert 0 < up["psnr_bicubic"] <= 100 and up["low"] <= up["difference"] <= up["high"]
    assert (tmp_path / "out" / "curves.png").stat().st_size > 0
