"""Perceptual hashes at 1/4, 1/2, 3/4 of the shot, and of those frames flipped (``scores.phash``).

``ShotIndex`` compares them within ``dedup_bits`` to mark duplicates, so the
default filter's ``duplicate_of IS NULL`` is this scorer's clause.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tasks.videos.scorers.base import Scorer, ShotFrames
from tasks.videos.scores import phash


def shot_hashes(frames: ShotFrames, params) -> dict[str, list[int]]:
    content = frames.content
    quarters = [min(len(content) - 1, len(content) * k // 4) for k in (1, 2, 3)]
    return {
        "phash": [phash(np.ascontiguousarray(content[q])) for q in quarters],
        "phash_mirrored": [phash(np.ascontiguousarray(content[q][:, ::-1])) for q in quarters],
    }


PHASH = Scorer(
    name="phash",
    columns=(("phash", pa.list_(pa.int64())), ("phash_mirrored", pa.list_(pa.int64()))),
    params=("dedup_bits",),
    compute=shot_hashes,
    keeps="duplicate_of IS NULL",
)
