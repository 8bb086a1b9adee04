"""Shot boundaries with PySceneDetect, on frames already decoded (no second decode).

Two detectors run over the same frames, fed one by one through their
``process_frame`` API rather than PySceneDetect's own video readers:

* ``ContentDetector``: hard cuts, from the jump in hue/saturation/luma
  between consecutive frames;
* ``ThresholdDetector``: fades to and from black; it places the cut in the
  middle of the dark run (``fade_bias`` 0).

Cuts of both closer than ``min_shot_frames`` are merged (a fade's dark frames
may also trip the content detector), keeping the fade's placement.

Cross-fades, which neither detector sees, come from ``tasks.videos.transitions``
as frame spans; their frames belong to no shot (``shot_ranges``), and a cut
inside or near one is the same transition seen again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ShotDetection:
    """The detector settings of a curation recipe (see ``CurationParams``)."""

    cut_threshold: float = 27.0
    fade_threshold: float = 12.0
    min_shot_frames: int = 8
    dissolve_change: float = 12.0  # RMS grey levels between a dissolve's ends, at least
    dissolve_residual: float = 0.4  # of that change, what the blend may leave, at most


def detect_cuts(small_rgb: np.ndarray, fps: float, cfg: ShotDetection) -> list[int]:
    """Frame indices where a new shot starts (never 0), from ``[N, h, w, 3]`` RGB frames."""
    from scenedetect import ContentDetector, ThresholdDetector
    from scenedetect.common import FrameTimecode

    content = ContentDetector(threshold=cfg.cut_threshold, min_scene_len=cfg.min_shot_frames)
    fades = ThresholdDetector(
        threshold=cfg.fade_threshold, min_scene_len=cfg.min_shot_frames, fade_bias=0.0
    )
    hard: list[int] = []
    soft: list[int] = []
    last = None
    for i in range(len(small_rgb)):
        bgr = np.ascontiguousarray(small_rgb[i, :, :, ::-1])  # PySceneDetect reads BGR
        last = FrameTimecode(i, fps=fps)
        hard += [tc.frame_num for tc in content.process_frame(last, bgr)]
        soft += [tc.frame_num for tc in fades.process_frame(last, bgr)]
    if last is not None:
        hard += [tc.frame_num for tc in content.post_process(last)]
        soft += [tc.frame_num for tc in fades.post_process(last)]
    return merge_cuts(hard, soft, len(small_rgb), cfg.min_shot_frames)


def merge_cuts(hard: list[int], soft: list[int], n: int, min_gap: int) -> list[int]:
    """Sorted cuts inside ``(0, n)``; a hard cut within ``min_gap`` of a fade cut is dropped."""
    fades = sorted({c for c in soft if 0 < c < n})
    cuts = list(fades)
    for c in sorted({c for c in hard if 0 < c < n}):
        if all(abs(c - f) >= min_gap for f in fades):
            cuts.append(c)
    return sorted(cuts)


def detect_transitions(small_rgb: np.ndarray, cfg: ShotDetection) -> list[tuple[int, int]]:
    """Frame spans ``[start, end)`` of the cross-fades in ``[N, h, w, 3]`` RGB frames; spans
    less than ``min_shot_frames`` apart are one transition (no shot fits between)."""
    from tasks.videos.scores import to_gray
    from tasks.videos.transitions import detect_dissolves

    found = detect_dissolves(to_gray(small_rgb), cfg.dissolve_change, cfg.dissolve_residual)
    spans: list[tuple[int, int]] = []
    for d in found:
        if spans and d.start - spans[-1][1] < cfg.min_shot_frames:
            spans[-1] = (spans[-1][0], max(spans[-1][1], d.end))
        else:
            spans.append((d.start, d.end))
    return spans


def absorb_cuts(
    cuts: list[int], spans: list[tuple[int, int]], reach: int
) -> tuple[list[int], list[tuple[int, int]]]:
    """Cuts that are part of a transition joined to it: ``(cuts left, transitions)``.

    A cut within ``reach`` frames of transition spans is the same transition
    seen by another detector (the content detector firing inside a fast
    cross-fade; the fade detector's cut in the dark run between a fade-out and
    a fade-in, each of which is also a blend): the cut and those spans become
    one span.
    """
    spans = sorted(spans)
    left = []
    for c in cuts:
        near = [sp for sp in spans if sp[0] - reach <= c < sp[1] + reach]
        if not near:
            left.append(c)
            continue
        joined = (min(c, *(a for a, _ in near)), max(c + 1, *(b for _, b in near)))
        spans = sorted([sp for sp in spans if sp not in near] + [joined])
    return left, spans


def shot_ranges(
    cuts: list[int], n: int, transitions: list[tuple[int, int]] = ()
) -> list[tuple[int, int]]:
    """``[start, end)`` of every shot of an ``n``-frame video cut at ``cuts``; the frames of
    each transition span ``[start, end)`` belong to no shot."""
    bounds = sorted([(c, c) for c in cuts] + [tuple(t) for t in transitions])
    shots, start = [], 0
    for a, b in bounds:
        if a > start:
            shots.append((start, a))
        start = max(start, b)
    if n > start:
        shots.append((start, n))
    return shots
