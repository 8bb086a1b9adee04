"""Clip sampling and clips cut out of V x T grids (frames are fitted by core.resize).

Clip sampling: ``T`` frames ``round(start + k * step)``, ``k = 0..T-1``, with
``step = source_fps / fps`` (a target frame rate) or ``step = stride``.
Several clips per video are spread evenly and never overlap.

Base-model clips come from two places:

* a video: ``plan_clips`` + ``decode_frames`` + ``crop_resize``, labelled
  ``dynamic`` or ``freeze_time`` by the manifest (``build_clips`` flow);
* a grid (rendered or pseudo-4D): ``clips_from_grid`` gives every
  ``grid[:, t]`` as a ``freeze_time`` clip and every ``grid[v, :]`` as a
  ``dynamic`` clip (docs/grid.md#modes). The training data loader calls it, or
  ``clip_from_grid`` for one slice, on a grid read from the sample store.

Clip samples (``build_clips``, exported by ``fourreal sample export``):
``frames uint8 [T, H, W, 3]``, ``frame_indices int64 [T]`` into the decoded
video, ``fps float64 []`` (the clip's own frame rate), ``mode str []``
(``dynamic`` | ``freeze_time``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from core.grid import MODES, check_disk_grid, fixed_view_video, freeze_time_video
from core.resize import crop_resize


class ClipError(Exception):
    """No clip can be cut with these parameters; the message is the catalog reason."""


@dataclass(frozen=True)
class ClipPlan:
    clip_index: int
    frame_indices: tuple[int, ...]
    step: float  # source frames per clip frame

    def fps(self, source_fps: float) -> float:
        return source_fps / self.step


def clip_step(source_fps: float, fps: float | None, stride: int | None) -> float:
    """Source frames between clip frames (target ``fps`` wins over ``stride``)."""
    if fps is not None:
        step = source_fps / fps
        if step < 1.0 - 1e-6:
            raise ClipError(f"source frame rate {source_fps:.3g} fps is below the target {fps:g}")
        return max(step, 1.0)
    return float(stride or 1)


def plan_clips(
    num_frames: int,
    source_fps: float,
    times: int,
    fps: float | None = None,
    stride: int | None = None,
    clips_per_video: int = 1,
    start: int | None = None,
) -> list[ClipPlan]:
    """Up to ``clips_per_video`` non-overlapping clips of ``times`` frames.

    ``start`` pins one clip at that frame; otherwise clip starts are spread
    evenly from the first frame to the last possible start.
    """
    step = clip_step(source_fps, fps, stride)
    offsets = np.round(np.arange(times) * step).astype(np.int64)
    span = int(offsets[-1]) + 1
    if start is not None:
        if start < 0 or start + span > num_frames:
            raise ClipError(
                f"video has {num_frames} frames; a clip of T={times} from frame {start} "
                f"at step {step:.3g} needs frames up to {start + span - 1}"
            )
        return [ClipPlan(0, tuple(int(start + o) for o in offsets), step)]
    if num_frames < span:
        raise ClipError(
            f"video has {num_frames} frames; T={times} at step {step:.3g} needs {span} frames"
        )
    count = min(clips_per_video, num_frames // span)
    starts = np.round(np.linspace(0, num_frames - span, count)).astype(np.int64)
    return [ClipPlan(k, tuple(int(s + o) for o in offsets), step) for k, s in enumerate(starts)]


def decode_clip(path, indices, meta, height: int, width: int) -> np.ndarray:
    """Clip frames ``[N, height, width, 3]`` uint8: decoded, centre-cropped, resized.

    The path every build and ``fourreal pseudo4d`` use. (Scaling inside the
    decoder is cheaper but worse: swscale filters chroma at 4:2:0 and decord
    and PyAV pick different filters, so results would depend on the backend.)
    """
    from core.video import decode_frames

    return crop_resize(decode_frames(path, indices, meta), height, width)


def clip_from_grid(grid: np.ndarray, mode: str, index: int) -> np.ndarray:
    """One clip of a disk grid ``[V, T, H, W, 3]``.

    ``freeze_time``: ``grid[:, index]`` (V frames, camera moves, time frozen);
    ``dynamic``: ``grid[index, :]`` (T frames, camera still, time moves).
    """
    v, t, _, _ = check_disk_grid(grid)
    if mode == "freeze_time":
        if not 0 <= index < t:
            raise ValueError(f"index: freeze-time clip needs 0 <= t < {t}, got {index}")
        return freeze_time_video(grid, index)
    if mode == "dynamic":
        if not 0 <= index < v:
            raise ValueError(f"index: fixed-view clip needs 0 <= v < {v}, got {index}")
        return fixed_view_video(grid, index)
    raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")


def clips_from_grid(grid: np.ndarray | str | os.PathLike) -> Iterator[tuple[str, int, np.ndarray]]:
    """Every base-model clip of a grid: ``(mode, index, frames [N, H, W, 3])``.

    Yields the ``T`` freeze-time clips ``grid[:, t]`` (mode ``freeze_time``,
    index ``t``) then the ``V`` fixed-view clips ``grid[v, :]`` (mode
    ``dynamic``, index ``v``). ``grid`` is an array or a sample file of any
    grid kind (rendered, pseudo-4D, generated; any stored format), read
    through the sample store. Slices are views of the array, not copies.
    """
    if not isinstance(grid, np.ndarray):
        from core.sample_store import read_grid

        grid = read_grid(grid)
    v, t, _, _ = check_disk_grid(grid)
    for ti in range(t):
        yield "freeze_time", ti, clip_from_grid(grid, "freeze_time", ti)
    for vi in range(v):
        yield "dynamic", vi, clip_from_grid(grid, "dynamic", vi)
