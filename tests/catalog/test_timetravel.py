"""Datasets pin a lake snapshot: `dataset show`, training and lineage read through it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from catalog.datasets import create_dataset, dataset_samples
from catalog.lineage import lineage
from fourreal.cli import app
from tests.catalog.test_store import sample


@pytest.fixture
def pinned(catalog, data_home):
    """A dataset of 3 clips whose files exist; then the samples change under it."""
    for i in range(4):
        f = data_home / "tt" / f"{catalog.dir.parent.name}-{i}.npz"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x")
    rows = [sample(i, path=f"tt/{catalog.dir.parent.name}-{i}.npz") for i in range(4)]
    catalog.append("samples", rows)
    ds = create_dataset(catalog, "clips", "sample_id <> 's0003'")
    # After the snapshot: one sample fails, one moves, one is deleted outright.
    catalog.append("samples", [sample(0, status="failed", error="re-render broke it")])
    catalog.append("samples", [sample(1, path="tt/elsewhere.npz")])
    cur = catalog.connect()
    cur.execute("DELETE FROM samples WHERE sample_id = 's0002'")
    cur.close()
    return catalog, ds, rows


def test_dataset_reads_exactly_the_rows_it_was_made_from(pinned):
    catalog, ds, rows = pinned
    assert ds["snapshot_id"] is not None and ds["num_samples"] == 3
    got = dataset_samples(catalog, "clips")
    assert [r["sample_id"] for r in got] == ["s0000", "s0001", "s0002"]
    assert [r["status"] for r in got] == ["ok", "ok", "ok"]
    assert [r["path"] for r in got] == [r["path"] for r in rows[:3]]
    now = {r["sample_id"]: r for r in catalog.rows("SELECT * FROM samples")}
    assert now["s0000"]["status"] == "failed" and "s0002" not in now


def test_training_reads_a_dataset_through_its_pin(pinned, data_home):
    from tasks.train.data import resolve_snapshot

    catalog, ds, rows = pinned
    snap = resolve_snapshot(catalog, "clips", kinds=("clip",))
    assert [s.sample_id for s in snap.samples] == ["s0000", "s0001", "s0002"]
    assert snap.samples[1].path == str(data_home / rows[1]["path"])


def test_cli_dataset_show_time_travels(pinned, monkeypatch):
    catalog, ds, _ = pinned
    monkeypatch.setenv("FOURREAL_HOME", str(catalog.dir.parent))
    runner = CliRunner()
    out = runner.invoke(app, ["dataset", "show", "clips", "--json"])
    assert out.exit_code == 0, out.output
    got = [json.loads(line) for line in out.output.splitlines()]
    assert [(r["sample_id"], r["status"]) for r in got] == [
        ("s0000", "ok"),
        ("s0001", "ok"),
        ("s0002", "ok"),
    ]
    table = runner.invoke(app, ["dataset", "show", "clips"])
    assert f"lake snapshot={ds['snapshot_id']}" in table.output
    missing = runner.invoke(app, ["dataset", "show", "nope"])
    assert missing.exit_code == 2 and missing.output.count("\n") == 1


def test_lineage_as_of_an_earlier_snapshot(pinned, monkeypatch):
    catalog, ds, _ = pinned
    now = lineage(catalog, "s0000")
    assert now.row["status"] == "failed"
    then = lineage(catalog, "s0000", as_of=ds["snapshot_id"])
    assert then.row["status"] == "ok"
    with pytest.raises(ValueError, match="is not a checkpoint"):
        lineage(catalog, "s0002")  # deleted now
    assert lineage(catalog, "s0002", as_of=ds["snapshot_id"]).kind == "sample"

    monkeypatch.setenv("FOURREAL_HOME", str(catalog.dir.parent))
    runner = CliRunner()
    out = runner.invoke(app, ["catalog", "lineage", "s0000", "--as-of", str(ds["snapshot_id"])])
    assert out.exit_code == 0 and "sample clip ok" in out.output, out.output
    bad = runner.invoke(app, ["catalog", "lineage", "s0000", "--as-of", "99999"])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1, bad.output
