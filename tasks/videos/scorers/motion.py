"""Motion, camera motion, scene motion and the share the camera explains (``scores.pair_motion``).

Medians over up to ``pairs_per_shot`` evenly spread pairs of frames
``pair_seconds`` apart (at least ``pair_gap`` frames); the mode thresholds
(``static_motion``, ``freeze_scene_motion``) read these scores, so they are
this scorer's too (``tasks.videos.curate.mine_mode``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tasks.videos.scorers.base import Scorer, ShotFrames
from tasks.videos.scores import pair_motion


def shot_motion(frames: ShotFrames, params) -> dict[str, float]:
    gray, fps = frames.gray, frames.fps
    gap = min(max(params.pair_gap, round(params.pair_seconds * fps)), len(gray) - 1)
    if gap < 1:
        return {"motion": 0.0, "camera_motion": 0.0, "scene_motion": 0.0, "explained": 1.0}
    firsts = np.unique(
        np.linspace(0, len(gray) - 1 - gap, params.pairs_per_shot).round().astype(int)
    )
    pairs = [pair_motion(gray[i], gray[i + gap], gap, fps) for i in firsts]
    med = [float(np.median([getattr(p, k) for p in pairs])) for k in ("motion", "camera", "scene")]
    explained = float(np.median([p.explained for p in pairs]))
    return {
        "motion": med[0],
        "camera_motion": med[1],
        "scene_motion": med[2],
        "explained": explained,
    }


MOTION = Scorer(
    name="motion",
    columns=(
        ("motion", pa.float64()),
        ("camera_motion", pa.float64()),
        ("scene_motion", pa.float64()),
        ("explained", pa.float64()),
    ),
    params=(
        "pair_gap",
        "pair_seconds",
        "pairs_per_shot",
        "static_motion",
        "freeze_scene_motion",
    ),
    compute=shot_motion,
    keeps="mode <> 'static'",
)
