"""Several processes write one lake at once (SQLite and PostgreSQL metadata): nothing is lost.

Each writer makes N single-transaction appends; every append writes one key of
its own and rewrites one of a few keys all writers share (so writers really
conflict). Afterwards counts are exact and no key appears twice.
``FOURREAL_TEST_CONCURRENT_APPENDS`` sets N: 100 in `make test` (4 x 100 per mode keeps the
suite short on 2 cores); `FOURREAL_TEST_CONCURRENT_APPENDS=500` runs the 4 x 500 of the issue.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from catalog.store import Catalog

REPO = Path(__file__).resolve().parents[2]
WRITERS = 4
APPENDS = int(os.environ.get("FOURREAL_TEST_CONCURRENT_APPENDS", "100"))
SHARED_KEYS = 7

WRITER = """
import sys
from catalog.store import Catalog

root, metadata, who, n = sys.argv[1], sys.argv[2] or None, int(sys.argv[3]), int(sys.argv[4])
cat = Catalog(root, metadata=metadata)
cat.snapshot_id()  # open (and create) the lake before the race starts
print("ready", flush=True)
sys.stdin.readline()  # "go": every writer starts at once
for i in range(n):
    cat.append("samples", [
        dict(sample_id=f"w{who}-{i:05d}", kind="clip", status="ok", run_id=f"w{who}"),
        dict(sample_id=f"shared-{i % %(shared)d}", kind="clip", status="ok", run_id=f"w{who}"),
    ])
print("done", flush=True)
""".replace("%(shared)d", str(SHARED_KEYS))


def wait_for_line(proc: subprocess.Popen, expected: str, log: Path) -> None:
    """Read the writer's stdout up to ``expected`` (other lines are kept for the message)."""
    seen = []
    for line in proc.stdout:
        if line.strip() == expected:
            return
        seen.append(line)
    raise AssertionError(f"writer exited before {expected!r}: {seen} {log.read_text()[-3000:]}")


def race(root: Path, metadata: str | None) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    logs = [root.parent / f"writer-{w}.log" for w in range(WRITERS)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(root), metadata or "", str(w), str(APPENDS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=logs[w].open("w"),
            text=True,
            cwd=REPO,
            env=env,
        )
        for w in range(WRITERS)
    ]
    for p, log in zip(procs, logs, strict=True):
        wait_for_line(p, "ready", log)
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p, log in zip(procs, logs, strict=True):
        out, _ = p.communicate(timeout=3600)
        assert p.returncode == 0 and out.strip() == "done", log.read_text()[-3000:]


def check(cat: Catalog) -> None:
    (row,) = cat.rows(
        "SELECT count(*) AS n, count(DISTINCT sample_id) AS keys, "
        "count(*) FILTER (WHERE sample_id LIKE 'w%') AS own FROM samples"
    )
    assert row == {"n": WRITERS * APPENDS + SHARED_KEYS, "keys": row["n"], "own": WRITERS * APPENDS}
    per_writer = cat.rows(
        "SELECT run_id, count(*) AS n FROM samples WHERE sample_id LIKE 'w%' GROUP BY 1 ORDER BY 1"
    )
    assert per_writer == [{"run_id": f"w{w}", "n": APPENDS} for w in range(WRITERS)]
    (guard,) = cat.rows("SELECT version FROM table_versions WHERE table_name = 'samples'")
    assert guard["version"] == WRITERS * APPENDS  # one committed write each, none lost


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_writers_on_sqlite_metadata(tmp_path):
    cat = Catalog(tmp_path / "catalog")
    cat.init()
    race(cat.dir, None)
    check(cat)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_writers_on_postgres_metadata(postgres_server, tmp_path):
    url = postgres_server.create_database("concurrency")
    cat = Catalog(tmp_path / "catalog", metadata=url)
    cat.init()
    race(cat.dir, url)
    check(cat)
