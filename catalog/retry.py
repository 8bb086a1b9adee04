"""Retry a commit that lost a race with another writer, with jittered exponential backoff.

DuckLake resolves concurrent commits optimistically: the loser fails with a
transaction conflict (PostgreSQL metadata) or finds the SQLite metadata file
locked. Its writes were rolled back, so running them again is safe.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import TypeVar

import duckdb

T = TypeVar("T")
RETRY_ENV = "FOURREAL_CATALOG_RETRY_S"
DEFAULT_DEADLINE_S = 600.0
FIRST_DELAY_S = 0.005
MAX_DELAY_S = 1.0
RETRYABLE = (
    "conflict",
    "database is locked",  # SQLite: another writer holds the lock, or our read went stale
    "database table is locked",
    "could not serialize",  # PostgreSQL serialization failure
    "duplicate key value violates unique constraint",  # two commits took one snapshot id
    # a reader that opened while another process was creating the lake saw a table
    # whose inlined rows were not committed yet; a fresh transaction sees both
    "failed to read inlined data",
)


class CommitGaveUp(RuntimeError):
    """Conflicts went on past the retry deadline; nothing of this commit was written."""


def is_retryable(error: BaseException) -> bool:
    return isinstance(error, duckdb.Error) and any(m in str(error).lower() for m in RETRYABLE)


def deadline_s() -> float:
    return float(os.environ.get(RETRY_ENV, DEFAULT_DEADLINE_S))


def with_backoff(fn: Callable[[], T], *, what: str) -> T:
    """Call ``fn`` until it succeeds; retry only conflicts, until the deadline."""
    give_up = time.monotonic() + deadline_s()
    delay = FIRST_DELAY_S
    attempts = 0
    while True:
        attempts += 1
        try:
            return fn()
        except duckdb.Error as e:
            if not is_retryable(e):
                raise
            if time.monotonic() + delay > give_up:
                first = str(e).strip().splitlines()[-1]
                raise CommitGaveUp(
                    f"{what}: still conflicting after {attempts} attempts ({first}); "
                    f"raise {RETRY_ENV} or reduce concurrent writers"
                ) from None
        time.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(MAX_DELAY_S, delay * 2)
