"""Rebuilding an unchanged object corpus: nothing to do starts no Ray; a vanished file is redone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from catalog.store import Catalog
from core.paths import data_root
from synthetic.objects import write_demo_objects

pytestmark = pytest.mark.usefixtures("prefect_harness", "ray_session")

OUT = "grids/test_rebuild"
PARAMS = dict(views=2, times=2, height=32, width=32, min_motion=0.0, num_workers=1, output_dir=OUT)
CLI_SIZE = ["--views", "2", "--times", "2", "--height", "32", "--width", "32"]


def _cli_rebuild(folder: Path, ray_tmp: Path, api_url: str) -> dict:
    """``fourreal build objects --json`` in a fresh process whose Ray would live in ``ray_tmp``."""
    env = dict(os.environ, RAY_TMPDIR=str(ray_tmp))
    # the session's API (a temporary server per CLI run costs ~20 s; Ray is the point here)
    env["PREFECT_API_URL"] = api_url
    cmd = [sys.executable, "-m", "fourreal.cli", "build", "objects", str(folder), *CLI_SIZE]
    cmd += ["--min-motion", "0", "--output-dir", OUT, "--json"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_noop_rebuild_starts_no_ray_and_a_vanished_sample_is_rebuilt(prefect_api_url, tmp_path):
    from flows.build_objaverse import build_grids

    folder = tmp_path / "objects"
    write_demo_objects(folder, count=3, seed=11)
    first = build_grids(source=str(folder), **PARAMS)
    assert first["ok"] == 3 and first["failed"] == 0

    ray_tmp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    try:
        line = _cli_rebuild(folder, ray_tmp, prefect_api_url)
        assert (line["ok"], line["failed"], line["skipped"]) == (0, 0, 3)
        assert list(ray_tmp.iterdir()) == []  # a Ray start writes its session folder there
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)

    # the catalog still says ok, but the file is gone: that sample is rendered again
    sid = first["sample_ids"][0]
    rel = Catalog().rows("SELECT path FROM samples WHERE sample_id = ?", [sid])[0]["path"]
    (data_root() / rel).unlink()
    again = build_grids(source=str(folder), **PARAMS)
    assert (again["ok"], again["skipped"], again["sample_ids"]) == (1, 2, [sid])
    assert (data_root() / rel).is_file()
