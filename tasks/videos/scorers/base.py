"""The scorer interface: what one per-shot score declares and computes.

A scorer names the ``shots`` columns it fills (with their Arrow types, in
``catalog.schema.SHOTS`` order), the ``CurationParams`` fields it reads, the
clause it adds to the default shot filter (if any), and a ``compute`` that
turns one shot's frames into ``Shot`` field values. ``tasks.videos.scorers``
lists the registered scorers in order; curation runs them and writes their
columns from that list, so a new score is one module plus its schema columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class ShotFrames:
    """What every scorer sees of one shot ``[start, end)`` of a decoded video."""

    frames: np.ndarray  # uint8 [N, H, W, 3]: every decoded frame of the video
    start: int
    end: int
    fps: float
    borders: Any  # tasks.videos.scores.Borders: black bars in pixels of ``frames``
    content: np.ndarray  # uint8 [n, h, w, 3]: the shot at analysis width, bars cropped
    gray: np.ndarray  # uint8 [n, h, w]: its luma


@dataclass(frozen=True)
class Scorer:
    """One per-shot score: its columns, its parameters and how it is computed."""

    name: str
    columns: tuple[tuple[str, pa.DataType], ...]  # ``shots`` columns it fills, in schema order
    params: tuple[str, ...]  # the ``CurationParams`` fields it reads (it owns)
    compute: Callable[[ShotFrames, Any], dict[str, Any]]  # -> ``Shot`` field values
    keeps: str | None = None  # its clause of the default shot filter (SQL), if any
    row: Callable[[Any], dict[str, Any]] | None = field(default=None)  # Shot -> column values

    def values(self, shot) -> dict[str, Any]:
        """This scorer's ``shots`` column values of ``shot`` (by default its same-named fields)."""
        if self.row is not None:
            return self.row(shot)
        return {name: getattr(shot, name) for name, _ in self.columns}
