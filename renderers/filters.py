"""Dataset filters peers apply to animated objects (pure numpy).

* silhouette motion: how much the alpha masks change over time; objects
  whose silhouettes barely move are not useful as 4D training data;
* active fraction: the share of the clip during which anything still
  moves; animations that stop early give grids of frozen frames.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def silhouette_motion(alpha: np.ndarray) -> float:
    """Largest ``1 - IoU(mask[v, 0], mask[v, t])`` over t, averaged over views.

    ``alpha``: ``(V, T, H, W)``. 0 for a still object, up to 1 when the
    silhouette at some time no longer overlaps the first one.
    """
    m = alpha > 0
    first = m[:, :1]
    inter = (m & first).sum((2, 3))  # (V, T)
    union = (m | first).sum((2, 3))
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return float((1.0 - iou).max(1).mean())


def active_fraction(
    positions_at: Callable[[float], np.ndarray],
    start: float,
    end: float,
    radius: float,
    samples: int = 33,
    tolerance: float = 1e-3,
) -> float:
    """Fraction of ``[start, end]`` up to the last step in which a vertex still moves.

    ``positions_at(t)`` returns all posed vertices ``(N, 3)``; a step moves
    when some vertex travels more than ``tolerance * radius``. 1.0 means the
    object moves until the end, 0.0 that it never moves.
    """
    if end <= start:
        return 0.0
    times = np.linspace(start, end, samples)
    prev = positions_at(times[0])
    last = 0
    for i in range(1, samples):
        cur = positions_at(times[i])
        if np.abs(cur - prev).max() > tolerance * radius:
            last = i
        prev = cur
    return last / (samples - 1)
