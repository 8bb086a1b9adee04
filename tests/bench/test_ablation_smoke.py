"""``bench/ablation.py`` end to end at toy sizes: every stage of the experiment runs, every
variant is trained and scored, and the JSON holds the table and the paired intervals."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench.ablation import DIFFERENCES, VARIANTS
from core.paths import REPO_ROOT

TOY = ["--pseudo4d", "2", "--objects", "2", "--heldout", "3", "--base-steps", "2",
       "--pseudo4d-steps", "2", "--objects-steps", "2", "--batch-size", "2", "--seeds", "0", "1",
       "--sampling-seeds", "0", "--sample-steps", "2", "--bootstrap", "50"]  # fmt: skip


@pytest.mark.timeout(600)
def test_ablation_runs_at_toy_size(tmp_path):
    out = tmp_path / "ablation.json"
    cmd = [sys.executable, "-m", "bench.ablation", "--home", str(tmp_path / "home"),
           "--json", str(out), *TOY]  # fmt: skip
    run = subprocess.run(cmd, cwd=REPO_ROOT, env=dict(os.environ), capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert summary["seeds_done"] == ["0", "1"] or summary["seeds_done"] == [0, 1]
    for v in VARIANTS:
        row = summary["table"][v]
        assert row["trainable_parameters"] > 0
        assert 0 < row["psnr"] < 100 and 0 <= row["consistency"] <= 1
    assert (
        summary["table"]["sequential"]["trainable_parameters"]
        == (summary["table"]["soft"]["trainable_parameters"])
    )
    for a, b in DIFFERENCES:
        d = summary["differences"][f"{a} - {b}/psnr"]
        assert d["low"] <= d["mean"] <= d["high"]
    assert "soft, trained" in summary["divergence"]
    for b in ("same_time", "same_view", "oracle", "background"):  # the bar, as rows
        assert 0 < summary["table"][b]["psnr"] < 100
    oracle = summary["table"]["oracle"]
    assert oracle["psnr"] >= max(summary["table"][b]["psnr"] for b in ("same_time", "same_view"))
    assert any(
        k.startswith("soft - ") and k.endswith("/psnr_object") for k in summary["differences"]
    )
