"""Issue 22 on ``fourreal build objects`` from the shell.

* Finding 1: three builds of one folder at once, on a PostgreSQL catalog: every ``ok``
  row's sha256 and size are those of the file at its path, and a fourth build of the
  same folder into another data root wrote byte-identical files (the builds run in four
  time zones: ZIP member times taken from the clock made every writer's bytes differ).
* Finding 6: ``--json`` carries ``nodes`` (renders per Ray node) beside the five keys,
  and the summary prints them.
* Finding 7: SIGTERM stops a build: every render it reported is recorded, the run is
  ``interrupted``, the exit status is 143, and the rerun does only the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from synthetic.objects import write_demo_objects
from tasks.recording import MAX_RESULTS

SIZE = ["--views", "2", "--times", "2", "--height", "32", "--width", "32", "--min-motion", "0"]
KEYS = {"run_id", "ok", "failed", "skipped", "sample_ids"}
# the render task logs one line per finished render: "<done>/<total> <status> <out|error>"
RESULT_LINE = re.compile(r"\b(\d+)/(\d+) (ok|failed) ")


def _env(home: Path, tag: str, api_url: str, **extra: str) -> dict:
    env = dict(os.environ, FOURREAL_HOME=str(home), PREFECT_HOME=str(home / f"prefect-{tag}"))
    # the session's Prefect API: a temporary one per build costs ~20 s each and is not the point
    env["PREFECT_API_URL"] = api_url
    env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short unix socket paths
    return env | extra


def _build(home: Path, source: Path, api_url: str, *extra: str, tag: str = "a", env=None, **popen):
    cmd = [sys.executable, "-m", "fourreal.cli", "build", "objects", str(source), *SIZE]
    return subprocess.Popen(
        [*cmd, "--workers", "1", *extra],
        env=_env(home, tag, api_url, **(env or {})),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )


def _json_line(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def _catalog(home: Path, metadata: str | None = None):
    from catalog.store import Catalog

    return Catalog(home / "catalog", metadata=metadata)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_three_concurrent_builds_record_the_file_that_is_there(
    postgres_server, prefect_api_url, tmp_path, tmp_path_factory
):
    count = 16
    objects = tmp_path_factory.mktemp("objects-race")
    write_demo_objects(objects, count=count, seed=11)
    home, alone = tmp_path / "home", tmp_path / "alone"
    url = postgres_server.create_database("issue22_race")
    catalog = {"FOURREAL_CATALOG": url}
    # the second build has two workers: it overtakes the others, so the order in which
    # builds write a file and the order in which they record its row can differ
    options = (["--json"], ["--json", "--workers", "2"], [])
    zones = ("UTC", "Asia/Tokyo", "America/New_York")
    procs = [
        _build(home, objects, prefect_api_url, *o, tag=str(k), env=catalog | {"TZ": z})
        for k, (o, z) in enumerate(zip(options, zones, strict=True))
    ]
    # and a fourth build of the same folder into a data root of its own, elsewhere on Earth
    procs.append(
        _build(alone, objects, prefect_api_url, tag="alone", env={"TZ": "Pacific/Auckland"})
    )
    outs = [p.communicate(timeout=1500) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]

    rows = _catalog(home, url).rows(
        "SELECT sample_id, path, sha256, bytes, status FROM samples WHERE kind = 'grid_objaverse'"
    )
    assert len(rows) == len({r["sample_id"] for r in rows}) == count
    for r in rows:
        assert r["status"] == "ok", r
        path = home / r["path"]
        assert (r["sha256"], r["bytes"]) == (_sha256(path), path.stat().st_size), r["sample_id"]
        # same inputs, same bytes: the build that ran alone wrote the very same file
        assert _sha256(alone / r["path"]) == r["sha256"], r["sample_id"]

    # finding 6: renders per node in --json (an extra key) and in the summary
    for out, _ in outs[:2]:
        line = _json_line(out)
        assert set(line) == KEYS | {"nodes"}
        assert sum(line["nodes"].values()) == line["ok"] + line["failed"]
        if line["ok"]:
            assert len(line["nodes"]) == 1  # one local Ray node
    assert "renders per node: " in outs[2][1], outs[2][1][-2000:]


def _ok_rows(home: Path, run_id: str | None = None) -> list[dict]:
    sql = "SELECT sample_id, status, run_id FROM samples WHERE kind = 'grid_objaverse'"
    rows = _catalog(home).rows(sql)
    return [r for r in rows if r["status"] == "ok" and (run_id is None or r["run_id"] == run_id)]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_sigterm_records_what_finished_and_the_rerun_does_the_rest(
    prefect_api_url, tmp_path_factory, tmp_path
):
    count = 40
    objects = tmp_path_factory.mktemp("objects-sigterm")
    write_demo_objects(objects, count=count, seed=3)
    home = tmp_path / "home"
    proc = _build(home, objects, prefect_api_url, "--json")
    reported = 0
    stderr: list[str] = []
    try:
        # the known point: one batch recorded and a few results waiting for the next
        for line in proc.stderr:
            stderr.append(line)
            if m := RESULT_LINE.search(line):
                reported = max(reported, int(m.group(1)))
                if reported >= MAX_RESULTS + 3:
                    break
        assert reported >= MAX_RESULTS + 3, "".join(stderr)[-3000:]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr.append(err)
    for line in err.splitlines():
        if m := RESULT_LINE.search(line):
            reported = max(reported, int(m.group(1)))
    assert proc.returncode == 128 + signal.SIGTERM, "".join(stderr)[-3000:]
    line = _json_line(out)
    assert reported < count  # it really stopped early
    # every render it reported finished is in the catalog, under this run
    assert line["ok"] + line["failed"] == reported
    assert sorted(r["sample_id"] for r in _ok_rows(home, line["run_id"])) == sorted(
        line["sample_ids"]
    )
    (run,) = _catalog(home).rows(
        "SELECT status, error FROM runs WHERE run_id = ?", [line["run_id"]]
    )
    assert run["status"] == "interrupted" and "SIGTERM" in run["error"]

    rerun = _build(home, objects, prefect_api_url, "--json", tag="b")
    out, err = rerun.communicate(timeout=900)
    assert rerun.returncode == 0, err[-3000:]
    again = _json_line(out)
    assert again["skipped"] == line["ok"] and again["ok"] + again["skipped"] == count
    assert not set(again["sample_ids"]) & set(line["sample_ids"])
    assert len(_ok_rows(home)) == count
