"""``bash bench/gpu.sh --cpu-smoke``: the device script's code, run at the tiny preset on CPU,
so that it is known to work before a GPU sees it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.paths import REPO_ROOT

LINES = ("sdpa backend", "base MFU", "sync step / base step", "peak memory", "generation", "render")


@pytest.mark.timeout(420)
def test_gpu_bench_cpu_smoke(tmp_path):
    out_json = tmp_path / "figures.json"
    env = {**os.environ, "PYTHON": sys.executable}
    cmd = ["bash", str(REPO_ROOT / "bench" / "gpu.sh"), "--cpu-smoke", "--json", str(out_json)]
    run = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    printed = [ln.split("  ")[0].strip() for ln in run.stdout.splitlines()]
    for name in LINES:  # one line each, in this order
        assert printed.count(name) == 1, (name, run.stdout)
    assert [n for n in printed if n in LINES] == list(LINES)

    figures = json.loads(out_json.read_text())
    assert figures["sdpa backend"]["backend"] in ("flash (cpu)", "math", "efficient", "flash")
    assert figures["base MFU"]["step_s"] > 0 and figures["sync step / base step"]["ratio"] > 0
    for stage in ("base", "sync", "upsampler"):
        assert figures["peak memory"][stage]["estimate_gib"] > 0
    assert figures["generation"]["total_s"] > figures["generation"]["grid_s"] > 0
    assert figures["render"]["egl"] > 0 and figures["render"]["osmesa"] > 0
