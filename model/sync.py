"""Synchronisation layers between the view and time streams (docs/model.md#the-two-stream-4d-model).

Both act per token on grid-aligned streams ``y_view, y_time [B, V, T, n, D]``
and take the timestep embedding ``temb [B, D]`` of the frozen base.

* :class:`HardSync`: ``x = W_v(s) y_v + W_t(s) y_t`` with
  ``W(s) = diag(1 + g(s)) W``; ``W`` starts at ``I/2`` and ``g`` at 0, so an
  untrained layer averages the streams. The streams merge into one.
* :class:`SoftSync`: ``(dy_v, dy_t) = ModLinear(y_v, y_t; s)`` added to each
  stream; the linear map is zero-initialised, so an untrained layer is a no-op
  and the 4D model starts as the base run on each stream independently.

The paper publishes neither the exact timestep modulation nor the soft-sync
initialisation; these are the choices above.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn


class HardSync(nn.Module):
    """Timestep-modulated weighted sum of the two streams; returns one stream."""

    def __init__(self, dim: int):
        super().__init__()
        self.view_linear = nn.Linear(dim, dim)
        self.time_linear = nn.Linear(dim, dim)
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))  # -> (g_v, g_t)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        # W_v = W_t = I/2, zero bias: the untrained layer averages the streams.
        for linear in (self.view_linear, self.time_linear):
            nn.init.eye_(linear.weight)
            linear.weight.data.mul_(0.5)
            nn.init.zeros_(linear.bias)
        # Zero-out the timestep modulation: W(s) = W at every s.
        nn.init.zeros_(self.modulation[-1].weight)
        nn.init.zeros_(self.modulation[-1].bias)

    def forward(self, y_view: Tensor, y_time: Tensor, temb: Tensor) -> Tensor:
        """``y_view, y_time [B, V, T, n, D]``, ``temb [B, D]`` -> merged ``[B, V, T, n, D]``."""
        g_view, g_time = self.modulation(temb)[:, None, None, None].chunk(2, dim=-1)  # (B,1,1,1,D)
        return (1 + g_view) * self.view_linear(y_view) + (1 + g_time) * self.time_linear(y_time)


class SoftSync(nn.Module):
    """ModLinear: a timestep-gated linear map of both streams, giving an increment for each."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(2 * dim, 2 * dim)  # [y_v, y_t] -> [dy_v, dy_t]
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))  # per-channel gate
        self.initialize_weights()

    def initialize_weights(self) -> None:
        # Zero-init the increments: an untrained layer leaves both streams as they are.
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        # Zero-init the timestep gate: (1 + g(s)) = 1 at start.
        nn.init.zeros_(self.modulation[-1].weight)
        nn.init.zeros_(self.modulation[-1].bias)

    def forward(self, y_view: Tensor, y_time: Tensor, temb: Tensor) -> tuple[Tensor, Tensor]:
        """``y_view, y_time [B, V, T, n, D]``, ``temb [B, D]`` -> the updated pair."""
        h = torch.cat([self.norm(y_view), self.norm(y_time)], dim=-1)  # (B, V, T, n, 2D)
        gate = self.modulation(temb)[:, None, None, None]  # (B, 1, 1, 1, 2D)
        delta = (1 + gate) * self.linear(h)  # (B, V, T, n, 2D)
        d_view, d_time = rearrange(delta, "b v t n (k d) -> k b v t n d", k=2)
        return y_view + d_view, y_time + d_time


def make_sync(kind: str, dim: int) -> nn.Module | None:
    """The sync layer of one block; ``sequential`` has none."""
    if kind == "hard":
        return HardSync(dim)
    if kind == "soft":
        return SoftSync(dim)
    if kind == "sequential":
        return None
    raise ValueError(f"sync must be hard, soft or sequential, got {kind!r}")
