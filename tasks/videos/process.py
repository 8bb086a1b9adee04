"""One video in, its rows out: ``process_source``, the unit of fan-out of the video builds.

It never raises for a bad video: the reason goes into the rows. A remote
video is fetched on the worker; with curation every frame is decoded once,
scored into shots, and clips are cut inside the shots the filter keeps.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from catalog.ids import sample_id
from core.fetch import FetchError, fetched
from core.io import sha256_bytes, sha256_file
from core.paths import relative_to_root
from core.video import VideoError, VideoMeta, probe_video
from tasks.videos.clips import ClipError, crop_resize, decode_clip
from tasks.videos.curate import (
    CurationError,
    CurationParams,
    Shot,
    ShotIndex,
    assign_shot_ids,
    curate_frames,
    decode_all,
    select_shots,
    shot_rows,
)
from tasks.videos.job import SourceResult, VideoJob
from tasks.videos.planning import plan_shot_clips, plan_video
from tasks.videos.samples import make_samples, sample_row
from tasks.videos.sources import SourceSpec, source_row
from tasks.videos.spans import inside, span_segments


def process_source(
    spec: SourceSpec, job: VideoJob, done: frozenset[str] = frozenset(), index=None
) -> SourceResult:
    """Probe one video and write its samples; a bad video becomes failed rows, never raises.

    A remote video (``spec.url``) is fetched here, on the worker, into the
    scratch area (``core.fetch``) and deleted when its samples are written.
    ``index`` (curation only) marks duplicate shots across videos: a
    ``ShotIndex`` or anything with its ``check_all``; by default, one of its own.
    """
    if spec.url is None or spec.error is not None:
        return _process_file(spec, job, done, index)
    try:
        with fetched(spec.url, job.fetch_limits()) as got:
            local = dataclasses.replace(spec, path=str(got.path))
            result = _process_file(local, job, done, index, got.record())
            result.fetched_bytes = got.bytes
            return result
    except FetchError as e:
        fetch = {"url": spec.url, "error": str(e)} | ({"status": e.status} if e.status else {})
        row = source_row(spec, None, None, None, f"fetch: {e}", job.run_id, fetch)
        return SourceResult(row, [], [])


def _process_file(
    spec: SourceSpec, job: VideoJob, done: frozenset[str], index, fetch: dict | None = None
) -> SourceResult:
    path = Path(spec.path)
    readable = path.is_file()
    sha = sha256_file(path) if readable else None
    size = path.stat().st_size if readable else None

    def source(meta: dict | None, error: str | None) -> dict:
        return source_row(spec, sha, size, meta, error, job.run_id, fetch)

    if spec.error is not None:
        return SourceResult(source(None, spec.error), [], [])
    try:
        meta = probe_video(path, job.max_pixels, job.min_side, job.vfr_tolerance)
    except VideoError as e:
        return SourceResult(source(None, str(e)), [], [])
    if job.curation is not None:
        return _process_curated(path, meta, sha, spec, job, done, index, source)
    src_id = spec.source_id(sha)
    mode = spec.mode or job.default_mode
    try:
        plans = plan_video(meta, spec, job)
    except ClipError as e:
        params = job.sample_params(0, mode, spans=spec.spans)
        sid = sample_id(sha, job.recipe, job.recipe_version, params)
        row = sample_row(job, sid, src_id, params, {}, mode, job.times, None, None, str(e))
        return SourceResult(source(meta.to_json(), None), [row], [])

    todo, skipped = [], []
    for plan in plans:
        params = job.sample_params(plan.clip_index, mode, spans=spec.spans)
        sid = sample_id(sha, job.recipe, job.recipe_version, params)
        (skipped if sid in done else todo).append((plan, params, sid))
    rows: list[dict] = []
    if todo:
        wanted = sorted({i for plan, _, _ in todo for i in plan.frame_indices})
        try:
            decoded = decode_clip(path, wanted, meta, job.height, job.width)
        except VideoError as e:
            rows = [
                sample_row(job, sid, src_id, params, {}, mode, job.times, None, None, str(e))
                for _, params, sid in todo
            ]
        else:
            where = {idx: k for k, idx in enumerate(wanted)}
            rows = make_samples(
                meta,
                sha,
                spec,
                job,
                [(plan, params, sid, mode) for plan, params, sid in todo],
                lambda plan: decoded[[where[i] for i in plan.frame_indices]],
            )
    return SourceResult(source(meta.to_json(), None), rows, [sid for _, _, sid in skipped])


def _process_curated(
    path: Path,
    meta: VideoMeta,
    sha: str,
    spec: SourceSpec,
    job: VideoJob,
    done: frozenset[str],
    index,
    source,
) -> SourceResult:
    """Decode every frame once, curate, keep the shots the filter selects, cut clips in them.

    With spans, the selected shots are narrowed to the spans first (the shot
    rows keep the whole shots: their scores describe them).
    """
    params = CurationParams(**job.curation)
    try:
        frames = decode_all(path, meta, job.max_decoded_bytes)
        shots = curate_frames(frames, meta.fps, params)
    except (VideoError, CurationError) as e:
        return SourceResult(source(None, str(e)), [], [])
    src_id = spec.source_id(sha)
    assign_shot_ids(shots, sha, job.recipe_version, params)
    (index if index is not None else ShotIndex(params.dedup_bits)).check_all(shots)
    srows = shot_rows(shots, src_id, spec.uri, meta.fps, job.recipe_version, params, job.run_id)
    chosen = select_shots(srows, job.shot_filter)
    selected = [s for s in shots if s.shot_id in chosen]
    if spec.spans is not None:
        segments = span_segments(spec.spans, meta.fps, meta.frames)
        selected = [part for _, part in inside(selected, segments)]
    sheet = _shot_sheet(frames, shots, sha, job)
    result = SourceResult(source(meta.to_json(), None), [], [], srows, len(chosen), 0, sheet)
    try:
        planned, result.shots_too_short = plan_shot_clips(selected, meta.fps, job)
    except ClipError as e:  # the video's frame rate is below the target: no clip anywhere
        mode = spec.mode or job.default_mode
        params0 = job.sample_params(0, mode, spans=spec.spans)
        sid = sample_id(sha, job.recipe, job.recipe_version, params0)
        row = sample_row(job, sid, src_id, params0, {}, mode, job.times, None, None, str(e))
        result.sample_rows = [row]
        return result
    todo = []
    for shot, plan in planned:
        mode = spec.mode or (shot.mode if shot.mode != "static" else job.default_mode)
        params_k = job.sample_params(plan.clip_index, mode, shot.shot_id, spec.spans)
        sid = sample_id(sha, job.recipe, job.recipe_version, params_k)
        if sid in done:
            result.skipped.append(sid)
        else:
            todo.append((plan, params_k, sid, mode, shot))
    bars = {plan.clip_index: shot.borders for plan, _, _, _, shot in todo}
    result.sample_rows = make_samples(
        meta,
        sha,
        spec,
        job,
        [t[:4] for t in todo],
        lambda plan: crop_resize(
            bars[plan.clip_index].crop(frames[list(plan.frame_indices)]), job.height, job.width
        ),
    )
    return result


def _shot_sheet(frames: np.ndarray, shots: list[Shot], sha: str, job: VideoJob) -> str:
    """The contact sheet PNG, named by the video and its shots (a rerun reuses it)."""
    from tasks.videos.sheet import shot_sheet

    digest = sha256_bytes("\n".join(s.shot_id for s in shots).encode())[:12]
    out = Path(job.out_dir) / "curation" / f"{sha[:16]}-{digest}.png"
    if not out.is_file():
        shot_sheet(frames, shots, out)
    return relative_to_root(out)
