"""Issue 22, finding 2: every input that fails is counted in ``failed``, for all three
builders, in ``--json`` and in the summary, with its reason in the catalog; a build in
which every input failed exits non-zero.

Inputs: a truncated mp4, a text file named ``.mp4`` and a good video (real files:
``synthetic.videos``); for objects, a text file named ``.glb`` and a good object.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from rich.console import Console

from catalog.store import Catalog
from synthetic.objects import write_demo_objects

VIDEO_SIZE = ["--times", "4", "--height", "32", "--width", "64", "--stride", "2"]
OBJECT_SIZE = ["--views", "2", "--times", "2", "--height", "32", "--width", "32"]
BAD_VIDEOS = ("truncated.mp4", "not_a_video.mp4")


@pytest.fixture(scope="module")
def mixed_videos(bad_dir, videos, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("issue22-mixed")
    for name in BAD_VIDEOS:
        shutil.copy(bad_dir / name, folder / name)
    shutil.copy(videos["wide_72x128.mp4"], folder / "good.mp4")
    return folder


def _run(what: str, source: Path, *options: str) -> tuple[dict, str]:
    """The build flow in this process, as the CLI runs it: (its return value, --json line).

    In-process (one Prefect harness for the session): a second flow run through
    typer's CliRunner would log to the stream the first one closed.
    """
    from fourreal.commands.build import BUILDS, _values, summary_line

    model_of, flow_of, _ = BUILDS[what]
    model = model_of()
    given = dict(zip(options[::2], options[1::2], strict=True))
    fields = {k.lstrip("-").replace("-", "_"): v for k, v in given.items()}
    result = flow_of()(model(source=str(source), **_values(model, fields)))
    return result, summary_line(result)


def _cli_subprocess(home: Path, api_url: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, FOURREAL_HOME=str(home), PREFECT_HOME=str(home / "prefect"))
    env["PREFECT_API_URL"] = api_url  # the session's API: a temporary server costs ~20 s
    env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short socket paths
    cmd = [sys.executable, "-m", "fourreal.cli", *args]
    return subprocess.run(cmd, env=env, text=True, capture_output=True, timeout=900)


def _json_line(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def _failed_sources(run_id: str, catalog: Catalog | None = None) -> dict[str, str]:
    rows = (catalog or Catalog()).rows(
        "SELECT uri, error FROM sources WHERE run_id = ? AND status = 'failed'", [run_id]
    )
    return {Path(r["uri"]).name: r["error"] for r in rows}


@pytest.mark.parametrize("what", ["pseudo4d", "clips"])
def test_video_builds_count_every_failed_input(prefect_harness, ray_session, mixed_videos, what):
    from fourreal.commands.build import exit_code, print_summary

    version = f"issue22-{what}"  # its own recipe version: nothing of other tests is skipped
    views = ["--views", "2"] if what == "pseudo4d" else []
    result, line = _run(what, mixed_videos, *VIDEO_SIZE, *views, "--recipe-version", version)
    assert line["failed"] == len(BAD_VIDEOS) and line["ok"] >= 1 and line["skipped"] == 0
    assert exit_code(result, line) == 0
    reasons = _failed_sources(line["run_id"])
    assert sorted(reasons) == sorted(BAD_VIDEOS) and all(reasons.values()), reasons

    # the summary (no --json) says the same, with the reasons
    text = io.StringIO()
    print_summary(result, line, Console(file=text))
    summary = text.getvalue()
    assert f"{len(BAD_VIDEOS)} failed" in summary
    failures = [t for t in summary.splitlines() if t.strip().startswith("failed ")]
    assert sorted(Path(t.split(": ")[0]).name for t in failures) == sorted(BAD_VIDEOS), summary


@pytest.mark.slow
def test_a_build_whose_every_input_failed_exits_non_zero(bad_dir, prefect_api_url, tmp_path):
    folder = tmp_path / "only-truncated"
    folder.mkdir()
    shutil.copy(bad_dir / "truncated.mp4", folder / "truncated.mp4")
    home = tmp_path / "home"
    args = ("build", "pseudo4d", str(folder), *VIDEO_SIZE, "--json")
    done = _cli_subprocess(home, prefect_api_url, *args)
    assert done.returncode == 1, done.stderr[-3000:]
    line = _json_line(done.stdout)
    assert (line["ok"], line["failed"], line["skipped"]) == (0, 1, 0)
    assert "truncated.mp4" in _failed_sources(line["run_id"], Catalog(home / "catalog"))


def test_objects_build_counts_a_broken_file_and_fails_when_all_do(
    prefect_harness, ray_session, tmp_path
):
    from fourreal.commands.build import exit_code

    folder = tmp_path / "objects"
    write_demo_objects(folder, count=1, seed=5)
    (folder / "broken.glb").write_text("this is a text file with a .glb suffix\n")
    options = [*OBJECT_SIZE, "--min-motion", "0", "--output-dir", "grids/issue22"]
    result, line = _run("objects", folder, *options)
    assert (line["ok"], line["failed"]) == (1, 1) and exit_code(result, line) == 0
    rows = Catalog().rows(
        "SELECT error FROM samples WHERE run_id = ? AND status = 'failed'", [line["run_id"]]
    )
    assert len(rows) == 1 and rows[0]["error"]

    only = tmp_path / "only-broken"
    only.mkdir()
    shutil.copy(folder / "broken.glb", only / "broken.glb")
    result, line = _run("objects", only, *options)
    assert (line["ok"], line["failed"], line["skipped"]) == (0, 1, 0)
    assert exit_code(result, line) == 1
