"""Animated glTF objects -> V x T grids: the work of ``build_objaverse_grids``.

Plain functions do the work (testable without Prefect); the ``*_task``
wrappers at the bottom are what the flow calls. Rendering runs on Ray
actors (renderers.pool); catalog rows are written here, from the driver.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from catalog.ids import sample_id as make_sample_id
from catalog.store import Catalog
from core import fs
from core.hashcache import sha256_files
from core.paths import data_root, relative_to_root, store_location
from core.sample_store import sample_path
from renderers.job import RenderSpec
from renderers.sources import Selection, local_sources, select_objaverse
from tasks.objects.animations import animations_to_render
from tasks.recording import rearm_stop_signals

RECIPE = "render_gltf"
SAMPLE_KIND = "grid_objaverse"
OK, FAILED = "ok", "failed"

COMPLETED_SQL = """
SELECT sample_id, path FROM samples
WHERE kind = ? AND recipe = ? AND status = 'ok'
"""


@dataclass
class SourceItem:
    """One object to render, before or after hashing."""

    kind: str  # glb | gltf | objaverse
    uri: str  # path as stored (relative to the data root when inside it) or objaverse uid
    path: str | None  # local file to read; None when it could not be fetched
    license: str | None = None
    meta: dict = field(default_factory=dict)
    sha256: str | None = None
    bytes: int | None = None
    error: str | None = None
    hub: dict | None = None  # HubFile fields + "config" (HubConfig): a render worker refetches

    @property
    def source_id(self) -> str:
        from core.io import sha256_bytes

        return self.sha256 or sha256_bytes(f"{self.kind}:{self.uri}".encode())


@dataclass(frozen=True, kw_only=True)
class BuildConfig:
    """Per-build settings the tasks need (derived from the flow's parameters)."""

    spec: RenderSpec
    recipe_version: str
    out_dir: str  # absolute, under the data root
    seed: int = 0
    azimuth_jitter_deg: float = 0.0
    quality: dict | None = None  # core.sample_store.Quality fields; None = the default
    # --animation all: one sample per animation (the first ``max_animations``); the
    # spec's own ``animation`` is then unused
    all_animations: bool = False
    max_animations: int = 6


# ---- sources ----------------------------------------------------------------
def discover_sources(
    source: str,
    selection: Selection | None = None,
    objaverse_cache: str | None = None,
    ray_address: str | None = None,
) -> list[SourceItem]:
    """Local files of a folder/glob, or the selected Objaverse objects (fetched on Ray workers).

    Objaverse comes from the Hugging Face hub (``tasks.objects.objaverse``;
    ``HF_ENDPOINT``, ``HF_TOKEN``, ``HF_HUB_OFFLINE`` apply; ``objaverse_cache``
    is the hub cache folder, default the hub client's own).
    """
    if source == "objaverse":
        return _objaverse_items(selection or Selection(), objaverse_cache, ray_address)
    files = local_sources(source)
    if not files:
        raise ValueError(f"source: no .glb/.gltf files match {source!r}")
    root = data_root()  # resolved once for all files (local_sources resolved them)
    return [
        SourceItem(
            kind=f.suffix.lower().lstrip("."),
            uri=relative_to_root(f, root, resolved=True),
            path=str(f),
        )
        for f in files
    ]


def _objaverse_items(
    selection: Selection, cache_dir: str | None, ray_address: str | None
) -> list[SourceItem]:
    """The selected objects, fetched and hashed on the workers; failures carry their reason."""
    from dataclasses import asdict

    from core.hub import HubConfig, HubFile
    from tasks.objects.objaverse import REPO_ID, annotations, fetch_objects, object_paths

    cfg = HubConfig.from_env(cache_dir)
    paths = object_paths(cfg)
    rows = annotations(selection.uids, paths, cfg)
    uids = select_objaverse(rows, selection)
    refs = [HubFile(REPO_ID, paths[uid]) for uid in uids]
    items = []
    for uid, ref, got in zip(uids, refs, fetch_objects(refs, cfg, ray_address), strict=True):
        lic = rows[uid].get("license")
        items.append(
            SourceItem(
                kind="objaverse",
                uri=uid,
                path=got["path"],
                license=None if lic is None else str(lic),
                meta={k: rows[uid].get(k) for k in ("name", "animationCount", "faceCount")},
                sha256=got.get("sha256"),
                bytes=got.get("bytes"),
                error=got.get("error"),
                hub=asdict(ref) | {"config": asdict(cfg)},
            )
        )
    unknown = sorted(set(selection.uids or ()) - set(paths))
    return items + [
        SourceItem(kind="objaverse", uri=uid, path=None, error=f"objaverse: no uid {uid}")
        for uid in unknown
    ]


def hash_sources(items: Sequence[SourceItem]) -> list[SourceItem]:
    """Content hash and size of each readable source (unreadable ones get ``error``).

    Hashes come through ``core.hashcache``: an unchanged file is not read again.
    A source hashed where it was fetched (an Objaverse object) is not hashed again.
    """
    todo = [
        item for item in items if item.path is not None and not item.error and item.sha256 is None
    ]
    for item, digest in zip(todo, sha256_files([i.path for i in todo]), strict=True):
        try:
            if isinstance(digest, OSError):
                raise digest
            item.bytes = os.stat(item.path).st_size
            item.sha256 = digest
        except OSError as e:
            item.error = f"cannot read source: {e}"
    return items


# ---- planning -----------------------------------------------------------------
def object_spec(cfg: BuildConfig, item: SourceItem) -> RenderSpec:
    """The spec for one object: the build's, with a seeded per-object azimuth offset."""
    if cfg.azimuth_jitter_deg <= 0:
        return cfg.spec
    return RenderSpec.from_params(object_params(cfg, item))


def object_params(cfg: BuildConfig, item: SourceItem, base: dict | None = None) -> dict:
    """``object_spec(cfg, item).params()`` without building a spec per object.

    ``base``: ``cfg.spec.params()``, computed once by a caller planning many objects
    (``dataclasses.asdict`` per object was a third of a no-op rebuild's planning).
    """
    base = cfg.spec.params() if base is None else base
    if cfg.azimuth_jitter_deg <= 0:
        return dict(base)
    digest = int((item.sha256 or "0")[:16], 16)
    rng = np.random.default_rng([cfg.seed, digest])
    offset = float(rng.uniform(-cfg.azimuth_jitter_deg, cfg.azimuth_jitter_deg))
    azimuth = round(cfg.spec.arc.azimuth_deg + offset, 6)
    return dict(base, arc=dict(base["arc"], azimuth_deg=azimuth))


def plan_jobs(
    items: Sequence[SourceItem], cfg: BuildConfig, catalog: Catalog
) -> tuple[list[dict], list[dict]]:
    """Render jobs for readable sources whose sample is not already done; and the skipped."""
    done = {r["sample_id"]: r["path"] for r in catalog.rows(COMPLETED_SQL, [SAMPLE_KIND, RECIPE])}
    out_dir = store_location(cfg.out_dir)  # S3 home: root-relative
    base = cfg.spec.params()
    planned = []
    for i, item in enumerate(items):
        if item.sha256 is None:
            continue
        for key, params, extra in _object_jobs(cfg, item, i, object_params(cfg, item, base)):
            # stored pixels differ with the quality: a different sample (the default keeps ids)
            hashed = params if cfg.quality is None else dict(params, quality=cfg.quality)
            sid = make_sample_id(item.sha256, RECIPE, cfg.recipe_version, hashed)
            planned.append((key, i, item, params, sid, extra))
    # one listing of the output folder, not one existence check per recorded sample
    present = fs.existing([done[p[4]] for p in planned if done.get(p[4])], out_dir)
    jobs, skipped = [], []
    for key, i, item, params, sid, extra in planned:
        if done.get(sid) in present:
            skipped.append({"sample_id": sid, "source": item.uri, "path": done[sid], **extra})
            continue
        jobs.append(
            {
                "key": key,
                "item": i,
                "path": item.path,
                "out": sample_path(out_dir, sid),
                "spec": params,
                "sample_id": sid,
                "quality": cfg.quality,
                **extra,
                **({"hub": item.hub} if item.hub else {}),
            }
        )
    return jobs, skipped


def _object_jobs(cfg: BuildConfig, item: SourceItem, i: int, params: dict) -> list:
    """``(job key, spec params, extra job fields)`` of one object: one job, or one per animation.

    One job keeps the key ``i`` (the object's place), so single-animation builds
    plan exactly what they did; with ``all_animations`` animation ``k`` is keyed
    ``"i:k"`` and its spec names the animation by index (a sample of its own).
    """
    if not cfg.all_animations:
        return [(i, params, {})]
    found = animations_to_render(item.path, cfg.max_animations)
    if not found:  # no animation, or unreadable: one job; its render says why
        return [(i, params, {})]
    return [
        (f"{i}:{k}", dict(params, animation=k), {"animation": {"index": k, "name": name}})
        for k, name in found
    ]


# ---- rendering ----------------------------------------------------------------
def largest_first(jobs: Sequence[dict]) -> list[dict]:
    """Jobs ordered by file size, largest first (big objects do not finish last alone)."""

    def size(job: dict) -> int:
        try:
            return Path(job["path"]).stat().st_size
        except OSError:
            return 0

    return sorted(jobs, key=size, reverse=True)


def render_jobs(
    jobs: Sequence[dict],
    ray_address: str | None = None,
    num_workers: int | None = None,
    timeout_s: float = 300.0,
    max_retries: int = 2,
    on_result: Callable[[dict], None] | None = None,
    on_idle: Callable[[], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[dict | None]:
    """Render on Ray actors (local Ray unless ``ray_address``); results by job order.

    A job that never finished (``should_stop()`` said yes first) has None.
    """
    if not jobs:
        return []
    from core.raycluster import ensure_ray
    from renderers.pool import run_jobs

    ray = ensure_ray(ray_address)
    rearm_stop_signals()  # Ray's driver replaces the SIGTERM handler under Python's
    workers = num_workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    results = run_jobs(
        largest_first(jobs),
        num_workers=min(workers, len(jobs)),
        timeout_s=timeout_s,
        max_retries=max_retries,
        on_result=on_result,
        on_idle=on_idle,
        should_stop=should_stop,
    )
    by_key = {r["key"]: r for r in results}
    return [by_key.get(j["key"]) for j in jobs]


# ---- catalog ------------------------------------------------------------------
def source_row(item: SourceItem, res: dict | None, run_id: str) -> dict:
    """The ``sources`` row of an object this run read (``res``: its render, if any)."""
    if item.sha256 is None:
        status, error = FAILED, item.error or "source could not be read"
    elif res is None or res["status"] == OK or (res["error"] or "").startswith("filtered:"):
        status, error = OK, None  # the source is sound even if a filter dropped it
    else:
        status, error = FAILED, res["error"]
    meta = dict(item.meta)
    if res is not None:
        keep = ("animations", "animation", "duration_s", "triangles")
        meta.update({k: v for k, v in res.get("meta", {}).items() if k in keep})
    return {
        "source_id": item.source_id,
        "kind": item.kind,
        "uri": item.uri,
        "sha256": item.sha256,
        "bytes": item.bytes,
        "license": item.license,
        "meta_json": json.dumps(meta, sort_keys=True, default=str),
        "status": status,
        "error": error,
        "run_id": run_id,
    }


def sample_row(item: SourceItem, job: dict, res: dict, cfg: BuildConfig, run_id: str) -> dict:
    """The ``samples`` row of one render (ok, filtered or failed)."""
    spec = job["spec"]
    ok = res["status"] == OK
    return {
        "sample_id": job["sample_id"],
        "kind": SAMPLE_KIND,
        "source_id": item.source_id,
        "recipe": RECIPE,
        "recipe_version": cfg.recipe_version,
        # what the id hashed: the spec, and the store quality when not the default
        "params_json": json.dumps(_catalog_params(job, res), sort_keys=True),
        "mode": None,
        "v": spec["views"],
        "t": spec["times"],
        "h": spec["height"],
        "w": spec["width"],
        "path": relative_to_root(res["out"]) if ok else None,
        "sha256": res["sha256"] if ok else None,
        "bytes": res.get("bytes") if ok else None,
        "status": OK if ok else FAILED,
        "error": None if ok else res["error"],
        "run_id": run_id,
    }


def _catalog_params(job: dict, res: dict) -> dict:
    """What the id hashed (the spec, and the store quality when not the default); for one of
    several animations also ``derived.animation``: its index, name and the object's count."""
    spec = job["spec"]
    params = spec if job.get("quality") is None else dict(spec, quality=job["quality"])
    if "animation" in job:
        count = (res.get("meta") or {}).get("animations")
        params = dict(params, derived={"animation": dict(job["animation"], count=count)})
    return params


def unreadable_rows(items: Sequence[SourceItem], run_id: str) -> list[dict]:
    """``sources`` rows of objects that could not even be read (nothing to render)."""
    return [source_row(item, None, run_id) for item in items if item.sha256 is None]


def result_rows(
    items: Sequence[SourceItem], jobs: Sequence[dict], cfg: BuildConfig, run_id: str
) -> Callable[[dict], dict[str, list[dict]]]:
    """Catalog rows of one render result (for ``tasks.recording.StreamRecorder``)."""
    job_by_key = {j["key"]: j for j in jobs}

    def rows(res: dict) -> dict[str, list[dict]]:
        job = job_by_key[res["key"]]
        item = items[job.get("item", job["key"])]
        return {
            "sources": [source_row(item, res, run_id)],
            "samples": [sample_row(item, job, res, cfg, run_id)],
        }

    return rows


def summary_table(items, jobs, results, skipped) -> list[dict]:
    """One row per render: source, status (ok | failed | skipped), sample id, error.

    An object whose render never finished (the build was stopped) has no row.
    """
    by_item: dict[int, list] = {}
    for j, r in zip(jobs, results, strict=True):
        if r is not None:
            by_item.setdefault(j.get("item", j["key"]), []).append((j, r))
    rows = []
    for i, item in enumerate(items):
        for job, res in by_item.get(i, []):
            rows.append(
                {
                    "source": item.uri,
                    "status": res["status"],
                    "sample_id": job["sample_id"][:16],
                    "error": res["error"] or "",
                }
            )
        if i not in by_item and item.sha256 is None:
            rows.append(
                {"source": item.uri, "status": FAILED, "sample_id": "", "error": item.error or ""}
            )
    rows += [
        {"source": s["source"], "status": "skipped", "sample_id": s["sample_id"][:16], "error": ""}
        for s in skipped
    ]
    return rows


# ---- Prefect tasks ----------------------------------------------------------------


def node_counts(results: Sequence[dict | None]) -> dict[str, int]:
    """Renders per Ray node (node id -> finished renders, ok or failed), largest first."""
    counts: dict[str, int] = {}
    for r in results:
        if r is not None and r.get("node_id"):
            counts[r["node_id"]] = counts.get(r["node_id"], 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
