"""Catalog writes on the DuckLake: schema round trip, upserts, transactions, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from catalog.schema import SAMPLES, TABLES

REPO = Path(__file__).resolve().parents[2]


def sample(i: int, status: str = "ok", **kw) -> dict:
    row = dict(
        sample_id=f"s{i:04d}",
        kind="clip",
        source_id=f"src{i % 3}",
        recipe="clip",
        recipe_version="1",
        params_json="{}",
        mode="dynamic",
        v=1,
        t=8,
        h=72,
        w=128,
        path=f"clips/{i}.npz",
        sha256="ab" * 32,
        status=status,
        error=None,
        run_id="r1",
    )
    row.update(kw)
    return row


def test_every_table_round_trips_its_schema(catalog):
    for name, schema in TABLES.items():
        t = catalog.read(name)
        assert t.schema.names == schema.names, name
        assert t.num_rows == 0
    catalog.append("samples", [sample(i) for i in range(5)])
    back = catalog.read("samples")
    assert back.num_rows == 5
    assert back.schema == SAMPLES
    row = back.sort_by("sample_id").to_pylist()[2]
    assert row["sample_id"] == "s0002" and row["h"] == 72 and row["status"] == "ok"
    assert row["created_at"] is not None and row["supersedes"] is False


def test_later_row_replaces_earlier_one_with_same_key(catalog):
    first = catalog.append("samples", [sample(1, status="failed", error="boom")])
    catalog.append("samples", [sample(1, status="ok"), sample(2)])
    rows = catalog.rows("SELECT sample_id, status, error, supersedes FROM samples ORDER BY 1")
    assert rows == [
        {"sample_id": "s0001", "status": "ok", "error": None, "supersedes": True},
        {"sample_id": "s0002", "status": "ok", "error": None, "supersedes": False},
    ]
    # the replaced row is still there by time travel
    assert catalog.as_of(first).rows("SELECT status, error FROM samples") == [
        {"status": "failed", "error": "boom"}
    ]


def test_a_large_batch_upserts_existing_keys(catalog):
    """Batches over ``INLINE_ROWS`` (what builds write; DuckLake does not inline them): a key already in
    the table is replaced, never duplicated, and only its row is marked ``supersedes``."""
    from catalog.store import INLINE_ROWS

    n = INLINE_ROWS + 5
    catalog.append("samples", [sample(i, status="failed", error="first") for i in range(n)])
    again = [sample(i, status="ok") for i in range(n - 3, 2 * n - 3)]  # 3 known keys, n-3 new
    assert len(again) > INLINE_ROWS
    catalog.append("samples", again)
    rows = catalog.rows("SELECT sample_id, status, error, supersedes FROM samples ORDER BY 1")
    assert [r["sample_id"] for r in rows] == [f"s{i:04d}" for i in range(2 * n - 3)]  # no dups
    replaced = {f"s{i:04d}" for i in range(n - 3, n)}
    for r in rows:
        if r["sample_id"] in replaced:
            assert (r["status"], r["error"], r["supersedes"]) == ("ok", None, True), r
        elif r["sample_id"] < f"s{n - 3:04d}":
            assert (r["status"], r["error"], r["supersedes"]) == ("failed", "first", False), r
        else:
            assert (r["status"], r["error"], r["supersedes"]) == ("ok", None, False), r


def test_append_rejects_bad_rows_before_writing(catalog):
    before = catalog.snapshot_id()
    with pytest.raises(ValueError, match="unknown columns"):
        catalog.append("samples", [{**sample(1), "colour": "red"}])
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        catalog.append("samples", [sample(1, h="tall")])
    with pytest.raises(ValueError, match="unknown catalog table"):
        catalog.append("nope", [{}])
    with pytest.raises(ValueError, match="duplicate sample_id"):
        catalog.append("samples", [sample(1), sample(1)])
    with pytest.raises(ValueError, match="sample_id is null"):
        catalog.append("samples", [sample(1, sample_id=None)])
    assert catalog.read("samples").num_rows == 0
    assert catalog.snapshot_id() == before


def test_a_transaction_commits_all_tables_at_once_or_nothing(catalog):
    before = catalog.snapshot_id()
    with pytest.raises(RuntimeError, match="build died"):
        with catalog.transaction():
            catalog.append("sources", [dict(source_id="src0", kind="video", status="ok")])
            catalog.append("samples", [sample(0)])
            raise RuntimeError("build died")
    assert catalog.snapshot_id() == before
    assert catalog.read("sources").num_rows == 0 and catalog.read("samples").num_rows == 0

    with catalog.transaction() as tx:
        catalog.append("sources", [dict(source_id="src0", kind="video", status="ok")])
        catalog.append("samples", [sample(0), sample(1)])
        catalog.append("metrics", [dict(run_id="r1", stage="base", step=1, name="loss", value=1)])
    assert tx.snapshot_id == catalog.snapshot_id() == before + 1  # ONE snapshot
    at_before = catalog.as_of(before)
    for table, n in (("sources", 1), ("samples", 2), ("metrics", 1)):
        assert catalog.read(table).num_rows == n
        assert at_before.read(table).num_rows == 0


def test_plain_duckdb_can_attach_the_lake_with_the_attach_script(catalog):
    catalog.append("samples", [sample(i) for i in range(3)])
    script = catalog.write_attach_script()
    con = duckdb.connect()
    for statement in duckdb.extract_statements(script.read_text()):
        con.execute(statement.query)
    assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == 3
    catalog.append("samples", [sample(9)])  # later commits are visible to it
    assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == 4
    with pytest.raises(duckdb.Error, match="read-only"):
        con.execute("DELETE FROM samples")
    con.close()


WRITER = """
import sys
import pyarrow as pa
from catalog.store import Catalog
from catalog.schema import SAMPLES
n = int(sys.argv[2])
cat = Catalog(sys.argv[1])
cat.init()
rows = pa.table({
    "sample_id": pa.array([f"big{i:09d}" for i in range(n)]),
    "path": pa.array([f"{i:040d}" for i in range(n)]),
    "sha256": pa.array([f"{i:064x}" for i in range(n)]),
})
print("writing", flush=True)
with cat.transaction():
    cat.append("sources", [dict(source_id="src-big", kind="video", status="ok")])
    cat.append("samples", rows)
