"""Objaverse from the Hugging Face hub (``allenai/objaverse``), through ``core.hub``.

The dataset repository holds ``object-paths.json.gz`` (uid -> ``glbs/<shard>/<uid>.glb``),
``metadata/<shard>.json.gz`` (the annotations of one shard) and the GLBs. The
driver reads the paths and the annotations of the shards it needs (the
selection, ``renderers.sources.select_objaverse``, is unchanged); the objects
themselves are fetched on Ray workers, one task each (:func:`fetch_objects`),
which also hash them: a failed object is a failed source row with its reason.
A render worker on another node fetches its object again from the hub or its
own cache (``renderers.job``: the job names the hub file).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from core.hub import HubConfig, HubFile, HubUnavailable, hub_file

REPO_ID = "allenai/objaverse"
PATHS_FILE = "object-paths.json.gz"


def _json_gz(path: Path):
    try:
        with gzip.open(path, "rt") as f:
            return json.load(f)
    except (OSError, EOFError, json.JSONDecodeError) as e:
        raise HubUnavailable(f"{path.name}: not gzipped JSON ({type(e).__name__}: {e})") from None


def object_paths(cfg: HubConfig) -> dict[str, str]:
    """uid -> the GLB's path in the repository."""
    return _json_gz(hub_file(HubFile(REPO_ID, PATHS_FILE), cfg))


def shard_of(path: str) -> str:
    """``glbs/000-023/<uid>.glb`` -> ``000-023``."""
    return path.split("/")[-2]


def annotations(uids, paths: dict[str, str], cfg: HubConfig) -> dict[str, dict]:
    """``{uid: metadata}`` of ``uids`` (None: every object, all shards)."""
    wanted = set(paths) if uids is None else {u for u in uids if u in paths}
    shards = sorted({shard_of(paths[u]) for u in wanted})
    out: dict[str, dict] = {}
    for shard in shards:
        rows = _json_gz(hub_file(HubFile(REPO_ID, f"metadata/{shard}.json.gz"), cfg))
        out.update({u: r for u, r in rows.items() if u in wanted})
    return out


def fetch_object(ref: HubFile, cfg: HubConfig) -> dict:
    """On a worker: the object's local path, sha256 and size, or the reason it failed."""
    from core.io import sha256_file

    try:
        path = hub_file(ref, cfg)
        return {"path": str(path), "sha256": sha256_file(path), "bytes": path.stat().st_size}
    except (HubUnavailable, OSError) as e:
        return {"path": None, "error": f"objaverse: {e}"}


def fetch_objects(
    refs: list[HubFile], cfg: HubConfig, ray_address: str | None = None
) -> list[dict]:
    """:func:`fetch_object` for every ref on Ray (one task each), in order."""
    if not refs:
        return []
    import ray

    from core.raycluster import ensure_ray

    ensure_ray(ray_address)
    task = ray.remote(num_cpus=0.25, max_retries=1)(fetch_object)
    cfg_ref = ray.put(cfg)
    futures = [task.remote(ref, cfg_ref) for ref in refs]
    out = []
    for future in futures:
        try:
            out.append(ray.get(future))
        except Exception as e:  # a worker died: that object failed, the others go on
            out.append({"path": None, "error": f"objaverse: worker failed: {type(e).__name__}"})
    return out
