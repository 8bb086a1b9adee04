"""Flow ``compact_catalog``: the catalog's scheduled maintenance (``fourreal catalog compact``)."""

from __future__ import annotations

from prefect import flow, get_run_logger
from pydantic import Field

from catalog.maintenance import DEFAULT_KEEP_DAYS, compact
from catalog.store import Catalog
from core.flow_params import FlowParams
from flows.common import recorded_run


class CompactParams(FlowParams):
    keep_days: float = Field(
        DEFAULT_KEEP_DAYS,
        ge=0,
        description="Keep snapshots younger than this many days for time travel "
        "(snapshots pinned by datasets are always kept)",
    )


@flow(name="compact_catalog", log_prints=True)
def compact_catalog(params: CompactParams = CompactParams()) -> dict:
    """Merge small files, expire unpinned snapshots, delete files nothing needs."""
    catalog = Catalog()
    with recorded_run("compact_catalog", params, catalog):
        report = compact(catalog, keep_days=params.keep_days)
    get_run_logger().info(
        "catalog compacted: files %d -> %d, snapshots %d -> %d",
        report.files_before,
        report.files_after,
        report.snapshots_before,
        report.snapshots_after,
    )
    return report.as_dict()
