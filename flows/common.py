"""What every flow shares: its ``runs`` row and the catalog it writes to."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator

from pydantic import BaseModel

from catalog.runs import RunRecord, start_run
from catalog.store import Catalog
from tasks.recording import stop_on_signals, stop_signal

# () -> (status, error) of a run whose body returned: "completed", or e.g. "interrupted"
Outcome = Callable[[], tuple[str, str | None]]


def current_flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    rid = flow_run.id
    return str(rid) if rid else None


@contextlib.contextmanager
def recorded_run(
    flow: str, params: BaseModel, catalog: Catalog | None = None, outcome: Outcome | None = None
) -> Iterator[RunRecord]:
    """Write the ``runs`` row (running -> completed | failed) around a flow body.

    ``outcome`` says how a body that returned ended (default: completed).
    """
    catalog = catalog or Catalog()
    rec = start_run(catalog, flow, params.model_dump(mode="json"), current_flow_run_id())
    try:
        yield rec
    except BaseException as e:
        rec.finish("failed", f"{type(e).__name__}: {e}")
        raise
    rec.finish(*(outcome() if outcome is not None else ("completed", None)))


def interrupted_by() -> str | None:
    """``SIGTERM`` / ``SIGINT`` when one stopped the current build (``recorded_build``)."""
    signum = stop_signal()
    return None if signum is None else signal.Signals(signum).name


def _build_outcome() -> tuple[str, str | None]:
    name = interrupted_by()
    if name is None:
        return "completed", None
    return "interrupted", f"{name}: stopped scheduling; what finished is recorded"


@contextlib.contextmanager
def recorded_build(
    flow: str, params: BaseModel, catalog: Catalog | None = None
) -> Iterator[RunRecord]:
    """``recorded_run`` of a builder: the first SIGTERM/SIGINT stops its fan-out (see
    ``tasks.recording``); the run then ends ``interrupted`` with what finished recorded."""
    with stop_on_signals(), recorded_run(flow, params, catalog, _build_outcome) as rec:
        yield rec
