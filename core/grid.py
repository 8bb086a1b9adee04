"""The one grid convention of the project (docs/grid.md).

``grid[v, t]`` is the frame seen from viewpoint ``v`` at time ``t``.

* freeze-time video at ``t``  = ``grid[:, t]`` (camera moves, world frozen);
* fixed-view video at ``v``   = ``grid[v, :]`` (camera still, world moves);
* generation is conditioned on ``grid[0, :]`` and ``grid[:, 0]``.

Layouts: ``uint8 [V, T, H, W, 3]`` on disk, ``float [V, T, 3, H, W]`` in
``[-1, 1]`` inside the model. Everything else imports from here.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

DISK_LAYOUT = "V T H W C"
MODEL_LAYOUT = "V T C H W"

Mode = Literal["dynamic", "freeze_time"]
MODES: tuple[str, ...] = ("dynamic", "freeze_time")
MODE_INDEX: dict[str, int] = {m: i for i, m in enumerate(MODES)}

DEFAULT_V = 8
DEFAULT_T = 8
BASE_HW = (72, 128)
HIGH_HW = (288, 512)


def freeze_time_video(grid, t: int):
    """``grid[:, t]``: the V viewpoints at time t (a freeze-time clip)."""
    return grid[:, t]


def fixed_view_video(grid, v: int):
    """``grid[v, :]``: the T times seen from viewpoint v (a dynamic clip)."""
    return grid[v, :]


def check_disk_grid(grid: np.ndarray) -> tuple[int, int, int, int]:
    """Validate a disk grid and return ``(V, T, H, W)``."""
    if grid.ndim != 5 or grid.shape[-1] != 3 or grid.dtype != np.uint8:
        raise ValueError(
            f"grid must be uint8 [V, T, H, W, 3], got {grid.dtype} {tuple(grid.shape)}"
        )
    v, t, h, w, _ = grid.shape
    return v, t, h, w


def to_model(grid_uint8):
    """uint8 ``[..., H, W, 3]`` (numpy or torch) -> float ``[..., 3, H, W]`` in [-1, 1]."""
    import torch

    x = torch.as_tensor(np.asarray(grid_uint8))
    x = x.movedim(-1, -3).float()  # [..., 3, H, W]
    return x / 127.5 - 1.0


def to_uint8(x) -> np.ndarray:
    """float ``[..., 3, H, W]`` in [-1, 1] -> uint8 ``[..., H, W, 3]`` numpy."""
    import torch

    x = torch.as_tensor(x).detach().float().cpu()
    x = ((x.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).numpy()
