"""``fourreal build objects`` from the shell: the --json contract, and a build killed with
SIGKILL mid-way that loses at most one batch of recorded work and resumes on rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from synthetic.objects import write_demo_objects
from tasks.recording import MAX_RESULTS

N_OBJECTS = 40
SIZE = ["--views", "2", "--times", "2", "--height", "32", "--width", "32", "--min-motion", "0"]


def _env(home: Path, api_url: str | None) -> dict:
    env = dict(os.environ, FOURREAL_HOME=str(home), PREFECT_HOME=str(home / "prefect"))
    # the session's Prefect API when given: a temporary one per build costs ~20 s each
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short unix socket paths
    return env


def _build(
    home: Path, source: Path, *extra: str, api_url: str | None = None, **popen
) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "fourreal.cli", "build", "objects", str(source), *SIZE]
    return subprocess.Popen(
        [*cmd, "--workers", "1", "--json", *extra], env=_env(home, api_url), text=True, **popen
    )


def _ok_samples(home: Path) -> list[str]:
    from catalog.store import Catalog

    rows = Catalog(home / "catalog").rows(
        "SELECT sample_id FROM samples WHERE status = 'ok' AND kind = 'grid_objaverse'"
    )
    return sorted(r["sample_id"] for r in rows)


def _grid_files(home: Path) -> list[Path]:
    return [p for p in (home / "grids").rglob("*") if p.is_file() and "contact" not in str(p)]


def _json_line(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def objects(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("objects")
    write_demo_objects(folder, count=N_OBJECTS, seed=3)
    return folder


@pytest.mark.slow
def test_kill_9_mid_build_loses_at_most_one_batch_and_the_rerun_does_the_rest(
    objects, prefect_api_url, tmp_path
):
    home = tmp_path / "home"
    api = {"api_url": prefect_api_url}
    proc = _build(home, objects, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **api)
    try:
        # the known point: the first batch is in the catalog, the build is still going
        deadline = time.monotonic() + 600
        recorded: list[str] = []
        while time.monotonic() < deadline and proc.poll() is None:
            if (home / "catalog").is_dir() and (recorded := _ok_samples(home)):
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the build ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    recorded = _ok_samples(home)
    written = _grid_files(home)
    assert MAX_RESULTS <= len(recorded) < N_OBJECTS
    assert len(written) - len(recorded) <= MAX_RESULTS  # at most one batch not recorded

    rerun = _build(home, objects, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **api)
    out, err = rerun.communicate(timeout=900)
    assert rerun.returncode == 0, err[-3000:]
    line = _json_line(out)
    assert set(line) == {"run_id", "ok", "failed", "skipped", "sample_ids", "nodes"}
    assert line["skipped"] == len(recorded)  # what was recorded is not done again
    assert line["ok"] + line["skipped"] == N_OBJECTS and line["failed"] == 0
    assert not set(line["sample_ids"]) & set(recorded)
    final = _ok_samples(home)
    assert len(final) == len(set(final)) == N_OBJECTS

    again = _build(home, objects, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **api)
    out, err = again.communicate(timeout=900)
    assert again.returncode == 0, err[-3000:]
    assert _json_line(out) | {"run_id": None} == {
        "run_id": None,
        "ok": 0,
        "failed": 0,
        "skipped": N_OBJECTS,
        "sample_ids": [],
        "nodes": {},  # nothing rendered
    }


def test_bad_option_is_one_line_and_exit_2(objects, tmp_path):
    proc = _build(
        tmp_path, objects, "--height", "30", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "height" in lines[0] and "Traceback" not in err, err