print("done", flush=True)
"""


def _data_files(catalog) -> set[Path]:
    return set((catalog.dir / "data").rglob("*.parquet"))


def test_writer_killed_mid_transaction_leaves_the_previous_snapshot(catalog):
    catalog.append("samples", [sample(i) for i in range(4)])
    before_rows = catalog.read("samples").sort_by("sample_id")
    before_snapshot = catalog.snapshot_id()
    files_before = _data_files(catalog)

    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(catalog.dir), "2000000"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout.readline().strip() == "writing"
    # Wait for the event "the transaction has written a data file", then kill -9.
    wrote = False
    while proc.poll() is None:
        if _data_files(catalog) - files_before:
            wrote = True
            break
        time.sleep(0.005)  # polling for the file event (no inotify here)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert wrote, "the writer finished before it could be killed"
    assert proc.returncode == -signal.SIGKILL

    assert catalog.snapshot_id() == before_snapshot
    assert catalog.read("samples").sort_by("sample_id").equals(before_rows)
    assert catalog.read("sources").num_rows == 0
    catalog.append("samples", [sample(7)])  # and the lake still takes writes
    assert catalog.read("samples").num_rows == 5


def test_an_older_lake_gains_new_tables_columns_and_write_guard_rows(catalog):
    from catalog import store

    cur = catalog.connect()
    cur.execute("ALTER TABLE datasets DROP COLUMN snapshot_id")
    cur.execute("DROP TABLE shots")
    cur.execute("DELETE FROM table_versions WHERE table_name = 'shots'")
    cur.close()
    store._INSTANCES.clear()  # as a new process (newer code) opening the older lake
    assert catalog.read("datasets").schema == TABLES["datasets"]
    assert catalog.read("shots").num_rows == 0
    guards = catalog.rows("SELECT table_name FROM table_versions ORDER BY 1")
    assert [g["table_name"] for g in guards] == sorted(store.PRIMARY_KEYS)
