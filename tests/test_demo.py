"""``fourreal demo`` as a new user runs it, twice on the same data root: the second run
passes and reuses what the first one made (no render, no new checkpoint)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

DEMO = [
    "demo",
    "--objects",
    "2",
    "--base-steps",
    "2",
    "--sync-steps",
    "2",
    "--upsampler-steps",
    "2",
]


def _run_demo(home) -> str:
    env = dict(os.environ, FOURREAL_HOME=str(home), PREFECT_HOME=str(home / "prefect"))
    env.pop("PREFECT_API_URL", None)  # its own ephemeral server, like `make demo`
    res = subprocess.run(
        [sys.executable, "-m", "fourreal.cli", *DEMO], env=env, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res.stdout


def _counts(home) -> dict:
    from catalog.store import Catalog

    cat = Catalog(home / "catalog")
    q = "SELECT kind, count(*) AS n FROM {} GROUP BY kind ORDER BY kind"
    return {
        "samples": cat.rows(q.format("samples")),
        "checkpoints": cat.rows("SELECT count(*) AS n FROM checkpoints"),
    }


@pytest.mark.slow
def test_demo_twice_reuses_what_exists(tmp_path):
    home = tmp_path / "home"
    first = _run_demo(home)
    assert "generated grid" in first
    made = _counts(home)
    # 2 objects to train on and 1 held out, whose grid is the one generated
    assert any(r["kind"] == "grid_objaverse" and r["n"] == 3 for r in made["samples"])
    assert "No stage trained on this object" in first and "best baseline" in first
    second = _run_demo(home)
    assert "generated grid" in second
    assert _counts(home) == made  # nothing rendered, built or trained again


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--height", "32", "--width", "64"], "needs at least 64x128"),
        (["--times", "12"], "at most 8 frames"),
    ],
)
def test_sizes_the_tiny_models_cannot_train_on_fail_before_any_work(tmp_path, args, reason):
    from typer.testing import CliRunner

    from fourreal.cli import app

    home = tmp_path / "home"
    out = CliRunner().invoke(app, ["demo", *args], env={"FOURREAL_HOME": str(home)})
    assert out.exit_code == 2, out.output
    assert reason in out.output and out.output.count("\n") == 1, out.output
    assert not home.exists() or not any(home.rglob("*.glb"))  # nothing rendered or written
