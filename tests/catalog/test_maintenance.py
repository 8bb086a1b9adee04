"""`fourreal catalog compact`: fewer files, same rows, pinned snapshots still readable."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from catalog.datasets import create_dataset, dataset_samples
from catalog.maintenance import compact
from fourreal.cli import app
from tests.catalog.test_store import sample

QUERY = "SELECT count(*) AS n, sum(h) AS h FROM samples WHERE status = 'ok' AND v = 1"


def test_compact_merges_small_appends_and_keeps_what_datasets_pin(catalog, monkeypatch):
    # Many small writes, above the inlining limit so they land as files.
    for i in range(12):
        catalog.append("samples", [sample(100 * i + j, h=8 * i) for j in range(12)])
    ds = create_dataset(catalog, "before", "true")
    for i in range(6):  # upserts after the pin: delete files + new files
        catalog.append("samples", [sample(100 * i + j, h=999) for j in range(12)])
    for i in range(3):  # and single-row ones (inlined in the metadata until compaction)
        catalog.append("samples", [sample(1100 + i, h=777)])
        catalog.append("samples", [sample(1000 + i, h=777)])  # a pinned row, replaced
    pinned_rows = dataset_samples(catalog, "before")
    result = catalog.rows(QUERY)
    snapshots = catalog.snapshots().num_rows

    report = compact(catalog, keep_days=0)

    assert dataset_samples(catalog, "before") == pinned_rows  # time travel to the pin
    assert report.files_after < report.files_before, report
    assert report.pinned == [ds["snapshot_id"]]
    assert ds["snapshot_id"] not in report.expired and report.expired
    assert report.snapshots_after < snapshots
    assert catalog.rows(QUERY) == result
    assert dataset_samples(catalog, "before") == pinned_rows  # time travel to the pin
    assert {r["h"] for r in pinned_rows} == {8 * i for i in range(12)}

    monkeypatch.setenv("FOURREAL_HOME", str(catalog.dir.parent))
    out = CliRunner().invoke(app, ["catalog", "compact", "--json"])
    assert out.exit_code == 0, out.output
    again = json.loads(out.output)
    assert again["pinned"] == [ds["snapshot_id"]] and again["expired"] == []
    assert dataset_samples(catalog, "before") == pinned_rows


def test_compact_keeps_pinned_rows_replaced_by_single_row_upserts(catalog):
    """The pattern where DuckLake 1.5.5's rewrite_data_files + expiry corrupts time travel."""
    for i in range(12):
        catalog.append("samples", [sample(i, h=i)])
    create_dataset(catalog, "pinned", "h < 10")
    for i in range(3):
        catalog.append("samples", [sample(i, h=100 + i)])
    compact(catalog, keep_days=0)
    assert [r["h"] for r in dataset_samples(catalog, "pinned")] == list(range(10))
    assert [r["h"] for r in catalog.rows("SELECT h FROM samples ORDER BY sample_id")][:4] == [
        100,
        101,
        102,
        3,
    ]


def test_compact_refuses_a_negative_retention(catalog):
    with pytest.raises(ValueError, match="keep_days"):
        compact(catalog, keep_days=-1)


def test_compact_flow_records_its_run(prefect_harness):
    from catalog.store import Catalog
    from flows.compact import CompactParams, compact_catalog

    out = compact_catalog(CompactParams(keep_days=1))
    assert out["expired"] == [] and "files_after" in out  # keep_days=1: nothing old enough
    runs = Catalog().rows("SELECT status FROM runs WHERE flow = 'compact_catalog'")
    assert runs == [{"status": "completed"}]


@pytest.mark.parametrize("metadata", ["sqlite", "postgres"])
def test_a_file_rewrite_loses_to_an_upsert_committed_meanwhile(metadata, request, tmp_path):
    """Compaction moves a file's rows in one transaction; an upsert of one of those
    rows that commits first makes the move fail (and retry), never resurrect the old row."""
    import duckdb

    from catalog import retry
    from catalog.maintenance import files_with_deletes, move_file_rows
    from catalog.store import Catalog

    url = None
    if metadata == "postgres":
        url = request.getfixturevalue("postgres_server").create_database("rewrite_race")
    cat = Catalog(tmp_path / "catalog", metadata=url)
    cat.init()
    cat.append("samples", [sample(i, h=1) for i in range(30)], keys_are_new=True)
    # above the inlining limit: the first file gets a delete file
    cat.append("samples", [sample(i, h=2) for i in range(12)])
    ((first, last),) = files_with_deletes(cat.connect())["samples"]

    mover = cat.connect()
    mover.execute("BEGIN")
    move_file_rows(mover, "samples", first, last)
    cat.append("samples", [sample(20, h=3)])  # replaces a row the mover holds a copy of
    with pytest.raises(duckdb.Error) as lost:
        mover.execute("COMMIT")
    assert retry.is_retryable(lost.value), lost.value

    compact(cat, keep_days=0)  # the real thing, retried, after the race
    rows = cat.rows("SELECT sample_id, h FROM samples ORDER BY sample_id")
    assert len(rows) == len({r["sample_id"] for r in rows}) == 30
    assert {r["h"] for r in rows if r["sample_id"] == sample(20)["sample_id"]} == {3}
