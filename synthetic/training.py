"""Small, real training data in the catalog, for tests, the bench and quick trials.

``write_training_data(catalog, ...)`` renders the synthetic scene of
``synthetic.videos.render_frame`` (moving textured shapes) into

* clips (``kind='clip'``, ``frames [F, H, W, 3]``): ``dynamic`` clips are
  consecutive frames; ``freeze_time`` clips are one frame seen through a
  sliding crop (a camera pan over a frozen world);
* pseudo-4D grids (``kind='grid_pseudo4d'``, ``grid [V, T, H, W, 3]``):
  ``grid[v, t]`` = frame ``t`` through crop ``v``, with a validity mask;
* Objaverse-like grids (``kind='grid_objaverse'``, ``rgb [V, T, H, W, 3]``):
  the same construction from another seed;

written to the data root (a local folder or an S3 bucket, core.fs), each
with a ``sources`` row, a ``samples`` row (sha256, shape, status) and
the ``runs`` row that made them, then one snapshot per kind. The builders of
renderers/ and tasks/ make the real data; this is their shape, small.
"""

from __future__ import annotations

import io
import json

import numpy as np

from catalog.datasets import create_dataset
from catalog.ids import sample_id
from catalog.runs import start_run
from catalog.store import Catalog
from core import fs
from core.io import sha256_bytes
from core.paths import data_root, relative_to_root, store_location
from synthetic.videos import render_frame

RECIPE_VERSION = "train-sample-1"


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


def _npz_bytes(arrays: dict) -> bytes:
    """A plain ``np.savez`` archive (the store reads it as a legacy sample) in memory."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


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
    root = data_root() / "samples" / prefix
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
        path = root / kind / f"{sid[:16]}.npz"
        data = _npz_bytes(arrays)
        fs.put_bytes(store_location(path), data)  # atomic; into the bucket on an S3 home
        recipe = {"recipe": "train_sample_data", "recipe_version": RECIPE_VERSION}
        shape = {"v": v, "t": t, "h": height, "w": width}
        file = {"path": relative_to_root(path), "sha256": sha256_bytes(data)}
        samples.append(
            {"sample_id": sid, "kind": kind, "source_id": src, "mode": mode, **recipe, **shape}
            | {"params_json": json.dumps(params), **file, "status": "ok", "run_id": run.run_id}
        )
        run.add_output("sample", sid)

    for i in range(clips):
        s = seed + 100 + i
        if i % 2 == 0:  # dynamic: the world moves, the camera stands
            clip = np.stack([render_frame(f, height, width, seed=s) for f in range(frames)])
            add("clip", "dynamic", {"frames": clip}, 1, frames, i)
        else:  # freeze_time: one instant, the camera pans
            big = render_frame(3 * i, height + height // 4, width + width // 2, seed=s)
            clip = np.stack([_view(big, f, frames, height, width) for f in range(frames)])
            add("clip", "freeze_time", {"frames": clip}, 1, frames, i)
    for i in range(grids):
        grid = moving_shapes_grid(seed + 200 + i, V, T, height, width)
        valid = np.ones(grid.shape[:4], dtype=bool)
        valid[:, :, :, : (i % 2)] = False  # a warped-out column on some grids
        add("grid_pseudo4d", None, {"grid": grid, "valid": valid}, V, T, 1000 + i)
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
