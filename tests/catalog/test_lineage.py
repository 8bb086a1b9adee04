"""Lineage over a small real chain: checkpoint -> dataset -> samples -> sources -> runs."""

from __future__ import annotations

from catalog.datasets import create_dataset, dataset_samples, get_dataset
from catalog.ids import checkpoint_id, sample_id
from catalog.lineage import lineage
from catalog.runs import start_run


def _build_chain(catalog):
    ingest = start_run(catalog, "build_clips", {"views": 4})
    srcs = [
        dict(
            source_id=f"src{i}",
            kind="video",
            uri=f"v{i}.mp4",
            sha256=f"{i}" * 64,
            status="ok",
            run_id=ingest.run_id,
        )
        for i in range(2)
    ]
    catalog.append("sources", srcs)
    samples = []
    for i, src in enumerate(srcs):
        sid = sample_id(src["sha256"], "clip", "1", {"i": i})
        samples.append(
            dict(
                sample_id=sid,
                kind="clip",
                source_id=src["source_id"],
                recipe="clip",
                recipe_version="1",
                mode="dynamic",
                path=f"c{i}.npz",
                status="ok",
                run_id=ingest.run_id,
            )
        )
        ingest.add_output("samples", sid)
    samples.append(
        dict(
            sample_id="broken",
            kind="clip",
            source_id="src0",
            status="failed",
            error="truncated file",
            run_id=ingest.run_id,
        )
    )
    catalog.append("samples", samples)
    ingest.finish()

    ds = create_dataset(catalog, "clips-v1", "kind = 'clip'", split="train")
    train = start_run(catalog, "train_base", {"steps": 1})
    train.add_input("datasets", ds["dataset_id"])
    base_id = checkpoint_id("aa" * 32, train.run_id, 10)
    catalog.append(
        "checkpoints",
        [
            dict(
                checkpoint_id=base_id,
                stage="base",
                path="base.st",
                sha256="aa" * 32,
                step=10,
                dataset_id=ds["dataset_id"],
                run_id=train.run_id,
            )
        ],
    )
    train.finish()
    sync = start_run(catalog, "train_sync", {"steps": 1})
    sync_id = checkpoint_id("bb" * 32, sync.run_id, 5)
    catalog.append(
        "checkpoints",
        [
            dict(
                checkpoint_id=sync_id,
                stage="sync",
                path="sync.st",
                sha256="bb" * 32,
                step=5,
                dataset_id=ds["dataset_id"],
                parent_checkpoint_id=base_id,
                run_id=sync.run_id,
            )
        ],
    )
    sync.finish()
    return ds, base_id, sync_id, ingest, train, sync


def test_dataset_snapshot_is_immutable_and_content_hashed(catalog):
    ds, *_ = _build_chain(catalog)
    assert ds["num_samples"] == 2  # the failed sample is not in it
    again = create_dataset(catalog, "clips-v1", "kind = 'clip'")
    assert again["dataset_id"] == ds["dataset_id"]
    assert catalog.read("datasets").num_rows == 1
    assert get_dataset(catalog, "clips-v1")["dataset_id"] == ds["dataset_id"]
    assert [s["status"] for s in dataset_samples(catalog, ds["dataset_id"])] == ["ok", "ok"]


def test_lineage_walks_from_sync_checkpoint_to_sources_and_runs(catalog):
    ds, base_id, sync_id, ingest, train, sync = _build_chain(catalog)
    root = lineage(catalog, sync_id)
    assert root.kind == "checkpoint"
    kinds = [(n.kind, n.id) for n in root.walk()]
    assert ("run", sync.run_id) in kinds
    assert ("checkpoint", base_id) in kinds
    assert ("run", train.run_id) in kinds
    assert ("dataset", ds["dataset_id"]) in kinds
    assert {i for k, i in kinds if k == "source"} == {"src0", "src1"}
    assert ("run", ingest.run_id) in kinds
    assert "broken" not in {i for k, i in kinds if k == "sample"}
    run_rows = {n.id: n.row for n in root.walk() if n.kind == "run"}
    assert run_rows[sync.run_id]["status"] == "completed"


def test_lineage_of_a_sample_and_unknown_id(catalog):
    _build_chain(catalog)
    sid = catalog.rows("SELECT sample_id FROM samples WHERE status = 'ok' LIMIT 1")[0]["sample_id"]
    root = lineage(catalog, sid)
    assert root.kinds() == {"sample", "source", "run"}
    import pytest

    with pytest.raises(ValueError, match="is not a checkpoint"):
        lineage(catalog, "nothing-like-this")


def test_dataset_predicate_is_sandboxed(catalog):
    import pytest

    _build_chain(catalog)
    with pytest.raises(ValueError, match="where"):
        create_dataset(catalog, "evil", "true) ; DROP VIEW samples; SELECT (1")
    with pytest.raises(ValueError, match="no ok samples"):
        create_dataset(catalog, "none", "kind = 'grid_objaverse'")
    with pytest.raises(ValueError, match="name"):
        create_dataset(catalog, "bad name!", "true")
