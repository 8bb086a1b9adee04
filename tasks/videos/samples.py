"""Writing a video's samples: clips and virtual pseudo-4D grids, and their ``samples`` rows.

``make_samples`` writes each planned clip through the sample store (grids as
the clip plus its affine maps); ``grid_from_video`` is the ``fourreal
pseudo4d`` export of one grid, the same arrays as clip 0 of a build.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from catalog.ids import canonical_json
from core import sample_store
from core.io import sha256_file
from core.paths import relative_to_root, store_location
from core.sample_store import sample_path
from core.video import VideoMeta, probe_video
from tasks.videos.clips import decode_clip, plan_clips
from tasks.videos.job import VIDEO_QUALITY, VideoJob
from tasks.videos.pseudo4d import AffineBounds, camera_path, pseudo4d_grid
from tasks.videos.sources import SourceSpec


def clip_rng(seed: int, source_sha256: str, clip_index: int) -> np.random.Generator:
    """The camera-path generator of one clip: seeded by the build seed, the video and the clip."""
    return np.random.default_rng(
        np.random.SeedSequence([seed, int(source_sha256[:16], 16), clip_index])
    )


def sample_row(
    job: VideoJob,
    sid: str,
    source_id: str,
    params: dict,
    derived: dict,
    mode: str | None,
    n_frames: int,
    path: str | Path | None,
    sha: str | None,
    error: str | None,
    nbytes: int | None = None,
) -> dict:
    is_grid = job.kind == "grid_pseudo4d"
    return {
        "sample_id": sid,
        "kind": job.kind,
        "source_id": source_id,
        "recipe": job.recipe,
        "recipe_version": job.recipe_version,
        "params_json": canonical_json(params | {"derived": derived}),
        "mode": None if is_grid else mode,
        "v": job.views if is_grid else 1,
        "t": n_frames,
        "h": job.height,
        "w": job.width,
        "path": None if path is None else relative_to_root(path),
        "sha256": sha,
        "bytes": nbytes,
        "status": "failed" if error else "ok",
        "error": error,
        "run_id": job.run_id,
    }


def make_samples(
    meta: VideoMeta, sha: str, spec: SourceSpec, job: VideoJob, todo: list, clip_frames
) -> list[dict]:
    """Warp (grids) and write each clip of ``todo``: ``(plan, params, sample id, mode)``.

    ``clip_frames(plan)`` gives the clip's frames, cropped and resized.
    """
    out_dir = store_location(job.out_dir)  # S3 home: root-relative
    rows = []
    for plan, params, sid, mode in todo:
        indices = np.asarray(plan.frame_indices, np.int64)
        frames = clip_frames(plan)
        derived = {"frame_indices": indices.tolist(), "clip_fps": plan.fps(meta.fps)}
        caption = {} if spec.caption is None else {"caption": spec.caption}
        derived |= caption  # not hashed: the same clip whatever its text says
        final = sample_path(out_dir, sid)
        if job.kind == "grid_pseudo4d":
            # virtual: the clip and its V affine maps are stored, the grid is warped on read
            cam = camera_path(
                job.views,
                job.height,
                job.width,
                AffineBounds(**job.bounds),
                clip_rng(job.seed, sha, plan.clip_index),
            )
            derived["camera"] = cam.to_json()
            stored = sample_store.write_pseudo4d(
                final,
                frames=frames,
                affine=cam.affine,
                seed=job.seed,
                frame_indices=indices,
                backend=job.warp_backend,
                quality={**VIDEO_QUALITY, **(job.quality or {})},
                sample_id=sid,
                attrs={"clip_index": plan.clip_index, "source_sha256": sha, **caption},
            )
        else:
            stored = sample_store.write_clip(
                final,
                frames=frames,
                frame_indices=indices,
                fps=plan.fps(meta.fps),
                mode=mode,
                quality={**VIDEO_QUALITY, **(job.quality or {})},
                sample_id=sid,
                attrs=caption,
            )
        rows.append(
            sample_row(
                job,
                sid,
                spec.source_id(sha),
                params,
                derived,
                mode,
                job.times,
                final,
                stored.sha256,
                None,
                stored.bytes,
            )
        )
    return rows


def grid_from_video(
    path: str | os.PathLike,
    views: int,
    times: int,
    height: int,
    width: int,
    seed: int = 0,
    fps: float | None = None,
    stride: int | None = None,
    start: int = 0,
    bounds: AffineBounds | None = None,
    backend: str = "opencv",
) -> dict[str, np.ndarray]:
    """One pseudo-4D grid from one video: the ``fourreal pseudo4d`` export contract.

    Returns ``grid [V,T,H,W,3] uint8``, ``frames [T,H,W,3] uint8`` (the clip
    after crop + resize, unwarped), ``affine [V,2,3] float64`` with
    ``grid[v,t](x,y) = frames[t](affine[v] @ [x,y,1])`` (pixel centres at
    integers, bilinear) and ``frame_indices [T] int64`` into the decoded
    video. With ``start=0`` it equals clip 0 of ``build_pseudo4d`` with the
    same seed, bounds and ``clips_per_video=1`` for a video that is one shot
    without black bars (curation starts clips in shots and crops bars).
    Raises ``VideoError`` / ``ClipError`` for an unusable video.
    """
    sha = sha256_file(path)
    meta = probe_video(path)
    plan = plan_clips(meta.frames, meta.fps, times, fps, stride, start=start)[0]
    frames = decode_clip(path, plan.frame_indices, meta, height, width)
    grid, cam = pseudo4d_grid(
        frames, views, bounds or AffineBounds(), clip_rng(seed, sha, 0), backend
    )
    return {
        "grid": grid,
        "frames": frames,
        "affine": cam.affine.astype(np.float64),
        "frame_indices": np.asarray(plan.frame_indices, np.int64),
    }
