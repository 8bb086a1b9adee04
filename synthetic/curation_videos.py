"""Synthetic edited videos with known shots, for the curation tests and the bench.

Every shot kind the curation must tell apart, built from ``render_frame``:

* ``pan_shot``: a camera panning over one still image (freeze-time: the camera
  moves, the scene does not);
* ``shapes_shot``: a fixed camera over moving shapes (dynamic);
* ``still_shot``: one frame held (static);
* ``fade_through_black``: the tail of one shot fading out and the head of the
  next fading in (an editor's fade), ``letterbox``: black bars added.

``write_edited_video`` concatenates shots with hard cuts or fades and returns
the true shot boundaries and modes, so tests assert detected against known.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.io import atomic_path
from core.video import write_mp4
from synthetic.videos import render_frame


def pan_shot(n: int, height: int, width: int, seed: int = 0, speed: float = 0.01) -> np.ndarray:
    """``n`` windows sliding right over one still image, ``speed`` of the width per frame."""
    step = max(1, round(speed * width))
    canvas = render_frame(0, height, width + step * n, seed)
    return np.stack([canvas[:, k * step : k * step + width] for k in range(n)])


def shapes_shot(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """``n`` frames of a fixed camera over moving shapes (``render_frame`` itself)."""
    return np.stack([render_frame(i, height, width, seed) for i in range(n)])


def still_shot(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """One frame held for ``n`` frames (a title card, a paused upload)."""
    return np.repeat(render_frame(0, height, width, seed)[None], n, axis=0)


def fade_through_black(out_shot: np.ndarray, in_shot: np.ndarray, length: int) -> np.ndarray:
    """``out_shot`` then ``in_shot``, the last/first ``length // 2`` frames faded to/from black.

    The fade-out ends on a black frame; the first frame of ``in_shot`` (the
    cut) is at ``len(out_shot)`` in the result.
    """
    half = length // 2
    a, b = out_shot.astype(np.float32), in_shot.astype(np.float32)
    a[-half:] *= (1.0 - np.arange(1, half + 1) / half)[:, None, None, None]  # ... 0.2, 0.0
    b[: length - half] *= (np.arange(1, length - half + 1) / (length - half + 1))[
        :, None, None, None
    ]
    return np.concatenate([a, b]).round().astype(np.uint8)


def letterbox(frames: np.ndarray, top: int, bottom: int, left: int = 0, right: int = 0):
    """``frames`` padded with black bars (rows on top/bottom, columns left/right)."""
    return np.pad(frames, ((0, 0), (top, bottom), (left, right), (0, 0)))


def write_frames(path: str | os.PathLike, frames: np.ndarray, fps: int = 30, crf: int = 12) -> Path:
    """Encode uint8 ``[N, H, W, 3]`` RGB (even H and W) as H.264 yuv420p, atomically."""
    return write_mp4(path, frames, fps, crf=crf, preset="veryfast")


@dataclass(frozen=True)
class EditedVideo:
    path: Path
    cuts: tuple[int, ...]  # first frame of every shot after the first
    modes: tuple[str, ...]  # true mode of every shot
    frames: int


def write_edited_video(
    path: str | os.PathLike,
    height: int = 72,
    width: int = 128,
    shot_frames: int = 40,
    fade: int = 10,
    fps: int = 30,
) -> EditedVideo:
    """Pan (freeze_time) | hard cut | shapes (dynamic) | ``fade``-frame fade | still (static)."""
    pan = pan_shot(shot_frames, height, width, seed=3)
    shapes = shapes_shot(shot_frames, height, width, seed=5)
    still = still_shot(shot_frames, height, width, seed=7)
    tail = fade_through_black(shapes, still, fade)
    frames = np.concatenate([pan, tail])
    write_frames(path, frames, fps)
    return EditedVideo(
        Path(path),
        cuts=(shot_frames, 2 * shot_frames),
        modes=("freeze_time", "dynamic", "static"),
        frames=len(frames),
    )


def write_undecodable(path: str | os.PathLike, height: int = 32, width: int = 48) -> Path:
    """An MP4 whose container and packets are intact but whose coded frames are zeros.

    Demuxing works (the probe counts packets); no frame decodes.
    """
    path = Path(path)
    data = bytearray(write_frames(path, still_shot(10, height, width)).read_bytes())
    at = data.index(b"mdat")
    size = int.from_bytes(data[at - 4 : at], "big")
    data[at + 4 : at - 4 + size] = bytes(size - 8)
    with atomic_path(path) as tmp:
        tmp.write_bytes(bytes(data))
    return path
