"""Soft transitions: cross-fades (dissolves) found by a linear-blend ramp test.

PySceneDetect finds hard cuts (``ContentDetector``, ``AdaptiveDetector``) and
fades to black (``ThresholdDetector``), but a cross-fade from one shot to
another changes every frame by a little, below any cut threshold: the two
shots would come out as one. A dissolve of ``L`` frames is, frame by frame,

    f(t) = (1 - a(t)) * A(t) + a(t) * B(t),   a rising linearly from 0 to 1,

so a frame in it is a blend of a frame ``k`` before and a frame ``k`` after:
``f(t) - f(t-k) ~ a * (f(t+k) - f(t-k))`` with little left over, while the
two end frames differ a lot (different content). Inside one shot that fails:
a moving subject or a pan turns the middle frame into a *displaced* image, not
a blend of the ends (a blend is a double exposure), and a still shot has ends
that hardly differ. The test runs at a few half-widths ``k`` over small grey
frames (the frames curation already shrank):

* candidate: the ends differ by at least ``min_change`` (RMS grey levels), the
  blend leaves at most ``max_residual`` of that difference (RMS ratio), and
  the blend weight of the middle frame is near 1/2;
* extent: with ends outside the dissolve, the blend weights of the frames in
  between rise along a line from 0 to 1; where that line (fitted to the
  weights between 0.15 and 0.85) crosses 0 and 1 are the first and last
  blended frames, and a few frames on each side must be unblended (a
  dissolve joins two shots). Those frames are excluded from both shots.

A candidate whose ends optical flow can map onto each other (a slow pan or
zoom, which a blend also fits over a short span) is no dissolve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HALF_WIDTHS = (3, 5, 8, 12, 16)  # dissolves of about 6 to 32 frames
MOTION_SHARE = 0.6  # of the ends' difference: what flow may leave of a blend's ends
PLATEAU = 2  # frames of either shot, unblended, that must flank a dissolve


@dataclass(frozen=True)
class Dissolve:
    """Frames ``[start, end)`` are blends of the shot before and the shot after."""

    start: int
    end: int


def detect_dissolves(
    gray: np.ndarray, min_change: float = 12.0, max_residual: float = 0.4
) -> list[Dissolve]:
    """Cross-fades in uint8 ``[N, h, w]`` grey frames, in order, never overlapping."""
    f = gray.reshape(len(gray), -1).astype(np.float32)
    candidates = []  # (residual ratio, centre, half-width)
    for k in HALF_WIDTHS:
        if len(f) < 2 * k + 1:
            break
        ratio, alpha, change = _blend_fit(f[: -2 * k], f[k:-k], f[2 * k :])
        ok = (change >= min_change) & (ratio <= max_residual) & (np.abs(alpha - 0.5) <= 0.2)
        candidates += [(float(ratio[i]), i + k, k) for i in np.flatnonzero(ok)]
    found: list[Dissolve] = []
    for _, centre, k in sorted(candidates):  # best fits first
        if any(d.start - k <= centre < d.end + k for d in found):
            continue  # part of a dissolve already placed
        if _motion_explains(gray[centre - k], gray[centre + k], min_change):
            continue  # the ends are one view moved a little: a slow pan or zoom, not a blend
        span = _extent(f, centre, k)
        if span is not None:
            found.append(span)
    return sorted(found, key=lambda d: d.start)


def _blend_fit(a: np.ndarray, m: np.ndarray, b: np.ndarray):
    """Per row: residual of ``m - a`` after the best multiple of ``b - a`` (as a share of
    ``|b - a|``), that multiple, and the RMS change ``|b - a|`` in grey levels."""
    d = b - a
    dd = np.maximum((d * d).sum(axis=1), 1e-6)
    x = m - a
    alpha = (x * d).sum(axis=1) / dd
    rest = ((x - alpha[:, None] * d) ** 2).sum(axis=1)
    return np.sqrt(rest / dd), alpha, np.sqrt(dd / a.shape[1])


def _motion_explains(a: np.ndarray, b: np.ndarray, min_change: float) -> bool:
    """Whether optical flow turns ``b`` back into ``a``: to within ``min_change`` RMS grey
    levels, or to less than ``MOTION_SHARE`` of their difference. True for two views of
    one scene (a pan leaves ~0.1 of it), false for two different shots (~0.9)."""
    import cv2

    flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    h, w = a.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    back = cv2.remap(b, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    m = max(2, min(h, w) // 16)  # content entering at the edges has nothing to match
    rest = (back.astype(np.float32) - a.astype(np.float32))[m:-m, m:-m]
    raw = (b.astype(np.float32) - a.astype(np.float32))[m:-m, m:-m]
    left = float(np.sqrt((rest**2).mean()))
    return left < min_change or left < MOTION_SHARE * float(np.sqrt((raw**2).mean()))


def _extent(f: np.ndarray, centre: int, k: int) -> Dissolve | None:
    """The blended frames around ``centre``, from the ramp of blend weights between ends
    taken as far out as the ramp allows (ends inside a dissolve are blends themselves)."""
    lo, hi = max(0, centre - 2 * k), min(len(f) - 1, centre + 2 * k)
    a, b = f[lo], f[hi]
    d = b - a
    alpha = ((f[lo : hi + 1] - a) @ d) / max(float(d @ d), 1e-6)
    t = np.arange(lo, hi + 1)
    mid = (alpha > 0.15) & (alpha < 0.85)
    if mid.sum() < 2:
        return None
    slope, intercept = np.polyfit(t[mid], alpha[mid], 1)
    if slope <= 0:
        return None
    first = int(np.floor(-intercept / slope)) + 1  # the first frame with a > 0
    last = int(np.ceil((1 - intercept) / slope)) - 1  # the last frame with a < 1
    start, end = first, last + 1
    if start < lo + PLATEAU or end > hi + 1 - PLATEAU or end <= start:
        return None  # no unblended frames on a side: a slow change, or ends inside a dissolve
    return Dissolve(start, end)
