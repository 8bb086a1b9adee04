"""What every flow shares: its ``runs`` row and the catalog it writes to."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pydantic import BaseModel

from catalog.runs import RunRecord, start_run
from catalog.store import Catalog


def current_flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    rid = flow_run.id
    return str(rid) if rid else None


@contextlib.contextmanager
def recorded_run(
    flow: str, params: BaseModel, catalog: Catalog | None = None
) -> Iterator[RunRecord]:
    """Write the ``runs`` row (running -> completed | failed) around a flow body."""
    catalog = catalog or Catalog()
    rec = start_run(catalog, flow, params.model_dump(mode="json"), current_flow_run_id())
    try:
        yield rec
    except BaseException as e:
        rec.finish("failed", f"{type(e).__name__}: {e}")
        raise
    rec.finish("completed")
