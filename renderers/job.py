"""One object -> one grid file: load, pose, frame, render, filter, write.

:func:`render_object` is the work; :func:`render_job` wraps it for a worker
(Ray actor, CLI, benchmark): it writes the sample itself through the sample
store (core.sample_store: rgb as video, compressed alpha and depth, one
file, atomically, local or S3) and returns a small JSON-able result dict
whatever happens (status, error, stored bytes...). A job whose ``out`` ends
in ``.npz`` gets a plain npz instead (the ``fourreal render-object`` CLI).

Grid arrays (the export contract, ``fourreal sample export`` writes them as npz)::

    rgb    uint8   [V, T, H, W, 3]
    alpha  uint8   [V, T, H, W]      255 where the object covers the pixel
    depth  float32 [V, T, H, W]      camera z in glTF scene units, 0 on background
                                     (stored as float16 by default: 0.05 % relative)
    K      float64 [V, 3, 3]         OpenCV intrinsics in pixels
    w2c    float64 [V, 4, 4]         glTF world -> OpenCV camera (x right, y down, z fwd)
    times  float64 [T]               animation time of each t, in seconds
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import sample_store
from core.io import save_npz_atomic, sha256_file
from renderers.camera import CameraArc, Cameras, arc_cameras, bounding_sphere
from renderers.errors import GltfError, RejectedObject
from renderers.filters import active_fraction, silhouette_motion
from renderers.gltf import AnimatedAsset, PosedPrimitive

EXPORT_KEYS = ("rgb", "alpha", "depth", "K", "w2c", "times")


@dataclass(frozen=True, kw_only=True)
class RenderSpec:
    """How to turn one object into a grid (everything that changes the pixels)."""

    views: int = 8
    times: int = 8
    height: int = 72
    width: int = 128
    arc: CameraArc = field(default_factory=CameraArc)
    animation: int | str | None = None
    """Animation index or name; None = the longest."""
    max_triangles: int | None = 500_000
    """Objects with more triangles fail (None = no cap)."""
    min_motion: float = 0.0
    """Drop objects whose silhouette motion (filters.silhouette_motion) is below this."""
    min_active_fraction: float = 0.0
    """Drop animations that stop moving before this fraction of the clip."""
    background: float = 1.0
    """Grey level of the background in rgb (alpha says where the object is)."""

    def __post_init__(self):
        for name in ("views", "times", "height", "width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.background <= 1.0:
            raise ValueError(f"background: {self.background} must be in [0, 1]")

    def params(self) -> dict:
        """JSON-able parameters (for sample ids and catalog rows)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_params(cls, params: dict) -> RenderSpec:
        p = dict(params)
        p["arc"] = CameraArc(**p.get("arc", {}))
        return cls(**p)


@dataclass
class Grid:
    rgb: np.ndarray
    alpha: np.ndarray
    depth: np.ndarray
    K: np.ndarray
    w2c: np.ndarray
    times: np.ndarray
    meta: dict

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in EXPORT_KEYS}


@dataclass
class PosedClip:
    """An asset posed at the T grid times, framed by the V cameras."""

    asset: AnimatedAsset
    times: np.ndarray
    poses: list[list[PosedPrimitive]]
    cameras: Cameras
    meta: dict


def pose_object(path: str | Path, spec: RenderSpec) -> PosedClip:
    """Load, pose at T times and place the cameras (everything but pixels)."""
    asset = AnimatedAsset.load(path, max_triangles=spec.max_triangles)
    clip = asset.clip(spec.animation)
    times = clip.sample_times(spec.times) if clip else np.zeros(spec.times)
    poses = [asset.pose(float(t), clip) for t in times]
    points = np.concatenate([p.positions for pose in poses for p in pose])
    if not np.all(np.isfinite(points)):
        raise GltfError("posed vertices contain NaN/inf (bad transforms or skin)")
    center, radius = bounding_sphere(points)
    if spec.min_active_fraction > 0:
        if clip is None:
            raise RejectedObject("filtered: the object has no animation")

        def positions_at(t: float) -> np.ndarray:
            return np.concatenate([p.positions for p in asset.pose(t, clip)])

        frac = active_fraction(positions_at, clip.start, clip.end, radius)
        if frac < spec.min_active_fraction:
            raise RejectedObject(
                f"filtered: animation stops moving at {frac:.0%} of the clip "
                f"(min_active_fraction {spec.min_active_fraction})"
            )
    cameras = arc_cameras(center, radius, spec.views, spec.height, spec.width, spec.arc)
    meta = {
        "animations": len(asset.clips),
        "animation": None if clip is None else clip.name,
        "duration_s": None if clip is None else clip.duration,
        "triangles": asset.num_triangles,
        "center": center.tolist(),
        "radius": radius,
    }
    return PosedClip(asset=asset, times=times, poses=poses, cameras=cameras, meta=meta)


