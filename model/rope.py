"""3D rotary position embedding over (frame, y, x): pure functions.

Positions are integers in patch units: frame index ``f``, patch row ``i``,
patch column ``j``. The head dimension is split into three even parts, one
per axis. Because positions enter only inside attention, the same frozen
block can run on a freeze-time video (frames = views) and on a fixed-view
video (frames = times): each call just gets the rope of its own layout.
"""

from __future__ import annotations

import torch
from torch import Tensor


def split_head_dim(head_dim: int) -> tuple[int, int, int]:
    """Split ``head_dim`` into even (frame, y, x) parts; the frame axis takes the remainder."""
    per_axis = 2 * (head_dim // 6)
    frame = head_dim - 2 * per_axis
    assert per_axis > 0 and frame % 2 == 0, head_dim
    return frame, per_axis, per_axis


def axis_angles(pos: Tensor, dim: int, theta: float) -> Tensor:
    """Rotation angles for one axis: ``pos [N]`` -> ``[N, dim // 2]``."""
    freqs = theta ** (-torch.arange(0, dim, 2, dtype=torch.float64, device=pos.device) / dim)
    return pos.to(torch.float64)[:, None] * freqs[None, :]


def rope_3d(
    frames: int, h: int, w: int, head_dim: int, theta: float = 10000.0, device=None
) -> tuple[Tensor, Tensor]:
    """(cos, sin), each float32 ``[frames * h * w, head_dim // 2]``, tokens ordered (f, y, x)."""
    return rope_at(torch.arange(frames, device=device), h, w, head_dim, theta)


def rope_at(
    frame_positions: Tensor, h: int, w: int, head_dim: int, theta: float = 10000.0
) -> tuple[Tensor, Tensor]:
    """:func:`rope_3d` for frames at arbitrary positions ``frame_positions [F]`` (integers).

    The fused 4D attention puts frame ``(v, t)`` of a grid at position ``v + t``.
    """
    d_f, d_y, d_x = split_head_dim(head_dim)
    device = frame_positions.device
    f, y, x = torch.meshgrid(
        frame_positions,
        torch.arange(h, device=device),
        torch.arange(w, device=device),
        indexing="ij",
    )  # each (F, h, w)
    angles = torch.cat(
        [
            axis_angles(f.flatten(), d_f, theta),
            axis_angles(y.flatten(), d_y, theta),
            axis_angles(x.flatten(), d_x, theta),
        ],
        dim=-1,
    )  # (N, head_dim / 2)
    return angles.cos().float(), angles.sin().float()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate pairs of channels: ``x [B, heads, N, head_dim]``, cos/sin ``[N, head_dim / 2]``."""
    x1, x2 = x.float().unflatten(-1, (-1, 2)).unbind(-1)  # each (B, heads, N, head_dim / 2)
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return out.flatten(-2).type_as(x)  # (B, heads, N, head_dim)
