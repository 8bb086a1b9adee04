"""Per-video work of the ``build_pseudo4d`` and ``build_clips`` flows (no Prefect here).

Plain functions (``discover_sources``, ``process_source``, ``contact_sheet``)
do the work and are what tests, the bench and the demo call; ``tasks.videos.tasks``
wraps them as Prefect tasks for the flows. ``process_source`` is the
unit of fan-out: one video in, its ``sources`` row and ``samples`` rows out.
It never raises for a bad video: the reason goes into the rows.

Sample ids hash the source bytes, the recipe and its version, and the build
parameters of that clip (``VideoJob.sample_params``); ``params_json`` in the
catalog is those parameters plus a ``derived`` entry (frame indices, clip fps,
and for grids the camera path with its affine maps) that is not hashed.

Curation (``VideoJob.curation``, on by default in the flows): every frame is
decoded once; ``tasks.videos.curate`` splits the frames into shots and scores
them; the shots that pass ``VideoJob.shot_filter`` (a SQL predicate over the
``shots`` table) give the clips, cut from the same decoded frames with the
shot's black bars cropped, never across a shot boundary. A shot shorter than a
clip is skipped and counted. The clip mode is the manifest's where given, else
the mined one (a static shot a user's filter keeps gets ``default_mode``).

This module is the one import of the video builds; the work lives by concern in

* ``tasks.videos.sources``    inputs: folders, globs, manifests, ``sources`` rows;
* ``tasks.videos.job``        ``VideoJob`` (a build's parameters) and ``SourceResult``;
* ``tasks.videos.planning``   where clips go (spread, inside spans, inside shots);
* ``tasks.videos.process``    ``process_source``: one video in, its rows out;
* ``tasks.videos.samples``    writing clips and grids and their ``samples`` rows;
* ``tasks.videos.duplicates`` the shot-index Ray actor and late duplicate settling;
* ``tasks.videos.resume``     what earlier builds left (done samples, built remote videos);
* ``tasks.videos.fanout``     ``run_sources``: every video on Ray, in input order;
* ``tasks.videos.summary``    a build's counts, table and contact sheet.
"""

from __future__ import annotations

from tasks.videos.duplicates import (
    SQL_KNOWN_SHOTS,
    RemoteShotIndex,
    ShotIndexActor,
    known_shots,
    settle_duplicates,
)
from tasks.videos.fanout import result_rows, run_sources
from tasks.videos.job import RECIPES, VIDEO_QUALITY, SourceResult, VideoJob
from tasks.videos.planning import plan_shot_clips
from tasks.videos.process import process_source
from tasks.videos.resume import (
    PER_CLIP_PARAMS,
    SOURCE_COLUMNS,
    SQL_DONE,
    SQL_FAILED_REMOTE,
    SQL_RECORDED_REMOTE,
    RecordedSource,
    completed_samples,
    recorded_remote,
)
from tasks.videos.samples import clip_rng, grid_from_video
from tasks.videos.sources import MANIFEST_SUFFIXES, VIDEO_SUFFIXES, SourceSpec, discover_sources
from tasks.videos.summary import contact_sheet, first_per_key, source_table, summarize

__all__ = [
    "MANIFEST_SUFFIXES",
    "PER_CLIP_PARAMS",
    "RECIPES",
    "SOURCE_COLUMNS",
    "SQL_DONE",
    "SQL_FAILED_REMOTE",
    "SQL_KNOWN_SHOTS",
    "SQL_RECORDED_REMOTE",
    "VIDEO_QUALITY",
    "VIDEO_SUFFIXES",
    "RecordedSource",
    "RemoteShotIndex",
    "ShotIndexActor",
    "SourceResult",
    "SourceSpec",
    "VideoJob",
    "clip_rng",
    "completed_samples",
    "contact_sheet",
    "discover_sources",
    "first_per_key",
    "grid_from_video",
    "known_shots",
    "plan_shot_clips",
    "process_source",
    "recorded_remote",
    "result_rows",
    "run_sources",
    "settle_duplicates",
    "source_table",
    "summarize",
]
