"""Flows ``build_pseudo4d`` and ``build_clips``: video corpora -> samples (docs/data.md#videos---pseudo-4d-grids-and-clips).

Run them from Python (``build_pseudo4d(Pseudo4DParams(source="videos/"))``),
from the Prefect UI (the parameter models render as forms), or through a
deployment. Both are idempotent: a rerun skips sample ids that are already
``ok`` in the catalog with their file present, so it only writes what is new.

Each video is one Ray task (``tasks.videos.build.process_source``); a bad video
becomes a ``failed`` row with the reason and the build goes on.

Curation (``curate``, on by default): every video is split into shots and
scored (``tasks.videos.curate``); the ``shots`` rows land in the catalog and
clips come only from the shots ``shot_filter`` (SQL over ``shots``) selects.
"""

from __future__ import annotations

from typing import Literal

from prefect import flow
from pydantic import Field, model_validator

from core.fetch import FetchLimits
from core.flow_params import FlowParams, Height, RayAddress, Seed, Times, Width
from core.flow_params import output_path as resolve_output
from core.grid import Mode
from core.video import DEFAULT_MAX_PIXELS, DEFAULT_MIN_SIDE, DEFAULT_VFR_TOLERANCE
from flows.common import interrupted_by, recorded_build
from flows.grid_params import GridSizeMixin, StoreQualityMixin
from tasks.recording import BuildStopped
from tasks.videos.build import VideoJob
from tasks.videos.curate import (
    DEFAULT_MAX_DECODED_BYTES,
    DEFAULT_SHOT_FILTER,
    CurationParams,
    check_shot_filter,
)
from tasks.videos.pseudo4d import AffineBounds
from tasks.videos.tasks import (
    completed_samples_task,
    discover_sources_task,
    known_shots_task,
    process_sources_task,
    publish_summary_task,
)


class VideoBuildParams(StoreQualityMixin, FlowParams):
    """What both video builds share: sources, clip sampling, limits, where to write."""

    source: str = Field(
        ...,
        min_length=1,
        description="A folder of videos, a glob, or a CSV/Parquet/JSONL manifest "
        "(columns: path or url (http(s):// or s3://); optional spans, mode, caption, license)",
    )
    times: Times = 8
    height: Height = 72
    width: Width = 128
    fps: float | None = Field(
        None, gt=0, le=240, description="Target frame rate of a clip (exclusive with stride)"
    )
    stride: int | None = Field(
        None, ge=1, le=1000, description="Source frames between clip frames (default 1)"
    )
    clips_per_video: int = Field(
        1, ge=1, le=1000, description="Most clips per video (non-overlapping)"
    )
    seed: Seed = 0
    ray_address: RayAddress = None
    num_cpus: int | None = Field(None, ge=1, le=4096, description="CPUs of a local Ray (None: all)")
    output_dir: str = Field("videos", description="Output folder under the data root")
    recipe_version: str = Field(
        "1", pattern=r"^[A-Za-z0-9._-]{1,32}$", description="Bump to rebuild everything"
    )
    max_pixels: int = Field(
        DEFAULT_MAX_PIXELS, ge=256, description="Refuse videos with larger frames"
    )
    min_side: int = Field(DEFAULT_MIN_SIDE, ge=2, description="Refuse videos with a shorter side")
    vfr_tolerance: float = Field(
        DEFAULT_VFR_TOLERANCE,
        gt=0,
        le=10,
        description="Refuse videos whose frame durations vary more than this (relative)",
    )
    curate: bool = Field(
        True, description="Split videos into shots, score them and keep what shot_filter selects"
    )
    curation: CurationParams = Field(default_factory=CurationParams)
    shot_filter: str = Field(
        DEFAULT_SHOT_FILTER,
        min_length=1,
        description="SQL predicate over the shots table: the shots clips are cut from",
    )
    max_decoded_bytes: int = Field(
        DEFAULT_MAX_DECODED_BYTES,
        ge=1 << 20,
        description="Curation decodes a whole video at once: refuse longer ones",
    )

    fetch_max_bytes: int = Field(
        FetchLimits.max_bytes, ge=1, description="Refuse a remote video larger than this (bytes)"
    )
    fetch_timeout_s: float = Field(
        FetchLimits.timeout_s,
        gt=0,
        le=3600,
        description="Seconds a remote video's server may stay silent (connect, each read)",
    )
    fetch_retries: int = Field(
        FetchLimits.retries,
        ge=0,
        le=20,
        description="Tries after a transient fetch failure (timeout, 5xx), with backoff",
    )

    retry_failed: bool = Field(
        False,
        description="Fetch again the remote videos an earlier build recorded as failed "
        "(by default a rebuild reports them without fetching)",
    )

    @model_validator(mode="after")
    def _check(self):
        if self.fps is not None and self.stride is not None:
            raise ValueError("fps: give a target fps or a stride, not both")
        resolve_output(self.output_dir, "output_dir")
        check_shot_filter(self.shot_filter)
        return self

    def job(self, kind: str, run_id: str | None, **extra) -> VideoJob:
        return VideoJob(
            kind=kind,
            times=self.times,
            height=self.height,
            width=self.width,
            out_dir=str(resolve_output(self.output_dir, "output_dir")),
            recipe_version=self.recipe_version,
            fps=self.fps,
            stride=None if self.fps is not None else (self.stride or 1),
            clips_per_video=self.clips_per_video,
            seed=self.seed,
            max_pixels=self.max_pixels,
            min_side=self.min_side,
            vfr_tolerance=self.vfr_tolerance,
            run_id=run_id,
            curation=self.curation.model_dump() if self.curate else None,
            shot_filter=self.shot_filter,
            max_decoded_bytes=self.max_decoded_bytes,
            quality=self.store_quality(),
            fetch={
                "max_bytes": self.fetch_max_bytes,
                "timeout_s": self.fetch_timeout_s,
                "retries": self.fetch_retries,
            },
            retry_failed=self.retry_failed,
            **extra,
        )


