"""Synchronisation layers and their timestep modulation (docs/model.md#the-two-stream-4d-model).

Every layer of a 4D model owns one sync layer; all of them are driven by one
:class:`SyncModulation`, an adaLN-single style projection (PixArt-alpha) of
the frozen base's timestep embedding ``temb [B, D]``:

    m(s) = W SiLU(temb) + b                     shared, [B, 2D], zero-initialised
    g_l(s) = bias_l + gain_l * m(s)             per layer l, gain_l = 1, bias_l = 0

so the modulation costs one ``D x 2D`` projection for the whole model plus
``4D`` numbers per layer, instead of a ``D x 2D`` projection per layer. Each
layer reads its ``g_l(s) [B, 2D]`` as two halves, one per stream or pass.

Two-stream layers map grid-aligned streams ``y_view, y_time [B, V, T, n, D]``
(one pass of the frozen block each) to the next pair; they share one
interface, ``layer(y_view, y_time, g) -> (x_view, x_time)``:

* :class:`HardSync`: ``x = (1 + g_v) W_v y_v + (1 + g_t) W_t y_t``; ``W``
  starts at ``I/2``, so an untrained layer averages the streams. The streams
  merge: the merged tensor is returned for both.
* :class:`SoftSync`: ``(dy_v, dy_t) = (1 + g) W [norm y_v, norm y_t]`` added
  to each stream; ``W`` is zero-initialised, so an untrained layer is the
  identity and the 4D model starts as the base run on each stream.

The sequential baseline has one stream updated by two passes per layer
(freeze-time, then fixed-view). To compare it with soft sync at the same
trainable budget, :class:`SequentialSync` adds after each pass a
zero-initialised, timestep-gated linear map of ``[norm z, norm y]`` (the
pass's input and output) to its output: ``2 x (2D x D)`` weights per layer,
exactly soft sync's ``2D x 2D``. At initialisation it is the identity, i.e.
the plain interleaved baseline.

The paper publishes neither the exact timestep modulation nor the soft-sync
initialisation; these are the choices above.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn


class SyncModulation(nn.Module):
    """Shared timestep projection + per-layer gains: ``temb [B, D]`` -> ``g [depth, B, 2D]``."""

    def __init__(self, dim: int, depth: int):
        super().__init__()
        self.proj = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.gain = nn.Parameter(torch.ones(depth, 2 * dim))
        self.bias = nn.Parameter(torch.zeros(depth, 2 * dim))
        self.initialize_weights()

    def initialize_weights(self) -> None:
        # m(s) = 0 and bias = 0: every layer starts unmodulated, (1 + g) = 1.
        nn.init.zeros_(self.proj[-1].weight)
        nn.init.zeros_(self.proj[-1].bias)
        nn.init.ones_(self.gain)
        nn.init.zeros_(self.bias)

    def forward(self, temb: Tensor) -> Tensor:
        """``temb [B, D]`` -> ``[depth, B, 2D]``."""
        shared = self.proj(temb)  # (B, 2D)
        return self.bias[:, None] + self.gain[:, None] * shared[None]


def _halves(g: Tensor) -> tuple[Tensor, Tensor]:
    """``g [B, 2D]`` -> two ``[B, 1, 1, 1, D]`` gates that broadcast over ``[B, V, T, n, D]``."""
    a, b = g[:, None, None, None].chunk(2, dim=-1)
    return a, b


class HardSync(nn.Module):
    """Timestep-modulated weighted sum of the two streams; both streams carry the result."""

    def __init__(self, dim: int):
        super().__init__()
        self.view_linear = nn.Linear(dim, dim)
        self.time_linear = nn.Linear(dim, dim)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        # W_v = W_t = I/2, zero bias: the untrained layer averages the streams.
        for linear in (self.view_linear, self.time_linear):
            nn.init.eye_(linear.weight)
            linear.weight.data.mul_(0.5)
            nn.init.zeros_(linear.bias)

    def forward(self, y_view: Tensor, y_time: Tensor, g: Tensor) -> tuple[Tensor, Tensor]:
        """``y_view, y_time [B, V, T, n, D]``, ``g [B, 2D]`` -> (merged, merged)."""
        g_view, g_time = _halves(g)
        merged = (1 + g_view) * self.view_linear(y_view) + (1 + g_time) * self.time_linear(y_time)
        return merged, merged


class SoftSync(nn.Module):
    """ModLinear: a timestep-gated linear map of both streams, giving an increment for each."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(2 * dim, 2 * dim)  # [y_v, y_t] -> [dy_v, dy_t]
        self.initialize_weights()

    def initialize_weights(self) -> None:
        # Zero-init the increments: an untrained layer leaves both streams as they are.
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, y_view: Tensor, y_time: Tensor, g: Tensor) -> tuple[Tensor, Tensor]:
        """``y_view, y_time [B, V, T, n, D]``, ``g [B, 2D]`` -> the updated pair."""
        h = torch.cat([self.norm(y_view), self.norm(y_time)], dim=-1)  # (B, V, T, n, 2D)
        delta = (1 + g[:, None, None, None]) * self.linear(h)  # (B, V, T, n, 2D)
        d_view, d_time = rearrange(delta, "b v t n (k d) -> k b v t n d", k=2)
        return y_view + d_view, y_time + d_time


class SequentialSync(nn.Module):
    """The sequential baseline's trainable budget: a gated increment after each of the two passes."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.view_linear = nn.Linear(2 * dim, dim)  # [z, y] of the freeze-time pass -> dy
        self.time_linear = nn.Linear(2 * dim, dim)  # [z, y] of the fixed-view pass -> dy
        self.initialize_weights()

    def initialize_weights(self) -> None:
        # Zero-init: an untrained layer is the plain interleaved baseline.
        for linear in (self.view_linear, self.time_linear):
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)

    def _increment(self, linear: nn.Linear, z: Tensor, y: Tensor, gate: Tensor) -> Tensor:
        h = torch.cat([self.norm(z), self.norm(y)], dim=-1)  # (B, V, T, n, 2D)
        return y + (1 + gate) * linear(h)

    def after_view(self, z: Tensor, y: Tensor, g: Tensor) -> Tensor:
        """Pass input ``z`` and output ``y`` of the freeze-time pass ``[B, V, T, n, D]``."""
        return self._increment(self.view_linear, z, y, _halves(g)[0])

    def after_time(self, z: Tensor, y: Tensor, g: Tensor) -> Tensor:
        """Pass input ``z`` and output ``y`` of the fixed-view pass ``[B, V, T, n, D]``."""
        return self._increment(self.time_linear, z, y, _halves(g)[1])


SYNC_LAYERS: dict[str, type[nn.Module]] = {
    "hard": HardSync,
    "soft": SoftSync,
    "sequential": SequentialSync,
}


class SyncLayers(nn.Module):
    """Every trainable part of a 4D model: the shared modulation and one sync layer per block."""

    def __init__(self, kind: str, dim: int, depth: int):
        super().__init__()
        if kind not in SYNC_LAYERS:
            raise ValueError(f"sync must be one of {sorted(SYNC_LAYERS)}, got {kind!r}")
        self.kind = kind
        self.modulation = SyncModulation(dim, depth)
        self.layers = nn.ModuleList(SYNC_LAYERS[kind](dim) for _ in range(depth))

    def __len__(self) -> int:
        return len(self.layers)
