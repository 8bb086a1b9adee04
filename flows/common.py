"""What every flow shares: its ``runs`` row and the catalog it writes to."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

from pydantic import BaseModel

from catalog.runs import RunRecord
from catalog.store import Catalog
from tasks.recording import Outcome, stop_on_signals, stop_signal
from tasks.recording import recorded_run as run_row


def current_flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    rid = flow_run.id
    return str(rid) if rid else None


@contextlib.contextmanager
def recorded_run(
    flow: str, params: BaseModel, catalog: Catalog | None = None, outcome: Outcome | None = None
) -> Iterator[RunRecord]:
    """``tasks.recording.recorded_run`` with the Prefect flow run's id as the run id."""
    with run_row(flow, params, catalog, outcome, current_flow_run_id()) as rec:
        yield rec


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
