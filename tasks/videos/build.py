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
"""

from __future__ import annotations

import dataclasses
import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from catalog.ids import canonical_json, sample_id
from fourreal.core import fs, store
from fourreal.core.fetch import FetchError, FetchLimits, fetched, is_url
from fourreal.core.grid import MODES
from fourreal.core.io import sha256_bytes, sha256_file
from fourreal.core.paths import data_root, relative_to_root, store_location
from fourreal.core.store import sample_path
from fourreal.core.video import VideoError, VideoMeta, probe_video
from tasks.recording import rearm_stop_signals
from tasks.videos.clips import ClipError, ClipPlan, clip_step, crop_resize, decode_clip, plan_clips
from tasks.videos.curate import (
    DEFAULT_MAX_DECODED_BYTES,
    DEFAULT_SHOT_FILTER,
    MODES_MINED,
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
from tasks.videos.pseudo4d import AffineBounds, camera_path, pseudo4d_grid
from tasks.videos.spans import SpanError, inside, parse_spans, span_segments

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".y4m", ".mpg", ".mpeg", ".ts", ".flv"}
)
MANIFEST_SUFFIXES = frozenset({".csv", ".parquet", ".jsonl"})
RECIPES = {"grid_pseudo4d": "pseudo4d_affine", "clip": "clip"}
# Clips are stored losslessly (libx264rgb crf 0): a built pseudo-4D sample then
# equals ``fourreal pseudo4d`` bit for bit, and only T frames are stored anyway.
VIDEO_QUALITY = {"codec": "h264rgb"}


@dataclass(frozen=True)
class SourceSpec:
    """One input video as listed by a folder, a glob or a manifest row."""

    path: str  # absolute (for a remote video: its URL until a worker fetches it)
    mode: str | None = None  # dynamic | freeze_time (manifest), None: the build's default
    caption: str | None = None
    license: str | None = None
    error: str | None = None  # a manifest row that is unusable before probing
    url: str | None = None  # http(s):// or s3://: fetched by the worker that processes it
    spans: tuple[tuple[float, float], ...] | None = None  # seconds clips may come from

    @property
    def uri(self) -> str:
        return self.url or relative_to_root(self.path)

    @property
    def key(self) -> tuple[str, str]:
        """What identifies a remote input without fetching it: its URL and spans."""
        return (self.uri, _spans_json(self.spans))

    def source_id(self, sha: str | None) -> str:
        """The ``sources`` key: the bytes' hash, with the spans when a row names some."""
        base = sha or sha256_bytes(self.uri.encode())
        return (
            base
            if self.spans is None
            else sha256_bytes(f"{base}|{_spans_json(self.spans)}".encode())
        )


def _spans_json(spans) -> str:
    return "" if spans is None else canonical_json([list(s) for s in spans])


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
    quality: dict | None = None  # fourreal.core.store.Quality fields; None = VIDEO_QUALITY
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


# ---- discovery -----------------------------------------------------------------


def discover_sources(source: str) -> list[SourceSpec]:
    """Videos named by ``source``: a folder, a glob, or a CSV/Parquet/JSONL manifest.

    A folder lists its files with a video suffix (recursively). A manifest row
    names its video by ``path`` (relative paths are relative to the manifest)
    or by ``url`` (``http(s)://`` or ``s3://``, fetched by the worker that
    processes it); optional columns: ``spans`` (``[[start, end], ...]`` seconds,
    in CSV as JSON text; clips come only from inside them), ``mode``,
    ``caption`` and ``license`` (or ``licence``).
    """
    p = Path(source).expanduser()
    if p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES:
        return _read_manifest(p)
    if p.is_dir():
        files = sorted(
            f
            for f in p.rglob("*")
            if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES and not f.name.startswith(".")
        )
        return [SourceSpec(str(f.resolve())) for f in files]
    if p.is_file():
        return [SourceSpec(str(p.resolve()))]
    matches = sorted(glob.glob(str(p), recursive=True))
    if not matches and not glob.has_magic(str(p)):
        raise ValueError(f"source: {source!r} is not a file, folder, glob or manifest")
    return [SourceSpec(str(Path(m).resolve())) for m in matches if Path(m).is_file()]


