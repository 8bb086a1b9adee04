"""What a worker needs to turn one video into samples, and what it hands back.

``VideoJob`` holds a build's parameters (picklable, no Prefect) and the sample
parameters hashed into sample ids; ``SourceResult`` is one video's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.fetch import FetchLimits
from tasks.videos.curate import (
    DEFAULT_MAX_DECODED_BYTES,
    DEFAULT_SHOT_FILTER,
)

RECIPES = {"grid_pseudo4d": "pseudo4d_affine", "clip": "clip"}
# Clips are stored losslessly (libx264rgb crf 0): a built pseudo-4D sample then
# equals ``fourreal pseudo4d`` bit for bit, and only T frames are stored anyway.
VIDEO_QUALITY = {"codec": "h264rgb"}


@dataclass(frozen=True)
class VideoJob:
    """Everything a worker needs to turn one video into samples (picklable, no Prefect)."""

    kind: str  # grid_pseudo4d | clip
    times: int
    height: int
    width: int
    out_dir: str  # absolute
    recipe_version: str = "1"
    views: int = 1
    fps: float | None = None
    stride: int | None = None
    clips_per_video: int = 1
    seed: int = 0
    bounds: dict = field(default_factory=dict)
    warp_backend: str = "opencv"
    default_mode: str = "dynamic"
    max_pixels: int = 4096 * 4096
    min_side: int = 16
    vfr_tolerance: float = 0.2
    quality: dict | None = None  # core.sample_store.Quality fields; None = VIDEO_QUALITY
    run_id: str | None = None
    curation: dict | None = None  # CurationParams as a dict; None: no curation
    shot_filter: str = DEFAULT_SHOT_FILTER
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES
    fetch: dict | None = None  # FetchLimits fields for remote videos; None: its defaults
    retry_failed: bool = False  # fetch again the remote videos an earlier build found bad

    @property
    def recipe(self) -> str:
        return RECIPES[self.kind]

    def fetch_limits(self) -> FetchLimits:
        return FetchLimits(**(self.fetch or {}))

    def sample_params(
        self,
        clip_index: int,
        mode: str | None,
        shot_id: str | None = None,
        spans: tuple | None = None,
    ) -> dict:
        """The parameters hashed into a sample id (the shot id hashes the curation recipe)."""
        p = {
            "times": self.times,
            "height": self.height,
            "width": self.width,
            "fps": self.fps,
            "stride": self.stride,
            "clips_per_video": self.clips_per_video,
            "clip_index": clip_index,
        }
        if self.kind == "grid_pseudo4d":
            p |= {
                "views": self.views,
                "seed": self.seed,
                "bounds": self.bounds,
                "warp_backend": self.warp_backend,
            }
        else:
            p |= {"mode": mode}
        if shot_id is not None:
            p |= {"shot_id": shot_id, "shot_filter": self.shot_filter}
        if spans is not None:  # only then: ids of videos without spans stay what they were
            p |= {"spans": [list(s) for s in spans]}
        if self.quality is not None:  # stored pixels differ: a different sample
            p |= {"quality": self.quality}
        return p


@dataclass
class SourceResult:
    source_row: dict
    sample_rows: list[dict]
    skipped: list[str]  # sample ids already ok with their file present
    shot_rows: list[dict] = field(default_factory=list)  # ``shots`` table rows (curation)
    shots_selected: int = 0  # shots the filter kept
    shots_too_short: int = 0  # kept shots shorter than one clip: skipped, never padded
    sheet: str | None = None  # contact sheet of the shots, relative to the data root
    retracted: list[dict] = field(default_factory=list)  # clips of shots found duplicate late
    fetched_bytes: int | None = None  # a remote video fetched by this run: its size
