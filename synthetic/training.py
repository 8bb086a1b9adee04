"""Small, real training data in the catalog, for tests, the bench and quick trials.

``write_training_data(catalog, ...)`` renders the synthetic scene of
``synthetic.videos.render_frame`` (moving textured shapes) into

* clips (``kind='clip'``, ``frames [F, H, W, 3]``): ``dynamic`` clips are
  consecutive frames; ``freeze_time`` clips are one frame seen through a
  sliding crop (a camera pan over a frozen world);
* pseudo-4D grids (``kind='grid_pseudo4d'``): a clip of the moving scene and
  ``V`` affine maps, a pan of ``PAN_FRACTION`` of the width from view to view, so
  ``grid[v, t]`` is frame ``t`` shifted (its invalid columns where the pan
  leaves the frame), warped on read as the builders' grids are;
* Objaverse-like grids (``kind='grid_objaverse'``, ``rgb [V, T, H, W, 3]``):
  frame ``t`` of another scene through pan crop ``v``, with an opaque alpha,
  a constant depth and pinhole cameras;

each one a sample file written by the sample store (core.sample_store: the
same format and code as the builders' samples) under the data root (a local
folder or an S3 bucket, core.fs), with a ``sources`` row, a ``samples`` row
(sha256, bytes, shape, status) and the ``runs`` row that made them, then one
snapshot per kind. The builders of renderers/ and tasks/ make the real data;
this is their shape, small.
"""

from __future__ import annotations

import json

import numpy as np

from catalog.datasets import create_dataset
from catalog.ids import sample_id
from catalog.runs import start_run
from catalog.store import Catalog
from core import sample_store
from core.io import sha256_bytes
from core.paths import data_root, relative_to_root, store_location
from synthetic.videos import render_frame

RECIPE_VERSION = "train-sample-2"  # 2: sample-store files (1 wrote plain npz)
PAN_FRACTION = 0.25  # of the width, from the first view to the last


def _view(frame: np.ndarray, v: int, views: int, h: int, w: int) -> np.ndarray:
    """Crop ``v`` of ``views`` sliding left to right over a frame (a pan), ``[h, w, 3]``."""
    H, W = frame.shape[:2]
    x0 = round(v * (W - w) / max(1, views - 1))
    y0 = (H - h) // 2
    return frame[y0 : y0 + h, x0 : x0 + w]


