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
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from catalog.ids import canonical_json, sample_id
from fourreal.core.grid import MODES
from fourreal.core.io import save_npz_atomic, sha256_bytes, sha256_file
from fourreal.core.paths import data_root, relative_to_root
from tasks.videos.clips import ClipError, decode_clip, plan_clips
from tasks.videos.decode import VideoError, VideoMeta, probe_video
from tasks.videos.pseudo4d import AffineBounds, pseudo4d_grid

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".y4m", ".mpg", ".mpeg", ".ts", ".flv"}
)
MANIFEST_SUFFIXES = frozenset({".csv", ".parquet"})
RECIPES = {"grid_pseudo4d": "pseudo4d_affine", "clip": "clip"}


@dataclass(frozen=True)
class SourceSpec:
    """One input video as listed by a folder, a glob or a manifest row."""

    path: str  # absolute
    mode: str | None = None  # dynamic | freeze_time (manifest), None: the build's default
    caption: str | None = None
    license: str | None = None
    error: str | None = None  # a manifest row that is unusable before probing

    @property
    def uri(self) -> str:
        return relative_to_root(self.path)


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
    run_id: str | None = None

    @property
    def recipe(self) -> str:
        return RECIPES[self.kind]

    def sample_params(self, clip_index: int, mode: str | None) -> dict:
        """The parameters hashed into a sample id."""
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
        return p


@dataclass
class SourceResult:
    source_row: dict
    sample_rows: list[dict]
    skipped: list[str]  # sample ids already ok with their file present


# ---- discovery -----------------------------------------------------------------


def discover_sources(source: str) -> list[SourceSpec]:
    """Videos named by ``source``: a folder, a glob, or a CSV/Parquet manifest.

    A folder lists its files with a video suffix (recursively); a manifest
    has a ``path`` column (relative paths are relative to the manifest) and
    optional ``mode``, ``caption`` and ``license`` (or ``licence``) columns.
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


def _read_manifest(path: Path) -> list[SourceSpec]:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if path.suffix.lower() == ".csv":
        table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(strings_can_be_null=True))
    else:
        table = pq.read_table(path)
    if "path" not in table.column_names:
        raise ValueError(
            f"source: manifest {path} has no 'path' column (columns: {table.column_names})"
        )
    specs = []
    for row in table.to_pylist():
        raw = row.get("path")
        lic = row.get("license", row.get("licence"))
        mode = row.get("mode") or None
        caption = row.get("caption")
        if not raw:
            specs.append(SourceSpec(str(path), error="manifest row without a path"))
            continue
        f = Path(str(raw)).expanduser()
        f = (f if f.is_absolute() else path.parent / f).resolve()
        error = None
        if mode is not None and mode not in MODES:
            error = f"manifest mode {mode!r} is not one of {MODES}"
        specs.append(
            SourceSpec(
                str(f),
                mode=mode,
                caption=caption,
                license=None if lic is None else str(lic),
                error=error,
            )
        )
    return specs


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
) -> dict:
    info = dict(meta or {})
    if spec.caption is not None:
        info["caption"] = spec.caption
    if spec.mode is not None:
        info["mode"] = spec.mode
    return {
        "source_id": sha or sha256_bytes(spec.uri.encode()),
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
    path: Path | None,
    sha: str | None,
    error: str | None,
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
        "status": "failed" if error else "ok",
        "error": error,
        "run_id": job.run_id,
    }


def process_source(
    spec: SourceSpec, job: VideoJob, done: frozenset[str] = frozenset()
) -> SourceResult:
    """Probe one video and write its samples; a bad video becomes failed rows, never raises."""
    path = Path(spec.path)
    readable = path.is_file()
    sha = sha256_file(path) if readable else None
    size = path.stat().st_size if readable else None
    if spec.error is not None:
        return SourceResult(_source_row(spec, sha, size, None, spec.error, job.run_id), [], [])
    try:
        meta = probe_video(path, job.max_pixels, job.min_side, job.vfr_tolerance)
    except VideoError as e:
        return SourceResult(_source_row(spec, sha, size, None, str(e), job.run_id), [], [])
    source = _source_row(spec, sha, size, meta.to_json(), None, job.run_id)
    mode = spec.mode or job.default_mode
    try:
        plans = plan_clips(
            meta.frames, meta.fps, job.times, job.fps, job.stride, job.clips_per_video
        )
    except ClipError as e:
        params = job.sample_params(0, mode)
        sid = sample_id(sha, job.recipe, job.recipe_version, params)
        row = _sample_row(job, sid, sha, params, {}, mode, job.times, None, None, str(e))
        return SourceResult(source, [row], [])

    todo, skipped = [], []
    for plan in plans:
        params = job.sample_params(plan.clip_index, mode)
        sid = sample_id(sha, job.recipe, job.recipe_version, params)
        (skipped if sid in done else todo).append((plan, params, sid))
    rows: list[dict] = []
    if todo:
        rows = _make_samples(path, meta, sha, mode, spec, job, todo)
    return SourceResult(source, rows, [sid for _, _, sid in skipped])


def _make_samples(
    path: Path, meta: VideoMeta, sha: str, mode: str, spec: SourceSpec, job: VideoJob, todo: list
) -> list[dict]:
    """Decode every needed frame once (scaled and cropped), then warp and write each clip."""
    wanted = sorted({i for plan, _, _ in todo for i in plan.frame_indices})
    try:
        decoded = decode_clip(path, wanted, meta, job.height, job.width)
    except VideoError as e:
        return [
            _sample_row(job, sid, sha, params, {}, mode, job.times, None, None, str(e))
            for _, params, sid in todo
        ]
    where = {idx: k for k, idx in enumerate(wanted)}
    out_dir = Path(job.out_dir)
    rows = []
    for plan, params, sid in todo:
        indices = np.asarray(plan.frame_indices, np.int64)
        frames = decoded[[where[i] for i in plan.frame_indices]]
        derived = {"frame_indices": indices.tolist(), "clip_fps": plan.fps(meta.fps)}
        final = out_dir / sid[:2] / f"{sid}.npz"
        if job.kind == "grid_pseudo4d":
            grid, cam = pseudo4d_grid(
                frames,
                job.views,
                AffineBounds(**job.bounds),
                clip_rng(job.seed, sha, plan.clip_index),
                job.warp_backend,
            )
            derived["camera"] = cam.to_json()
            save_npz_atomic(
                final,
                grid=grid,
                frames=frames,
                affine=cam.affine.astype(np.float64),
                frame_indices=indices,
            )
        else:
            save_npz_atomic(
                final,
                frames=frames,
                frame_indices=indices,
                fps=np.float64(plan.fps(meta.fps)),
                mode=np.str_(mode),
            )
            if spec.caption is not None:
                derived["caption"] = spec.caption
        rows.append(
            _sample_row(
                job, sid, sha, params, derived, mode, job.times, final, sha256_file(final), None
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
    same seed, bounds and ``clips_per_video=1``. Raises ``VideoError`` /
    ``ClipError`` for an unusable video.
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
    root = data_root()
    rows = catalog.rows(SQL_DONE, [job.kind, job.recipe, job.recipe_version])
    return frozenset(r["sample_id"] for r in rows if r["path"] and (root / r["path"]).is_file())


def run_sources(
    specs: list[SourceSpec],
    job: VideoJob,
    done: frozenset[str],
    ray_address: str | None = None,
    num_cpus: int | None = None,
    on_result=None,
    on_idle=None,
) -> list[SourceResult]:
    """``process_source`` for every spec on Ray (one task per video), in input order.

    ``on_result(n, total, result)`` as each video finishes; ``on_idle()`` at least every
    half second while waiting (what the caller does with time, e.g. flush recorded rows).
    """
    import ray

    from fourreal.core.raycluster import ensure_ray

    ensure_ray(ray_address, num_cpus)
    remote = ray.remote(num_cpus=1, max_retries=1)(process_source)
    job_ref, done_ref = ray.put(job), ray.put(done)
    pending = {remote.remote(spec, job_ref, done_ref): k for k, spec in enumerate(specs)}
    results: list[SourceResult | None] = [None] * len(specs)
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
    return results  # type: ignore[return-value]


def result_rows(res: SourceResult) -> dict[str, list[dict]]:
    """Catalog rows of one video's result (for ``tasks.recording.StreamRecorder``)."""
    return {"sources": [res.source_row], "samples": res.sample_rows}