def _manifest_table(path: Path):
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson
    import pyarrow.parquet as pq

    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            opts = pcsv.ConvertOptions(strings_can_be_null=True)
            return pcsv.read_csv(path, convert_options=opts)
        if suffix == ".jsonl":
            return pjson.read_json(path)
        return pq.read_table(path)
    except Exception as e:  # pyarrow's parse errors name no common base class
        raise ValueError(f"source: manifest {path} cannot be read: {str(e)[:300]}") from None


def _read_manifest(path: Path) -> list[SourceSpec]:
    table = _manifest_table(path)
    if "path" not in table.column_names and "url" not in table.column_names:
        raise ValueError(
            f"source: manifest {path} has no 'path' or 'url' column (columns: {table.column_names})"
        )
    return [_manifest_row(path, row) for row in table.to_pylist()]


def _manifest_row(manifest: Path, row: dict) -> SourceSpec:
    """One row as a ``SourceSpec``; an unusable row carries its reason in ``error``."""
    lic = row.get("license", row.get("licence"))
    common = {
        "mode": row.get("mode") or None,
        "caption": None if row.get("caption") is None else str(row["caption"]),
        "license": None if lic is None else str(lic),
    }
    raw, url = row.get("path"), row.get("url")
    errors = []
    if url:
        url = str(url).strip()
        if not is_url(url):
            errors.append(f"manifest url {url!r} is not http(s):// or s3://")
        where = {"path": url, "url": url}
    elif raw:
        f = Path(str(raw)).expanduser()
        where = {"path": str((f if f.is_absolute() else manifest.parent / f).resolve())}
    else:
        return SourceSpec(str(manifest), error="manifest row without a path or url", **common)
    if common["mode"] is not None and common["mode"] not in MODES:
        errors.append(f"manifest mode {common['mode']!r} is not one of {MODES}")
    try:
        spans = parse_spans(row.get("spans"))
    except SpanError as e:
        spans, errors = None, [*errors, f"manifest {e}"]
    return SourceSpec(**where, **common, spans=spans, error="; ".join(errors) or None)


# ---- per-video work ------------------------------------------------------------


def clip_rng(seed: int, source_sha256: str, clip_index: int) -> np.random.Generator:
    """The camera-path generator of one clip: seeded by the build seed, the video and the clip."""
    return np.random.default_rng(
        np.random.SeedSequence([seed, int(source_sha256[:16], 16), clip_index])
    )


def _source_row(
    spec: SourceSpec,
    sha: str | None,
    size: int | None,
    meta: dict | None,
    error: str | None,
    run_id: str | None,
    fetch: dict | None = None,
) -> dict:
    info = dict(meta or {})
    if spec.caption is not None:
        info["caption"] = spec.caption
    if spec.mode is not None:
        info["mode"] = spec.mode
    if spec.spans is not None:
        info["spans"] = [list(s) for s in spec.spans]
    if fetch is not None:  # URL, HTTP status, ETag, bytes (or why it failed)
        info["fetch"] = fetch
    return {
        "source_id": spec.source_id(sha),
        "kind": "video",
        "uri": spec.uri,
        "sha256": sha,
        "bytes": size,
        "license": spec.license,
        "meta_json": canonical_json(info) if info else None,
        "status": "failed" if error else "ok",
        "error": error,
        "run_id": run_id,
    }


