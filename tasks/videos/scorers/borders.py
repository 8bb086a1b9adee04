"""Letterbox/pillarbox bars (``scores.detect_borders``): the content every other score sees.

Bars are measured before the other scores, on up to 8 full-resolution frames
spread over the shot; the shot's content (``ShotFrames.content``) is what lies
inside them, so this scorer only reports what ``shot_borders`` found.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tasks.videos.scorers.base import Scorer, ShotFrames
from tasks.videos.scores import Borders, detect_borders, to_gray

SIDES = ("top", "bottom", "left", "right")


def shot_borders(frames: np.ndarray, start: int, end: int, params) -> Borders:
    """Bars of frames ``[start, end)`` in pixels of ``frames``."""
    sample = np.unique(np.linspace(start, end - 1, min(8, end - start)).round().astype(int))
    return detect_borders(to_gray(frames[sample]), params.border_level)


def _report(frames: ShotFrames, params) -> dict[str, Borders]:
    return {"borders": frames.borders}


def _row(shot) -> dict[str, int]:
    return {f"border_{side}": getattr(shot.borders, side) for side in SIDES}


BORDERS = Scorer(
    name="borders",
    columns=tuple((f"border_{side}", pa.int32()) for side in SIDES),
    params=("border_level",),
    compute=_report,
    row=_row,
)