def moving_shapes_grid(seed: int, V: int, T: int, h: int, w: int) -> np.ndarray:
    """uint8 ``[V, T, h, w, 3]``: frame ``t`` of scene ``seed`` through pan crop ``v``."""
    big = [render_frame(t, h + h // 4, w + w // 2, seed=seed) for t in range(T)]
    return np.stack([np.stack([_view(big[t], v, V, h, w) for t in range(T)]) for v in range(V)])


def pan_affine(views: int, width: int) -> np.ndarray:
    """``[V, 2, 3]``: view ``v`` reads the frame ``v * PAN_FRACTION * width / (V - 1)``
    pixels to the right (core.warp's convention: output pixel -> source pixel)."""
    affine = np.zeros((views, 2, 3))
    affine[:, 0, 0] = affine[:, 1, 1] = 1.0
    affine[:, 0, 2] = np.linspace(0.0, PAN_FRACTION * width, views)
    return affine


def pinhole_cameras(views: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``K [V, 3, 3]`` and ``w2c [V, 4, 4]``: one focal length, cameras side by side."""
    K = np.tile(
        np.array([[width, 0, width / 2], [0, width, height / 2], [0, 0, 1.0]]), (views, 1, 1)
    )
    w2c = np.tile(np.eye(4), (views, 1, 1))
    w2c[:, 0, 3] = -np.linspace(0.0, 1.0, views)
    return K, w2c


def write_sample(kind: str, path: str, sid: str, arrays: dict) -> sample_store.Stored:
    """One sample file of ``kind`` through the store (the builders' format)."""
    if kind == "clip":
        frames = arrays["frames"]
        return sample_store.write_clip(path, frames=frames, frame_indices=np.arange(len(frames)),
                                       fps=24.0, mode=arrays["mode"], sample_id=sid)  # fmt: skip
    if kind == "grid_pseudo4d":
        frames = arrays["frames"]
        return sample_store.write_pseudo4d(path, frames=frames, affine=arrays["affine"], seed=None,
                                           frame_indices=np.arange(len(frames)), sample_id=sid)  # fmt: skip
    rgb = arrays["rgb"]
    V, T, H, W, _ = rgb.shape
    K, w2c = pinhole_cameras(V, H, W)
    return sample_store.write_rendered(
        path, rgb=rgb, alpha=np.full((V, T, H, W), 255, np.uint8),
        depth=np.full((V, T, H, W), 2.0, np.float32), K=K, w2c=w2c,
        times=np.arange(T) / 24.0, sample_id=sid,
    )  # fmt: skip


def write_training_data(
    catalog: Catalog,
    *,
    prefix: str = "train",
    clips: int = 4,
    grids: int = 3,
    frames: int = 8,
    V: int = 4,
    T: int = 4,
    height: int = 16,
    width: int = 32,
    seed: int = 0,
) -> dict[str, str]:
    """Write the samples and snapshots; returns ``{"clips", "pseudo4d", "objaverse"}`` -> dataset id."""
    root = store_location(data_root() / "samples" / prefix)  # S3 home: root-relative
    run = start_run(catalog, "sample_data", {"prefix": prefix, "seed": seed})
    sources, samples = [], []

    def add(kind: str, mode: str | None, arrays: dict, v: int, t: int, key: int) -> None:
        uri = f"synthetic://{prefix}/{kind}/{key}"
        src = sha256_bytes(uri.encode())
        meta = json.dumps({"seed": seed + key})
        source = {"source_id": src, "kind": "video", "uri": uri, "sha256": src, "status": "ok"}
        sources.append({**source, "run_id": run.run_id, "meta_json": meta})
        params = {"kind": kind, "mode": mode, "key": key, "V": v, "T": t, "h": height, "w": width}
        sid = sample_id(src, "train_sample_data", RECIPE_VERSION, params)
        path = sample_store.sample_path(f"{root}/{kind}", sid)
        stored = write_sample(kind, path, sid, arrays)
        recipe = {"recipe": "train_sample_data", "recipe_version": RECIPE_VERSION}
        shape = {"v": v, "t": t, "h": height, "w": width}
        file = {"path": relative_to_root(path), "sha256": stored.sha256, "bytes": stored.bytes}
        samples.append(
            {"sample_id": sid, "kind": kind, "source_id": src, "mode": mode, **recipe, **shape}
            | {"params_json": json.dumps(params), **file, "status": "ok", "run_id": run.run_id}
        )
        run.add_output("sample", sid)

    for i in range(clips):
        s = seed + 100 + i
        if i % 2 == 0:  # dynamic: the world moves, the camera stands
            clip = np.stack([render_frame(f, height, width, seed=s) for f in range(frames)])
            add("clip", "dynamic", {"frames": clip, "mode": "dynamic"}, 1, frames, i)
        else:  # freeze_time: one instant, the camera pans
            big = render_frame(3 * i, height + height // 4, width + width // 2, seed=s)
            clip = np.stack([_view(big, f, frames, height, width) for f in range(frames)])
            add("clip", "freeze_time", {"frames": clip, "mode": "freeze_time"}, 1, frames, i)
    for i in range(grids):
        clip = np.stack([render_frame(t, height, width, seed=seed + 200 + i) for t in range(T)])
        arrays = {"frames": clip, "affine": pan_affine(V, width)}
        add("grid_pseudo4d", None, arrays, V, T, 1000 + i)
        rgb = moving_shapes_grid(seed + 300 + i, V, T, height, width)
        add("grid_objaverse", None, {"rgb": rgb}, V, T, 2000 + i)
    with catalog.transaction():  # the rows and the run's completion commit together
        catalog.append("sources", sources)
        catalog.append("samples", samples)
        run.finish("completed")
    out = {}
    for name, kind in (
        ("clips", "clip"),
        ("pseudo4d", "grid_pseudo4d"),
        ("objaverse", "grid_objaverse"),
    ):
        where = f"kind = '{kind}' AND recipe_version = '{RECIPE_VERSION}' AND path LIKE 'samples/{prefix}/%'"
        out[name] = create_dataset(catalog, f"{prefix}-{name}", where, run_id=run.run_id)[
            "dataset_id"
        ]
    return out
