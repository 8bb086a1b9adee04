"""Flow ``snapshot_dataset``: freeze the ok samples matching a predicate.

The snapshot and its ``runs`` row are ``tasks.snapshot.snapshot`` (the code
``fourreal dataset create`` runs too); the flow adds the ``fourreal.dataset.built``
event and a table artifact.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from catalog.store import Catalog
from flows.common import current_flow_run_id
from flows.events import emit_for_snapshot
from tasks.snapshot import SnapshotParams, snapshot

__all__ = ["SnapshotParams", "snapshot_dataset"]


@flow(name="snapshot_dataset", log_prints=True)
def snapshot_dataset(params: SnapshotParams = SnapshotParams()) -> dict:
    """Create (or find, if identical) an immutable dataset snapshot."""
    logger = get_run_logger()
    made = snapshot(params, Catalog(), current_flow_run_id())
    row = made.row
    emit_for_snapshot(row, new=made.new)  # fourreal.dataset.built
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
