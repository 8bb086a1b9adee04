"""Flow ``snapshot_dataset``: freeze the ok samples matching a predicate."""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from pydantic import Field

from catalog.datasets import create_dataset
from catalog.store import Catalog
from flows.common import recorded_run
from flows.events import emit_for_snapshot
from fourreal.core.params import FlowParams


class SnapshotParams(FlowParams):
    name: str = Field(
        "default",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Dataset name (a new snapshot "
        "gets a new id; the name resolves to the latest snapshot)",
    )
    where: str = Field(
        "true",
        min_length=1,
        description="SQL predicate over the samples view, e.g. kind = 'grid_pseudo4d' AND h = 72",
    )
    split: Literal["train", "heldout", "all"] = Field("all", description="Split recorded with it")
    heldout_fraction: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Hold out about this fraction of the sources (objects, videos), every "
        "sample of a source on one side; training validates on them. 0 = no held-out part",
    )
    split_seed: int = Field(
        0,
        ge=0,
        le=2**31 - 1,
        description="Which sources are held out: hash(seed, source) < fraction",
    )


@flow(name="snapshot_dataset", log_prints=True)
def snapshot_dataset(params: SnapshotParams = SnapshotParams()) -> dict:
    """Create (or find, if identical) an immutable dataset snapshot."""
    logger = get_run_logger()
    catalog = Catalog()
    with recorded_run("snapshot_dataset", params, catalog) as rec:
        row = create_dataset(
            catalog,
            params.name,
            params.where,
            params.split,
            rec.run_id,
            heldout_fraction=params.heldout_fraction,
            split_seed=params.split_seed,
        )
        rec.add_output("datasets", row["dataset_id"])
    emit_for_snapshot(row, new=row["run_id"] == rec.run_id)  # fourreal.dataset.built
    heldout = len(row.get("heldout_sample_ids") or [])
    logger.info(
        "dataset %s: %d samples, %d held out (id %s)",
        row["name"],
        row["num_samples"],
        heldout,
        row["dataset_id"],
    )
    keys = ("name", "dataset_id", "num_samples", "split", "heldout_fraction", "split_seed", "query")
    create_table_artifact(
        key="dataset-snapshot",
        table=[{**{k: row.get(k) for k in keys}, "heldout_samples": heldout}],
        description=f"Dataset snapshot {row['name']}",
    )
    out = {k: row[k] for k in ("dataset_id", "name", "num_samples", "content_hash", "split")}
    return {**out, "heldout_samples": heldout} if heldout else out