def contact_sheet(
    sample_paths: list[Path], out: Path, tile_width: int = 128, max_samples: int = 4
) -> Path | None:
    """A PNG of up to ``max_samples`` samples: each grid as V rows x T columns, each clip a row."""
    from PIL import Image

    from fourreal.core.io import atomic_path

    blocks = []
    for p in sample_paths[:max_samples]:
        with np.load(p) as data:
            arr = data["grid"] if "grid" in data.files else data["frames"][None]
        v, t, h, w, _ = arr.shape
        mosaic = arr.transpose(0, 2, 1, 3, 4).reshape(v * h, t * w, 3)  # (V*H, T*W, 3)
        scale = min(1.0, tile_width / w)
        img = Image.fromarray(mosaic)
        if scale < 1.0:
            img = img.resize(
                (max(1, round(t * w * scale)), max(1, round(v * h * scale))), Image.BILINEAR
            )
        blocks.append(img)
    if not blocks:
        return None
    gap = 4
    sheet = Image.new(
        "RGB",
        (max(b.width for b in blocks), sum(b.height for b in blocks) + gap * (len(blocks) - 1)),
        (255, 255, 255),
    )
    y = 0
    for b in blocks:
        sheet.paste(b, (0, y))
        y += b.height + gap
    with atomic_path(out, suffix=".png") as tmp:
        sheet.save(tmp, format="PNG")
    return out


def summarize(results: list[SourceResult], run_id: str | None) -> dict:
    """Counts, ids and failure reasons of one build (the flow's return value)."""
    ok = [r for res in results for r in res.sample_rows if r["status"] == "ok"]
    failed = [r for res in results for r in res.sample_rows if r["status"] != "ok"]
    bad_sources = [res.source_row for res in results if res.source_row["status"] != "ok"]
    return {
        "run_id": run_id,
        "sources": len(results),
        "sources_failed": len(bad_sources),
        "samples_written": len(ok),
        "samples_skipped": sum(len(res.skipped) for res in results),
        "samples_failed": len(failed),
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
                "error": res.source_row["error"]
                or next((r["error"] for r in rows if r["error"]), ""),
            }
        )
    return out
