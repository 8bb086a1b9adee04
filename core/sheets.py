"""Contact sheets: a few samples as one PNG (rows = views, columns = times).

The one writer every build uses (rendered grids, pseudo-4D grids, clips: a clip is a
one-view grid); a generated grid has its own annotated sheet (conditioning frames framed).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.io import atomic_path
from core.sample_store import open_sample

GAP = 4


def grid_mosaic(rgb: np.ndarray, max_side: int = 64) -> np.ndarray:
    """``[V, T, H, W, 3]`` -> one ``[V*h, T*w, 3]`` image, frames shrunk to ``max_side``."""
    V, T, H, W, _ = rgb.shape
    step = max(1, int(np.ceil(max(H, W) / max_side)))
    small = rgb[:, :, ::step, ::step]  # (V, T, h, w, 3)
    v, t, h, w, c = small.shape
    return small.transpose(0, 2, 1, 3, 4).reshape(v * h, t * w, c)


def write_contact_sheet(grids: Sequence[str | Path], out: str | Path, max_side: int = 64) -> Path:
    """Stack the mosaics of ``grids`` (sample files, any kind) vertically into ``out`` (PNG)."""
    from PIL import Image

    if not grids:
        raise ValueError("grids: need at least one grid file")
    tiles = []
    for g in grids:
        with open_sample(g, whole=True) as s:
            tiles.append(grid_mosaic(s.grid(), max_side))
    width = max(t.shape[1] for t in tiles)
    rows = []
    for t in tiles:
        pad = np.full((t.shape[0], width - t.shape[1], 3), 255, np.uint8)
        rows += [np.concatenate([t, pad], 1), np.full((GAP, width, 3), 128, np.uint8)]
    sheet = np.concatenate(rows[:-1], 0)
    out = Path(out)
    with atomic_path(out, suffix=".png") as tmp:
        Image.fromarray(sheet).save(tmp, format="PNG")
    return out
