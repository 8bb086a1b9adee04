"""Shot boundaries with PySceneDetect, on frames already decoded (no second decode).

Two detectors run over the same frames, fed one by one through their
``process_frame`` API rather than PySceneDetect's own video readers:

* ``ContentDetector``: hard cuts, from the jump in hue/saturation/luma
  between consecutive frames;
* ``ThresholdDetector``: fades to and from black; it places the cut in the
  middle of the dark run (``fade_bias`` 0).

Cuts of both closer than ``min_shot_frames`` are merged (a fade's dark frames
may also trip the content detector), keeping the fade's placement.
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


def shot_ranges(cuts: list[int], n: int) -> list[tuple[int, int]]:
    """``[start, end)`` of every shot of an ``n``-frame video cut at ``cuts``."""
    edges = [0, *cuts, n]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]