def _sample_row(
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


def process_source(
    spec: SourceSpec, job: VideoJob, done: frozenset[str] = frozenset(), index=None
) -> SourceResult:
    """Probe one video and write its samples; a bad video becomes failed rows, never raises.

    A remote video (``spec.url``) is fetched here, on the worker, into the
    scratch area (``fourreal.core.fetch``) and deleted when its samples are written.
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
        row = _source_row(spec, None, None, None, f"fetch: {e}", job.run_id, fetch)
        return SourceResult(row, [], [])


def _process_file(
    spec: SourceSpec, job: VideoJob, done: frozenset[str], index, fetch: dict | None = None
) -> SourceResult:
    path = Path(spec.path)
    readable = path.is_file()
    sha = sha256_file(path) if readable else None
    size = path.stat().st_size if readable else None

    def source(meta: dict | None, error: str | None) -> dict:
        return _source_row(spec, sha, size, meta, error, job.run_id, fetch)

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
        plans = _plan_video(meta, spec, job)
    except ClipError as e:
        params = job.sample_params(0, mode, spans=spec.spans)
        sid = sample_id(sha, job.recipe, job.recipe_version, params)
        row = _sample_row(job, sid, src_id, params, {}, mode, job.times, None, None, str(e))
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
                _sample_row(job, sid, src_id, params, {}, mode, job.times, None, None, str(e))
                for _, params, sid in todo
            ]
        else:
            where = {idx: k for k, idx in enumerate(wanted)}
            rows = _make_samples(
                meta,
                sha,
                spec,
                job,
                [(plan, params, sid, mode) for plan, params, sid in todo],
                lambda plan: decoded[[where[i] for i in plan.frame_indices]],
            )
    return SourceResult(source(meta.to_json(), None), rows, [sid for _, _, sid in skipped])


def _plan_video(meta: VideoMeta, spec: SourceSpec, job: VideoJob) -> list[ClipPlan]:
    """Clips of an uncurated video: spread over it, or only inside the manifest's spans."""
    if spec.spans is None:
        return plan_clips(
            meta.frames, meta.fps, job.times, job.fps, job.stride, job.clips_per_video
        )
    segments = span_segments(spec.spans, meta.fps, meta.frames)
    planned, _ = plan_shot_clips(segments, meta.fps, job)
    if not planned:
        raise ClipError(
            f"no span of {_spans_json(spec.spans)} s holds a clip of T={job.times} "
            f"at {meta.fps:.3g} fps (segments: {[(g.start, g.end) for g in segments]})"
        )
    return [plan for _, plan in planned]


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
        row = _sample_row(job, sid, src_id, params0, {}, mode, job.times, None, None, str(e))
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
    result.sample_rows = _make_samples(
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


def _shot_sheet(frames: np.ndarray, shots: list[Shot], sha: str, job: VideoJob) -> str:
    """The contact sheet PNG, named by the video and its shots (a rerun reuses it)."""
    from tasks.videos.sheet import shot_sheet

    digest = sha256_bytes("\n".join(s.shot_id for s in shots).encode())[:12]
    out = Path(job.out_dir) / "curation" / f"{sha[:16]}-{digest}.png"
    if not out.is_file():
        shot_sheet(frames, shots, out)
    return relative_to_root(out)


def _make_samples(
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
            stored = store.write_pseudo4d(
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
            stored = store.write_clip(
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
            _sample_row(
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


# ---- fan-out, catalog, artifacts -------------------------------------------------

SQL_DONE = """
SELECT sample_id, path FROM samples
WHERE status = 'ok' AND kind = ? AND recipe = ? AND recipe_version = ?
"""


def completed_samples(catalog, job: VideoJob) -> frozenset[str]:
    """Ids of samples of this recipe already ok in the catalog whose file is present."""
    rows = [
        r for r in catalog.rows(SQL_DONE, [job.kind, job.recipe, job.recipe_version]) if r["path"]
    ]
    # one listing of the output folder, not a check (on S3 a HEAD) per recorded sample
    present = fs.existing([r["path"] for r in rows], store_location(job.out_dir))
    return frozenset(r["sample_id"] for r in rows if r["path"] in present)


SQL_RECORDED_REMOTE = """
SELECT s.source_id, s.kind, s.uri, s.sha256, s.bytes, s.license, s.meta_json, s.status,
       s.error, s.run_id, x.sample_id, x.params_json
FROM sources s JOIN samples x ON x.source_id = s.source_id
WHERE s.status = 'ok' AND x.status = 'ok' AND x.kind = ? AND x.recipe = ?
  AND x.recipe_version = ?
  AND (s.uri LIKE 'http://%' OR s.uri LIKE 'https://%' OR s.uri LIKE 's3://%')
"""
SQL_FAILED_REMOTE = """
SELECT source_id, kind, uri, sha256, bytes, license, meta_json, status, error, run_id
FROM sources
WHERE kind = 'video'
  AND (uri LIKE 'http://%' OR uri LIKE 'https://%' OR uri LIKE 's3://%')
"""
SOURCE_COLUMNS = (
    "source_id", "kind", "uri", "sha256", "bytes", "license", "meta_json", "status", "error", "run_id"
)  # fmt: skip
# what varies from one clip of a video to the next, not from one build to the next
PER_CLIP_PARAMS = frozenset({"derived", "clip_index", "mode", "shot_id", "spans"})


@dataclass(frozen=True)
class RecordedSource:
    """A remote video already built with this job's parameters: its row and sample ids."""

    source_row: dict
    sample_ids: tuple[str, ...]


def recorded_remote(
    catalog, job: VideoJob, done: frozenset[str]
) -> dict[tuple[str, str], RecordedSource]:
    """Remote videos (by URL and spans) this job already built: a rebuild fetches none of them.

    A video counts when its ``sources`` row is ok and it has ok samples of this
    recipe and version, built with the job's parameters, whose files are
    present (``done``). Its ``(uri, spans)`` key is what the manifest says, so
    nothing is fetched to decide. Unless ``job.retry_failed``, a video whose
    only rows are failed ones (404, timeout, not a video) counts too, as that
    failure: a rebuild reports it again without fetching it.
    """
    import json

    found = {} if job.retry_failed else _failed_remote(catalog)

    wanted = _build_params(job.sample_params(0, None, "" if job.curation else None))
    for r in catalog.rows(SQL_RECORDED_REMOTE, [job.kind, job.recipe, job.recipe_version]):
        if r["sample_id"] not in done:
            continue
        if _build_params(json.loads(r["params_json"])) != wanted:
            continue
        spans = json.loads(r["meta_json"] or "{}").get("spans")
        key = (r["uri"], "" if spans is None else canonical_json(spans))
        row = {c: r[c] for c in SOURCE_COLUMNS}
        prev = found.get(key)
        ids = (prev.sample_ids if prev and prev.source_row["status"] == "ok" else ()) + (
            r["sample_id"],
        )
        found[key] = RecordedSource(row, tuple(sorted(set(ids))))
    return found


def _failed_remote(catalog) -> dict[tuple[str, str], RecordedSource]:
    """Remote videos (by URL and spans) with failed rows and no ok one."""
    import json

    failed, fine = {}, set()
    for r in catalog.rows(SQL_FAILED_REMOTE):
        spans = json.loads(r["meta_json"] or "{}").get("spans")
        key = (r["uri"], "" if spans is None else canonical_json(spans))
        if r["status"] == "ok":
            fine.add(key)
        else:
            failed[key] = RecordedSource(dict(r), ())
    return {k: v for k, v in failed.items() if k not in fine}


def _build_params(params: dict) -> dict:
    return {k: v for k, v in params.items() if k not in PER_CLIP_PARAMS}


SQL_KNOWN_SHOTS = """
SELECT shot_id, phash FROM shots
WHERE duplicate_of IS NULL AND recipe_version = ? AND params_json = ?
ORDER BY created_at, shot_id
"""


def known_shots(catalog, job: VideoJob) -> list[tuple[str, list[int]]]:
    """Original (not duplicate) shots of this curation recipe already in the catalog."""
    if job.curation is None:
        return []
    params_json = canonical_json(CurationParams(**job.curation).model_dump())
    rows = catalog.rows(SQL_KNOWN_SHOTS, [job.recipe_version, params_json])
    return [(r["shot_id"], list(r["phash"])) for r in rows]


class ShotIndexActor:
    """A ``ShotIndex`` shared by the Ray tasks of one build."""

    def __init__(self, max_bits: int, known: list[tuple[str, list[int]]]):
        self.index = ShotIndex(max_bits)
        for shot_id, hashes in known:
            self.index.seed(shot_id, hashes)

    def check_batch(self, items: list[tuple]) -> list:
        """``(shot_id, hashes, rank, mirrored hashes)`` per shot -> what each duplicates."""
        return [self.index.check(*item) for item in items]

    def final(self) -> dict[str, str | None]:
        return self.index.final()


@dataclass(frozen=True)
class RemoteShotIndex:
    """What ``process_source`` calls on a Ray worker: one round trip per video."""

    actor: object
    order: int  # the video's place in the build's input order (its shots' rank)

    def check_all(self, shots: list[Shot]) -> list[Shot]:
        import ray

        items = [(s.shot_id, s.phash, (self.order, s.start), s.phash_mirrored) for s in shots]
        for s, original in zip(shots, ray.get(self.actor.check_batch.remote(items)), strict=True):
            s.duplicate_of = original
        return shots


def settle_duplicates(
    results: list[SourceResult], final: dict, job: VideoJob
) -> list[SourceResult]:
    """Apply the index's final answers; returns the results it changed.

    A video that finished before a lower-ranked look-alike had its shots taken
    as originals: they are marked duplicate now, and its clips of them are
    deleted and moved to ``retracted`` as failed rows (recorded rows are
    superseded, never left pointing at a removed file).
    """
    root = data_root()
    changed_results = []
    for res in results:
        changed = [
            r
            for r in res.shot_rows
            if final.get(r["shot_id"], r["duplicate_of"]) != r["duplicate_of"]
        ]
        if not changed:
            continue
        for r in changed:
            r["duplicate_of"] = final[r["shot_id"]]
        keep = select_shots(res.shot_rows, job.shot_filter)
        res.shots_selected = len(keep)
        for r in res.sample_rows:
            if _shot_of(r) not in keep:
                if r["path"]:
                    (root / r["path"]).unlink(missing_ok=True)
                error = "retracted: its shot repeats a shot of an earlier video"
                res.retracted.append(r | {"status": "failed", "error": error, "path": None})
        res.sample_rows = [r for r in res.sample_rows if _shot_of(r) in keep]
        changed_results.append(res)
    return changed_results


def _shot_of(sample_row: dict) -> str | None:
    import json

    return json.loads(sample_row["params_json"]).get("shot_id")


def run_sources(
    specs: list[SourceSpec],
    job: VideoJob,
    done: frozenset[str],
    ray_address: str | None = None,
    num_cpus: int | None = None,
    on_result=None,
    on_idle=None,
    known: list[tuple[str, list[int]]] = (),
    on_settle=None,
    should_stop=None,
    recorded: dict[tuple[str, str], RecordedSource] | None = None,
) -> list[SourceResult]:
    """``process_source`` for every spec on Ray (one task per video), in input order.

    ``recorded`` (``recorded_remote``): remote videos already built; their results
    are the recorded rows, with their samples as skipped, and nothing is fetched.

    ``should_stop()`` is asked on every wait: once it says yes, the videos not yet
    finished are cancelled and left out of the results (a stopped build returns what
    finished; the rerun does the rest).

    ``on_result(n, total, result)`` as each video finishes; ``on_idle()`` at least every
    half second while waiting (what the caller does with time, e.g. flush recorded rows).
    With curation, one ``ShotIndexActor`` (seeded with ``known`` shots) marks
    duplicates across all videos of the build; the earlier video in ``specs``
    keeps a look, whichever finishes first: ``settle_duplicates`` corrects the
    videos that finished too early, and ``on_settle(result)`` gets each of them.
    """
    recorded = recorded or {}
    # remote videos already built: answered here, fetched by no worker, recorded again by no one
    ahead = {
        k: SourceResult(recorded[spec.key].source_row, [], list(recorded[spec.key].sample_ids))
        for k, spec in enumerate(specs)
        if spec.url is not None and spec.error is None and spec.key in recorded
    }
    if len(ahead) == len(specs):
        return [ahead[k] for k in range(len(specs))]
    import ray

    from fourreal.core.raycluster import ensure_ray

    ensure_ray(ray_address, num_cpus)
    rearm_stop_signals()  # Ray's driver replaces the SIGTERM handler under Python's
    remote = ray.remote(num_cpus=1, max_retries=1)(process_source)
    job_ref, done_ref = ray.put(job), ray.put(done)
    actor = None
    if job.curation is not None:
        max_bits = CurationParams(**job.curation).dedup_bits
        actor = ray.remote(num_cpus=0)(ShotIndexActor).remote(max_bits, known)
    pending = {
        remote.remote(spec, job_ref, done_ref, actor and RemoteShotIndex(actor, k)): k
        for k, spec in enumerate(specs)
        if k not in ahead
    }
    results: list[SourceResult | None] = [ahead.get(k) for k in range(len(specs))]
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
        if on_idle is not None:
            on_idle()
        for ref in ready:
            k = pending.pop(ref)
            try:
                results[k] = ray.get(ref)
            except Exception as e:  # a worker died (e.g. a decoder crash): record it
                spec = specs[k]
                row = _source_row(
                    spec,
                    None,
                    None,
                    None,
                    f"worker failed: {type(e).__name__}: {str(e)[:300]}",
                    job.run_id,
                )
                results[k] = SourceResult(row, [], [])
            if on_result is not None:
                on_result(len(specs) - len(pending), len(specs), results[k])
        if pending and should_stop is not None and should_stop():
            for ref in pending:
                ray.cancel(ref, force=True)  # queued ones never start, running ones end now
            break
    finished = [r for r in results if r is not None]
    if actor is not None and any(r.shot_rows for r in finished):  # else nothing to settle
        final = ray.get(actor.final.remote())
        for res in settle_duplicates(finished, final, job):
            if on_settle is not None:
                on_settle(res)
    return finished


def result_rows(res: SourceResult) -> dict[str, list[dict]]:
    """Catalog rows of one video's result (for ``tasks.recording.StreamRecorder``)."""
    return {
        "sources": [res.source_row],
        "shots": res.shot_rows,
        "samples": res.sample_rows + res.retracted,
    }


def contact_sheet(
    sample_paths: list[str | Path], out: Path, tile_width: int = 128, max_samples: int = 4
) -> Path | None:
    """A PNG of up to ``max_samples`` samples (``fourreal.core.sheets``); None if none."""
    from fourreal.core.sheets import write_contact_sheet

    shown = list(sample_paths[:max_samples])
    return write_contact_sheet(shown, out, max_side=tile_width) if shown else None


def first_per_key(rows: list[dict], key: str) -> list[dict]:
    """``rows`` without the later ones whose ``key`` repeats an earlier row's."""
    seen: set = set()
    out = []
    for r in rows:
        if r[key] not in seen:
            seen.add(r[key])
            out.append(r)
    return out


def summarize(results: list[SourceResult], run_id: str | None) -> dict:
    """Counts, ids and failure reasons of one build (the flow's return value)."""
    ok = first_per_key(
        [r for res in results for r in res.sample_rows if r["status"] == "ok"], "sample_id"
    )
    failed = [r for res in results for r in res.sample_rows if r["status"] != "ok"]
    bad_sources = [res.source_row for res in results if res.source_row["status"] != "ok"]
    shots = first_per_key([r for res in results for r in res.shot_rows], "shot_id")
    sources = [res.source_row for res in results]
    return {
        "run_id": run_id,
        "sources": len(results),
        "sources_failed": len(bad_sources),
        "shots": len(shots),
        "shots_selected": sum(res.shots_selected for res in results),
        "shots_too_short": sum(res.shots_too_short for res in results),
        "shots_duplicate": sum(r["duplicate_of"] is not None for r in shots),
        "sources_same_bytes": len(results) - len(first_per_key(sources, "source_id")),
        # remote videos downloaded by this run (a rebuild skips those already built)
        "sources_fetched": sum(res.fetched_bytes is not None for res in results),
        "fetched_bytes": sum(res.fetched_bytes or 0 for res in results),
        "shot_modes": {m: sum(r["mode"] == m for r in shots) for m in MODES_MINED},
        "samples_written": len(ok),
        "samples_skipped": sum(len(res.skipped) for res in results),
        "samples_failed": len(failed),
        # every input that failed: a video refused before it made a sample row counts
        # once, a clip that failed counts once (never both: a refused video has no clips)
        "failed": len(bad_sources) + len(failed),
        "sample_ids": [r["sample_id"] for r in ok],
        "skipped_ids": [s for res in results for s in res.skipped],
        "failures": [{"uri": r["uri"], "error": r["error"]} for r in bad_sources]
        + [{"sample_id": r["sample_id"], "error": r["error"]} for r in failed],
    }


def source_table(results: list[SourceResult]) -> list[dict]:
    """One row per video for the summary table artifact."""
    out = []
    for res in results:
        rows = res.sample_rows
        out.append(
            {
                "uri": res.source_row["uri"],
                "status": res.source_row["status"],
                "written": sum(r["status"] == "ok" for r in rows),
                "skipped": len(res.skipped),
                "failed": sum(r["status"] != "ok" for r in rows),
                "shots": len(res.shot_rows),
                "shots_selected": res.shots_selected,
                "shots_too_short": res.shots_too_short,
                "error": res.source_row["error"]
                or next((r["error"] for r in rows if r["error"]), ""),
            }
        )
    return out