def render_object(path: str | Path, spec: RenderSpec, renderer, gl_lock=None) -> Grid:
    """Render one object to a grid with ``renderer`` (a renderers.render.GridRenderer).

    ``gl_lock`` (a lock shared by threads that share ``renderer``) guards only the
    OpenGL part: loading and posing run outside it.
    """
    t0 = time.perf_counter()
    posed = pose_object(path, spec)
    t1 = time.perf_counter()
    with gl_lock or contextlib.nullcontext():
        t1 = time.perf_counter()
        frames = renderer.render(
            posed.poses, posed.cameras, spec.height, spec.width, background=spec.background
        )
    t2 = time.perf_counter()
    motion = silhouette_motion(frames.alpha)
    if spec.min_motion > 0 and motion < spec.min_motion:
        raise RejectedObject(
            f"filtered: silhouette motion {motion:.4f} below min_motion {spec.min_motion}"
        )
    meta = dict(posed.meta, motion=motion, pose_s=t1 - t0, render_s=t2 - t1)
    return Grid(
        rgb=frames.rgb,
        alpha=frames.alpha,
        depth=frames.depth,
        K=posed.cameras.K,
        w2c=posed.cameras.w2c,
        times=posed.times.astype(np.float64),
        meta=meta,
    )


def render_job(job: dict, renderer, gl_lock=None) -> dict:
    """Render ``job['path']`` with ``RenderSpec.from_params(job['spec'])`` into ``job['out']``.

    Never raises for a bad object: returns ``{"status": "failed", "error": ...}``.
    """
    start = time.perf_counter()
    result = {
        "key": job.get("key"),
        "out": job["out"],
        "status": "failed",
        "error": None,
        "sha256": None,
        "bytes": None,
        "meta": {},
    }
    try:
        spec = RenderSpec.from_params(job["spec"])
        grid = render_object(_local_input(job), spec, renderer, gl_lock)
        if str(job["out"]).endswith(sample_store.LEGACY_SUFFIX):
            save_npz_atomic(job["out"], **grid.arrays())
            digest, size = sha256_file(job["out"]), Path(job["out"]).stat().st_size
        else:
            stored = sample_store.write_rendered(
                job["out"],
                **grid.arrays(),
                quality=job.get("quality"),
                sample_id=job.get("sample_id"),
            )
            digest, size = stored.sha256, stored.bytes
        result.update(status="ok", sha256=digest, bytes=size, meta=grid.meta)
    except (GltfError, RejectedObject) as e:
        result["error"] = str(e)
    except Exception as e:  # any other failure of one object must not stop the build
        result["error"] = f"{type(e).__name__}: {e}"
        result["traceback"] = traceback.format_exc(limit=8)
    result["seconds"] = time.perf_counter() - start
    return result


def _local_input(job: dict) -> str:
    """The object's file here: ``job['path']``, or for a hub object fetched on another node,
    the hub client's copy on this one (its cache, else a download)."""
    path = job["path"]
    hub = job.get("hub")
    if hub is None or (path and Path(path).is_file()):
        return path
    from core.hub import HubConfig, HubFile, hub_file

    ref = HubFile(**{k: v for k, v in hub.items() if k != "config"})
    return str(hub_file(ref, HubConfig(**hub["config"])))


def load_grid(path: str | Path) -> dict[str, np.ndarray]:
    """Read a rendered grid back (the keys of the export contract), any stored format."""
    with sample_store.open_sample(path, whole=True) as s:
        if s.kind != sample_store.RENDERED:
            raise ValueError(f"{path}: not a rendered grid ({s.kind})")
        return s.export()
