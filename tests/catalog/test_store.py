"""Catalog writes: schema round trip, latest-row views, atomicity under kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from catalog.schema import SAMPLES, TABLES

REPO = Path(__file__).resolve().parents[2]


def _sample(i: int, status: str = "ok", **kw) -> dict:
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
    catalog.append("samples", [_sample(i) for i in range(5)])
    back = catalog.read("samples")
    assert back.num_rows == 5
    assert back.schema.names == SAMPLES.names
    row = back.sort_by("sample_id").to_pylist()[2]
    assert row["sample_id"] == "s0002" and row["h"] == 72 and row["status"] == "ok"
    assert row["created_at"] is not None


def test_later_row_supersedes_earlier_one_with_same_key(catalog):
    catalog.append("samples", [_sample(1, status="failed", error="boom")])
    catalog.append("samples", [_sample(1, status="ok")])
    rows = catalog.rows("SELECT status, error FROM samples WHERE sample_id = 's0001'")
    assert rows == [{"status": "ok", "error": None}]


def test_append_rejects_unknown_columns_and_wrong_types(catalog):
    with pytest.raises(ValueError, match="unknown columns"):
        catalog.append("samples", [{**_sample(1), "colour": "red"}])
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        catalog.append("samples", [_sample(1, h="tall")])
    with pytest.raises(ValueError, match="unknown catalog table"):
        catalog.append("nope", [{}])
    assert catalog.read("samples").num_rows == 0


def test_duckdb_view_file_can_be_deleted_and_rebuilt(catalog):
    import duckdb

    catalog.append("samples", [_sample(i) for i in range(3)])
    db = catalog.dir / "catalog.duckdb"
    db.unlink()
    catalog.rebuild_duckdb()
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == 3
    catalog.append("samples", [_sample(9)])  # views see new parts without a rebuild
    assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == 4
    con.close()


WRITER = """
import sys
from catalog.store import Catalog
from catalog.schema import SAMPLES
import pyarrow as pa
n = 1_000_000
cols = {name: pa.array(["x" * 40] * n) if SAMPLES.field(name).type == pa.string() else None
        for name in SAMPLES.names}
rows = pa.table({
    "sample_id": pa.array([f"big{i}" for i in range(n)]),
    **{k: v for k, v in cols.items() if v is not None and k != "sample_id"},
})
for name in SAMPLES.names:
    if name not in rows.column_names:
        rows = rows.append_column(name, pa.nulls(n, SAMPLES.field(name).type))
print("writing", flush=True)
Catalog(sys.argv[1]).append("samples", rows)
print("done", flush=True)
"""


def test_writer_killed_mid_write_leaves_catalog_readable_and_unchanged(catalog):
    catalog.append("samples", [_sample(i) for i in range(4)])
    before = catalog.read("samples").sort_by("sample_id")
    parts_before = sorted(p.name for p in (catalog.dir / "samples").iterdir())

    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(catalog.dir)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout.readline().strip() == "writing"
    # Wait for the event "a temporary part file exists", then kill -9.
    deadline = time.monotonic() + 60
    tmp_seen = False
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.name.startswith(".tmp-") for p in (catalog.dir / "samples").iterdir()):
            tmp_seen = True
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert tmp_seen, "the writer finished before it could be killed"
    assert proc.returncode == -signal.SIGKILL

    after = catalog.read("samples").sort_by("sample_id")
    assert after.equals(before)
    visible = sorted(p.name for p in (catalog.dir / "samples").glob("part-*.parquet"))
    assert visible == [p for p in parts_before if p.startswith("part-")]
    catalog.append("samples", [_sample(7)])  # and the catalog still takes writes
    assert catalog.read("samples").num_rows == 5
