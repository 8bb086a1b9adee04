"""`fourreal catalog migrate` imports a catalog of the previous format, every row and link."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from catalog.datasets import dataset_samples, get_dataset
from catalog.lineage import lineage
from catalog.schema import PRIMARY_KEYS, TABLES
from fourreal.cli import app

# The previous version's layout (catalog/store.py before DuckLake): per table a
# folder of Parquet parts, one per append, named by time_ns so that name order
# is write order; an empty part carrying the schema; ``supersedes`` set on rows
# whose key was written before; datasets had no snapshot_id column.
OLD_EMPTY_PART = "part-00000000000000000000-schema.parquet"


def old_schema(table: str) -> pa.Schema:
    schema = TABLES[table]
    return pa.schema([f for f in schema if f.name != "snapshot_id"])


class OldCatalog:
    def __init__(self, root: Path):
        self.dir = root
        for table in TABLES:
            (root / table).mkdir(parents=True, exist_ok=True)
            pq.write_table(old_schema(table).empty_table(), root / table / OLD_EMPTY_PART)
        (root / "catalog.duckdb").write_bytes(b"views only")
        self.seen: dict[str, set] = {t: set() for t in TABLES}

    def append(self, table: str, rows: list[dict]) -> None:
        schema = old_schema(table)
        key = PRIMARY_KEYS.get(table)
        full = []
        for row in rows:
            r = {n: row.get(n) for n in schema.names}
            if "created_at" in r and r["created_at"] is None:
                r["created_at"] = pa.scalar(time.time_ns() // 1000, pa.timestamp("us", "UTC"))
            if key is not None:
                r["supersedes"] = row[key] in self.seen[table]
                self.seen[table].add(row[key])
            full.append(r)
        data = pa.Table.from_pylist(full, schema=schema)
        name = f"part-{time.time_ns():020d}-{secrets.token_hex(4)}.parquet"
        pq.write_table(data, self.dir / table / name, compression="zstd")


def build_old_catalog(root: Path) -> dict:
    old = OldCatalog(root)
    old.append("runs", [dict(run_id="ingest", flow="build_clips", status="running")])
    old.append("sources", [dict(source_id=f"src{i}", kind="video", status="ok",
                                uri=f"v{i}.mp4", run_id="ingest") for i in range(2)])  # fmt: skip
    old.append("samples", [dict(sample_id=f"s{i}", kind="clip", source_id=f"src{i % 2}",
                                status="failed", error="first try", run_id="ingest")
                           for i in range(3)])  # fmt: skip
    old.append(
        "samples",
        [
            dict(
                sample_id=f"s{i}",
                kind="clip",
                source_id=f"src{i % 2}",
                status="ok",
                path=f"c{i}.npz",
                run_id="ingest",
            )
            for i in range(2)
        ],
    )  # fmt: skip  (s2 stays failed)
    old.append("runs", [dict(run_id="ingest", flow="build_clips", status="completed",
                             outputs_json='{"samples":["s0","s1"]}')])  # fmt: skip
    old.append("datasets", [dict(dataset_id="ds1", name="clips", content_hash="h",
                                 query="status = 'ok'", num_samples=2, sample_ids=["s0", "s1"],
                                 split="train", run_id="snap")])  # fmt: skip
    old.append("runs", [dict(run_id="train", flow="train_base", status="completed")])
    old.append("checkpoints", [dict(checkpoint_id="ck1", stage="base", path="b.st",
                                    sha256="ab", step=3, dataset_id="ds1", run_id="train")])  # fmt: skip
    old.append("metrics", [dict(run_id="train", stage="base", step=s, name="loss", value=1 / s)
                           for s in (1, 2, 3)])  # fmt: skip
    return {"rows": {"runs": 3, "sources": 2, "samples": 5, "datasets": 1,
                     "checkpoints": 1, "metrics": 3}}  # fmt: skip


def test_migrate_imports_every_row_and_lineage_link(catalog):
    expected = build_old_catalog(catalog.dir)
    from catalog.migrate import migrate

    before = catalog.snapshot_id()
    counts = migrate(catalog)
    assert {t: n for t, n in counts.items() if n} == expected["rows"]

    # latest row per key, as the old views showed
    samples = {r["sample_id"]: r for r in catalog.rows("SELECT * FROM samples")}
    assert {k: v["status"] for k, v in samples.items()} == {"s0": "ok", "s1": "ok", "s2": "failed"}
    assert samples["s0"]["supersedes"] and not samples["s2"]["supersedes"]
    assert catalog.rows("SELECT status FROM runs WHERE run_id = 'ingest'") == [
        {"status": "completed"}
    ]
    assert catalog.read("metrics").num_rows == 3
    # every earlier row is in the lake's history: the first import commit has them
    first = catalog.as_of(before + 1)
    assert {r["status"] for r in first.rows("SELECT status FROM samples")} == {"failed"}
    assert first.rows("SELECT status FROM runs WHERE run_id = 'ingest'") == [{"status": "running"}]
    # lineage links intact: checkpoint -> dataset -> samples -> sources -> runs
    root = lineage(catalog, "ck1")
    found = {(n.kind, n.id) for n in root.walk()}
    assert {("dataset", "ds1"), ("run", "train"), ("source", "src0"), ("source", "src1"),
            ("sample", "s0"), ("run", "ingest")} <= found  # fmt: skip
    assert get_dataset(catalog, "clips")["snapshot_id"] is None
    assert [r["status"] for r in dataset_samples(catalog, "clips")] == ["ok", "ok"]

    # the old parts moved aside; a second run has nothing to import
    assert not (catalog.dir / "samples").exists()
    assert (catalog.dir / "legacy-parts" / "samples" / OLD_EMPTY_PART).exists()
    with pytest.raises(ValueError, match="no Parquet parts"):
        migrate(catalog)


def test_cli_migrate_from_another_folder(catalog, tmp_path, monkeypatch):
    build_old_catalog(tmp_path / "old")
    monkeypatch.setenv("FOURREAL_HOME", str(catalog.dir.parent))
    runner = CliRunner()
    out = runner.invoke(app, ["catalog", "migrate", "--from", str(tmp_path / "old")])
    assert out.exit_code == 0, out.output
    assert "samples: 5 rows" in out.output
    assert catalog.rows("SELECT count(*) AS n FROM samples") == [{"n": 3}]
    again = runner.invoke(app, ["catalog", "migrate", "--from", str(tmp_path / "old")])
    assert again.exit_code == 2 and again.output.count("\n") == 1


# Columns added with training validation (issue 21): a lake made before them gains them.
ADDED = {
    "metrics": ("split", "checkpoint_id"),
    "datasets": ("heldout_sample_ids", "heldout_fraction", "split_seed"),
}


def test_lake_from_before_validation_gains_its_columns(tmp_path, monkeypatch):
    import catalog.store as store
    from catalog.store import Catalog

    for table, added in ADDED.items():
        old = pa.schema([f for f in TABLES[table] if f.name not in added])
        monkeypatch.setitem(store.TABLES, table, old)
    old_lake = Catalog(tmp_path / "lake")
    old_lake.init()
    old_lake.append("metrics", [dict(run_id="r0", stage="base", step=1, name="loss", value=2.0)])
    assert "split" not in old_lake.sql("SELECT * FROM metrics").column_names
    monkeypatch.undo()
    store._INSTANCES.pop((old_lake.location, None)).con.close()  # the next open is today's code

    lake = Catalog(tmp_path / "lake")
    lake.append("metrics", [dict(run_id="r1", stage="base", step=1, split="val", name="loss",
                                 value=1.0, checkpoint_id="c1")])  # fmt: skip
    rows = lake.rows("SELECT run_id, split, checkpoint_id FROM metrics ORDER BY run_id")
    assert rows == [
        {"run_id": "r0", "split": None, "checkpoint_id": None},
        {"run_id": "r1", "split": "val", "checkpoint_id": "c1"},
    ]
    assert set(ADDED["datasets"]) <= set(lake.sql("SELECT * FROM datasets").column_names)