class Pseudo4DParams(GridSizeMixin, VideoBuildParams):
    """Parameters of ``build_pseudo4d`` (V x T grids warped along affine camera paths)."""

    output_dir: str = Field("pseudo4d", description="Output folder under the data root")
    bounds: AffineBounds = Field(default_factory=AffineBounds)
    warp_backend: Literal["opencv", "torch"] = Field(
        "opencv", description="opencv (fast) or torch grid_sample; both exact bilinear to +-1"
    )


class ClipParams(VideoBuildParams):
    """Parameters of ``build_clips`` (plain base-model clips labelled by mode)."""

    preset: Literal["tiny", "small", "paper"] = Field(
        "tiny", description="Model preset whose patch size H and W must divide"
    )
    output_dir: str = Field("clips", description="Output folder under the data root")
    default_mode: Mode = Field(
        "dynamic",
        description="Mode of videos the manifest does not label when curation is off "
        "(with curation, the mined mode; static shots a filter keeps get this)",
    )

    @model_validator(mode="after")
    def _patch(self):
        GridSizeMixin(preset=self.preset, height=self.height, width=self.width)
        return self


def _build(flow_name: str, params: VideoBuildParams, job_of) -> dict:
    with recorded_build(flow_name, params) as rec:
        job = job_of(rec.run_id)
        specs = discover_sources_task(params.source)
        done = completed_samples_task(job)
        known = known_shots_task(job)
        # rows are recorded as each video finishes: a killed build keeps what it recorded
        try:
            results = process_sources_task(
                specs, job, done, params.ray_address, params.num_cpus, known
            )
        except BuildStopped as e:  # SIGTERM/SIGINT: what finished, recorded
            results = e.results
        for res in results:
            rec.add_input("sources", res.source_row["source_id"])
            for row in res.sample_rows:
                if row["status"] == "ok":
                    rec.add_output("samples", row["sample_id"])
        summary = publish_summary_task(results, job, flow_name, rec.run_id)
        return summary | {"interrupted": interrupted_by()}


@flow(name="build_pseudo4d", log_prints=True)
def build_pseudo4d(params: Pseudo4DParams) -> dict:
    """Pseudo-4D grids from videos; returns counts, sample ids and the run id."""
    return _build(
        "build_pseudo4d",
        params,
        lambda run_id: params.job(
            "grid_pseudo4d",
            run_id,
            views=params.views,
            bounds=params.bounds.model_dump(),
            warp_backend=params.warp_backend,
        ),
    )


@flow(name="build_clips", log_prints=True)
def build_clips(params: ClipParams) -> dict:
    """Base-model clips (dynamic | freeze_time) from videos; returns counts, ids, run id."""
    return _build(
        "build_clips",
        params,
        lambda run_id: params.job("clip", run_id, default_mode=params.default_mode),
    )
