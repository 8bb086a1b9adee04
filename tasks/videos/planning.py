"""Where a video's clips go: spread over it, inside the manifest's spans, or inside shots.

Clips never cross a shot boundary; ``clip_index`` counts across the video.
"""

from __future__ import annotations

from core.video import VideoMeta
from tasks.videos.clips import ClipError, ClipPlan, clip_step, plan_clips
from tasks.videos.curate import Shot
from tasks.videos.job import VideoJob
from tasks.videos.sources import SourceSpec, spans_json
from tasks.videos.spans import span_segments


def plan_video(meta: VideoMeta, spec: SourceSpec, job: VideoJob) -> list[ClipPlan]:
    """Clips of an uncurated video: spread over it, or only inside the manifest's spans."""
    if spec.spans is None:
        return plan_clips(
            meta.frames, meta.fps, job.times, job.fps, job.stride, job.clips_per_video
        )
    segments = span_segments(spec.spans, meta.fps, meta.frames)
    planned, _ = plan_shot_clips(segments, meta.fps, job)
    if not planned:
        raise ClipError(
            f"no span of {spans_json(spec.spans)} s holds a clip of T={job.times} "
            f"at {meta.fps:.3g} fps (segments: {[(g.start, g.end) for g in segments]})"
        )
    return [plan for _, plan in planned]


def plan_shot_clips(
    shots: list[Shot], source_fps: float, job: VideoJob
) -> tuple[list[tuple[Shot, ClipPlan]], int]:
    """Clips inside shots (never across a cut) and the number of shots too short for one.

    ``clips_per_video`` clips are dealt to the shots in turn (one each, then a
    second each, ...) as far as each shot has room; inside a shot they are
    spread as ``plan_clips`` spreads them. ``clip_index`` counts across the video.
    """
    step = clip_step(source_fps, job.fps, job.stride)
    span = int(round((job.times - 1) * step)) + 1
    room = [s.frames // span for s in shots]
    count = [0] * len(shots)
    left = job.clips_per_video
    while left and any(c < r for c, r in zip(count, room, strict=True)):
        for k in range(len(shots)):
            if left and count[k] < room[k]:
                count[k] += 1
                left -= 1
    planned: list[tuple[Shot, ClipPlan]] = []
    for shot, n in zip(shots, count, strict=True):
        if n == 0:
            continue
        for plan in plan_clips(shot.frames, source_fps, job.times, job.fps, job.stride, n):
            indices = tuple(shot.start + i for i in plan.frame_indices)
            planned.append((shot, ClipPlan(len(planned), indices, plan.step)))
    return planned, sum(r == 0 for r in room)
