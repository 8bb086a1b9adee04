"""Dataset snapshots with their lineage: the one code path of ``fourreal dataset create``
and of the ``snapshot_dataset`` flow (which adds its event and artifact on top).

``snapshot(params)`` writes the ``runs`` row (flow ``snapshot_dataset``, the parameters,
the dataset as its output) around ``catalog.datasets.create_dataset``, which pins the
row to that run. No Prefect here: the flow passes its flow run's id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from catalog.datasets import create_dataset
from catalog.store import Catalog
from core.flow_params import FlowParams
from tasks.recording import recorded_run

FLOW_NAME = "snapshot_dataset"


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


@dataclass(frozen=True)
class Snapshot:
    """The ``datasets`` row and the run that asked for it."""

    row: dict
    run_id: str

    @property
    def new(self) -> bool:
        """False when an identical snapshot existed (its row names an earlier run)."""
        return self.row["run_id"] == self.run_id


def snapshot(
    params: SnapshotParams, catalog: Catalog | None = None, flow_run_id: str | None = None
) -> Snapshot:
    """Create (or find, if identical) an immutable dataset snapshot, with its ``runs`` row."""
    catalog = catalog or Catalog()
    with recorded_run(FLOW_NAME, params, catalog, flow_run_id=flow_run_id) as rec:
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
    return Snapshot(row, rec.run_id)
