"""Per-shot scorers of video curation, one module each, registered here in order.

``SCORERS`` is the registry: ``tasks.videos.curate`` runs every scorer on each
shot and writes their columns, in this order (which is the order of the score
columns in ``catalog.schema.SHOTS``; a test holds the two equal). To add a
score: a module with its ``Scorer``, an entry here, its ``Shot`` field and its
``shots`` columns.
"""

from __future__ import annotations

from tasks.videos.scorers.base import Scorer, ShotFrames
from tasks.videos.scorers.blank import BLANK
from tasks.videos.scorers.borders import BORDERS, shot_borders
from tasks.videos.scorers.motion import MOTION
from tasks.videos.scorers.phash import PHASH

SCORERS: tuple[Scorer, ...] = (MOTION, BLANK, BORDERS, PHASH)


def score_columns() -> list[tuple[str, object]]:
    """Every ``shots`` column the scorers fill, with its Arrow type, in registry order."""
    return [col for scorer in SCORERS for col in scorer.columns]


def owned_params() -> dict[str, str]:
    """``CurationParams`` field -> the scorer that reads it."""
    return {p: scorer.name for scorer in SCORERS for p in scorer.params}


__all__ = [
    "BLANK",
    "BORDERS",
    "MOTION",
    "PHASH",
    "SCORERS",
    "Scorer",
    "ShotFrames",
    "owned_params",
    "score_columns",
    "shot_borders",
]
