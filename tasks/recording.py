"""Record build results in the catalog as they arrive, in small batches.

Every builder (objects, pseudo-4D grids, clips) fans work out and gets results back one
at a time. A build that records nothing until it ends loses everything when it is killed;
one that records every result makes a catalog write per result. ``StreamRecorder`` sits
in between: results are buffered and written as one batch when ``max_results`` are
waiting or the oldest has waited ``max_seconds`` — so a build killed with SIGKILL at any
moment loses at most one batch of recorded work, and the rerun (which skips what the
catalog has) does only the rest.

The fan-out loop calls ``add`` for each result and ``tick`` while it waits, so the time
limit holds even when results are slow to come.

SIGTERM and SIGINT (a cluster preempting the job, Ctrl-C) are not a kill: inside
``stop_on_signals()`` the first one sets a flag (``stop_requested``) that the fan-out
loops check on every wait. They schedule nothing more, give up on what is still running,
and return what finished; the recorder records all of it; the flow marks its run
``interrupted`` and the CLI exits with 128 + the signal number. A second signal acts as
it would have without us (the previous handler is restored by the first).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from catalog.runs import RunRecord, start_run
from catalog.schema import PRIMARY_KEYS
from catalog.store import Catalog

MAX_RESULTS = 16
MAX_SECONDS = 10.0

# result -> {table name: rows}, e.g. {"sources": [...], "samples": [...]}
RowsOf = Callable[[Any], dict[str, list[dict]]]


class StreamRecorder:
    """Buffer results; append their rows to the catalog in batches (sources before samples)."""

    def __init__(
        self,
        catalog,
        rows_of: RowsOf,
        *,
        max_results: int = MAX_RESULTS,
        max_seconds: float = MAX_SECONDS,
        on_batch: Callable[[int], None] | None = None,
    ):
        if not 1 <= max_results <= MAX_RESULTS:
            raise ValueError(f"max_results: {max_results} must be in 1..{MAX_RESULTS}")
        if not 0 < max_seconds <= MAX_SECONDS:
            raise ValueError(f"max_seconds: {max_seconds} must be in (0, {MAX_SECONDS}]")
        self.catalog, self.rows_of = catalog, rows_of
        self.max_results, self.max_seconds = max_results, max_seconds
        self.on_batch = on_batch
        self._buffer: list = []
        self._oldest: float | None = None
        self.recorded = 0  # results written so far
        self.batches = 0

    def add(self, result) -> None:
        if not self._buffer:
            self._oldest = time.monotonic()
        self._buffer.append(result)
        if len(self._buffer) >= self.max_results:
            self.flush()
        else:
            self.tick()

    def tick(self) -> None:
        """Flush if the oldest buffered result has waited long enough."""
        if self._buffer and time.monotonic() - self._oldest >= self.max_seconds:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        tables: dict[str, list[dict]] = {}
        for result in self._buffer:
            for table, rows in self.rows_of(result).items():
                tables.setdefault(table, []).extend(rows)
        # One transaction: a batch's sources and samples commit together or not at all.
        with self.catalog.transaction():
            for table in sorted(tables, key=lambda t: t != "sources"):
                rows = last_per_key(tables[table], PRIMARY_KEYS.get(table))
                if rows:
                    self.catalog.append(table, rows)
        self.recorded += len(self._buffer)
        self.batches += 1
        self._buffer, self._oldest = [], None
        if self.on_batch is not None:
            self.on_batch(self.recorded)

    def __enter__(self) -> StreamRecorder:
        return self

    def __exit__(self, exc_type, *_) -> None:
        # An exception (not a kill) still records what came back before it.
        self.flush()


def last_per_key(rows: list[dict], key: str | None) -> list[dict]:
    """One row per key, the last one: the same bytes under two names give the same
    (content-addressed) rows, and a later row of a key is newer (a settled result)."""
    if key is None:
        return rows
    return list({r[key]: r for r in rows}.values())


# ---- stopping on SIGTERM / SIGINT ---------------------------------------------------
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_stop = threading.Event()
_stopped_by: list[int] = []  # the signal that asked (its number: the exit code is 128 + it)


class BuildStopped(Exception):
    """A fan-out task stopped by a signal: its partial ``results`` (a raise, not a return,
    so that Prefect never caches a partial result as the task's answer)."""

    def __init__(self, results):
        super().__init__(results)
        self.results = results

    def __str__(self) -> str:
        return "stopped by a signal; what finished is recorded"


def stop_requested() -> bool:
    """True once a stop signal arrived inside ``stop_on_signals`` (checked by fan-out loops)."""
    return _stop.is_set()


def stop_signal() -> int | None:
    """The number of the signal that asked the build to stop, if one did."""
    return _stopped_by[0] if _stopped_by else None


_armed: list = []  # the handler of the active ``stop_on_signals``, if any


def rearm_stop_signals() -> None:
    """Put the stop handler back after a library replaced it below Python.

    Starting Ray installs its own C-level SIGTERM handler in the driver (it prints a
    stack and aborts); Python's ``signal.signal`` still reports ours. Call this after
    ``ensure_ray`` so that SIGTERM reaches the build again.
    """
    if _armed and threading.current_thread() is threading.main_thread():
        for s in STOP_SIGNALS:
            if not _stop.is_set():
                signal.signal(s, _armed[0])


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn the first SIGTERM or SIGINT into ``stop_requested()``; restore the handlers after.

    Handlers can only be set from the main thread: elsewhere (a flow run on a worker
    thread) this does nothing and signals act as before.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _stop.clear()
    _stopped_by.clear()
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}

    def handler(signum, frame) -> None:
        if not _stop.is_set():
            _stopped_by.append(signum)
            _stop.set()
        for s, h in previous.items():  # a second signal is not ignored
            signal.signal(s, h)

    for s in STOP_SIGNALS:
        signal.signal(s, handler)
    _armed[:] = [handler]
    try:
        yield
    finally:
        _armed.clear()
        for s, h in previous.items():
            signal.signal(s, h)


# () -> (status, error) of a run whose body returned: "completed", or e.g. "interrupted"
Outcome = Callable[[], tuple[str, str | None]]


@contextlib.contextmanager
def recorded_run(
    flow: str,
    params,
    catalog: Catalog | None = None,
    outcome: Outcome | None = None,
    flow_run_id: str | None = None,
) -> Iterator[RunRecord]:
    """Write the ``runs`` row (running -> completed | failed) around a run's body.

    ``params`` is the run's pydantic parameter model; ``outcome`` says how a body
    that returned ended (default: completed); ``flow_run_id`` is the Prefect flow
    run's id when there is one (``flows.common.recorded_run`` passes it), else the
    row gets an id of its own. Library entries (training, snapshots) use this
    directly, so a run without Prefect records the same lineage as its flow.
    """
    catalog = catalog or Catalog()
    rec = start_run(catalog, flow, params.model_dump(mode="json"), flow_run_id)
    try:
        yield rec
    except BaseException as e:
        rec.finish("failed", f"{type(e).__name__}: {e}")
        raise
    rec.finish(*(outcome() if outcome is not None else ("completed", None)))
