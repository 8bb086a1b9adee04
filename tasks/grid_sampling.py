"""A grid from its conditioning frames with a sync model, and the catalog grids it starts from.

Generation (from videos or a catalog grid) and evaluation (from every
ground-truth grid of a snapshot) share these: the conditioning frames
(:class:`GenerationInputs`), the sampling itself (:func:`sample_grid`, whose
``grid[0, :]`` and ``grid[:, 0]`` are the inputs exactly), and reading an
``ok`` grid sample of the catalog, checked against its recorded sha256.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from catalog.store import Catalog
from core import fs, sample_store
from core.grid import check_disk_grid, to_model, to_uint8
from core.io import sha256_bytes

FIND_SAMPLE = "SELECT * FROM samples WHERE sample_id = ?"


def read_grid_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``(rgb uint8 [V, T, H, W, 3], times [T] or None)`` of a grid sample of any producer.

    Any stored format (the sample store, or a legacy npz); ``ValueError`` for a
    clip or an unreadable file.
    """
    try:
        with sample_store.open_sample(path, whole=True) as s:
            if s.kind not in sample_store.GRID_KINDS:
                raise ValueError(f"grid file {path} holds a {s.kind}, not a grid")
            rgb = s.grid()
            times = s.array("times") if "times" in s.names() else None
    except sample_store.SampleError as e:
        raise ValueError(str(e)) from None
    check_disk_grid(rgb)
    return rgb, times


def sample_grid_path(catalog: Catalog, sample_id: str) -> tuple[str, dict]:
    """The file of an ok grid sample (local or S3), checked against its recorded sha256."""
    rows = catalog.rows(FIND_SAMPLE, [sample_id])
    if not rows:
        raise ValueError(f"sample_id: no sample {sample_id!r} in the catalog")
    row = rows[0]
    if row["status"] != "ok":
        raise ValueError(f"sample_id: sample {sample_id!r} has status {row['status']!r}")
    if row["v"] is None or row["t"] is None:
        raise ValueError(f"sample_id: sample {sample_id!r} ({row['kind']}) is not a grid")
    path = row["path"] or ""
    if not path or not fs.exists(path):
        raise ValueError(f"sample_id: file {path} of sample {sample_id!r} is missing")
    if row["sha256"] and sha256_bytes(fs.read_bytes(path)) != row["sha256"]:
        raise ValueError(f"sample_id: sha256 mismatch for {path} (file changed on disk)")
    return path, row


@dataclass
class GenerationInputs:
    """The two conditioning videos, fitted to the grid."""

    fixed_view: np.ndarray  # uint8 [T, H, W, 3] -> grid[0, :]
    freeze_time: np.ndarray  # uint8 [V, H, W, 3] -> grid[:, 0]
    times: np.ndarray  # float [T] seconds
    ids: dict  # what the inputs were (sample id or file sha256s), for lineage
    warnings: list[str] = field(default_factory=list)


def sample_grid(
    model,
    inputs: GenerationInputs,
    steps: int,
    seed: int,
    *,
    guidance_scale: float = 1.0,
    shift: float = 1.0,
) -> np.ndarray:
    """uint8 grid ``[V, T, H, W, 3]``; ``grid[0, :]`` and ``grid[:, 0]`` are the inputs exactly.

    ``guidance_scale`` (classifier-free guidance, 1 = off) and ``shift`` (the
    SD3 schedule shift, 1 = uniform steps) go to ``model.flow.euler_sample``.
    """
    from model import generate_grid

    out = generate_grid(
        model,
        to_model(inputs.fixed_view),
        to_model(inputs.freeze_time),
        steps=steps,
        seed=seed,
        guidance_scale=guidance_scale,
        shift=shift,
    )  # (V, T, 3, H, W)
    if not bool(out.isfinite().all()):
        raise RuntimeError("generation produced non-finite values")
    grid = to_uint8(out)
    grid[0, :] = inputs.fixed_view  # exact by construction; uint8 round trip is lossless
    grid[:, 0] = inputs.freeze_time
    return grid
