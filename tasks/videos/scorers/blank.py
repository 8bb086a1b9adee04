"""Blank share: frames near-black or near-constant (``scores.blank_flags``)."""

from __future__ import annotations

import pyarrow as pa

from tasks.videos.scorers.base import Scorer, ShotFrames
from tasks.videos.scores import blank_flags


def blank_fraction(frames: ShotFrames, params) -> dict[str, float]:
    flags = blank_flags(frames.gray, params.black_level, params.flat_std)
    return {"blank_fraction": float(flags.mean())}


BLANK = Scorer(
    name="blank",
    columns=(("blank_fraction", pa.float64()),),
    params=("black_level", "flat_std"),
    compute=blank_fraction,
    keeps="blank_fraction < 0.5",
)
