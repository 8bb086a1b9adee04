"""Two-stream 4D model: a frozen base video model plus synchronisation layers.

``FourDModel(base, cfg)(x, s, known) -> velocity``

* ``x``     float ``[B, V, T, 3, H, W]``, the grid (known frames clean);
* ``s``     float ``[B]``, flow time;
* ``known`` bool ``[B, V, T]``, True where the frame is given;
* returns   float ``[B, V, T, 3, H, W]``, the grid velocity.

Grid tokens are copied into a view stream and a time stream, both kept
grid-aligned as ``[B, V, T, n, D]``. In layer ``l`` the *same* frozen base
block updates

* the view stream as ``T`` freeze-time videos ``grid[:, t]`` (context
  ``freeze_time``), one batched call over ``"b v t n d -> (b t) (v n) d"``;
* the time stream as ``V`` fixed-view videos ``grid[v, :]`` (context
  ``dynamic``), one batched call over ``"b v t n d -> (b v) (t n) d"``;

then the sync layer of ``cfg.sync`` runs:

* ``soft``: zero-initialised increments added to each stream (model.sync);
* ``hard``: the streams are merged into one (weights start at ``I/2``) and
  both streams carry that merged tensor into the next layer;
* ``sequential``: the interleaved baseline, no sync parameters at all: one
  stream, updated freeze-time first, then fixed-view, in every layer.

Output: the frozen final layer of the base is applied to each stream with its
own context, and the two velocities are averaged. (For ``hard`` and
``sequential`` both streams hold the same tokens; only the final layer's
context modulation differs.) :meth:`FourDModel.stream_velocities` returns the
pair before averaging.

Only sync parameters require gradients; the base stays frozen and in eval
mode whatever ``train()`` is called with.
"""

from __future__ import annotations

import torch
from einops import rearrange, repeat
from torch import Tensor, nn

from fourreal.core.grid import MODE_INDEX
from model.config import FourDConfig
from model.dit import DiT, run_block
from model.sync import make_sync


class FourDModel(nn.Module):
    """Frozen base + per-layer sync: the 4D video diffusion model."""

    def __init__(self, base: DiT, cfg: FourDConfig):
        super().__init__()
        if base.cfg != cfg.base:
            raise ValueError(f"base: model config {base.cfg} differs from cfg.base {cfg.base}")
        self.cfg = cfg
        self.base = base
        self.base.requires_grad_(False)
        self.base.eval()
        layers = [make_sync(cfg.sync, cfg.base.dim) for _ in base.blocks]
        self.sync_layers = nn.ModuleList(layer for layer in layers if layer is not None)

    def train(self, mode: bool = True) -> FourDModel:
        super().train(mode)
        self.base.eval()  # the frozen base never leaves eval mode
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The sync parameters (everything that requires grad)."""
        return [p for p in self.parameters() if p.requires_grad]

    # ----------------------------------------------------------- stream updates
    def _view_update(self, block, x: Tensor, c: Tensor, rope, recompute: bool) -> Tensor:
        """Freeze-time videos: ``x [B, V, T, n, D]``, ``c [B T, D]``."""
        B, V, T, n, D = x.shape
        tok = rearrange(x, "b v t n d -> (b t) (v n) d")  # T freeze-time videos per grid
        tok = run_block(block, tok, c, rope, recompute)
        return rearrange(tok, "(b t) (v n) d -> b v t n d", b=B, v=V)

    def _time_update(self, block, x: Tensor, c: Tensor, rope, recompute: bool) -> Tensor:
        """Fixed-view videos: ``x [B, V, T, n, D]``, ``c [B V, D]``."""
        B, V, T, n, D = x.shape
        tok = rearrange(x, "b v t n d -> (b v) (t n) d")  # V fixed-view videos per grid
        tok = run_block(block, tok, c, rope, recompute)
        return rearrange(tok, "(b v) (t n) d -> b v t n d", b=B, t=T)

    def stream_velocities(self, x: Tensor, s: Tensor, known: Tensor) -> tuple[Tensor, Tensor]:
        """``x [B, V, T, 3, H, W]``, ``s [B]``, ``known [B, V, T]`` -> (view, time) velocities."""
        base = self.base
        B, V, T, _, H, W = x.shape
        h, w = base.patch_grid(H, W)
        tokens = base.embed(
            rearrange(x, "b v t c hh ww -> (b v) t c hh ww"), rearrange(known, "b v t -> (b v) t")
        )  # (B V, T, n, D)
        tokens = rearrange(tokens, "(b v) t n d -> b v t n d", b=B)

        ctx = torch.ones_like(s, dtype=torch.long)
        c_view = base.condition(s, ctx * MODE_INDEX["freeze_time"])  # (B, D)
        c_time = base.condition(s, ctx * MODE_INDEX["dynamic"])  # (B, D)
        c_view_g = repeat(c_view, "b d -> (b t) d", t=T)  # (B T, D)
        c_time_g = repeat(c_time, "b d -> (b v) d", v=V)  # (B V, D)
        rope_view = base.rope(V, h, w, x.device)  # a freeze-time video has V frames
        rope_time = base.rope(T, h, w, x.device)  # a fixed-view video has T frames
        temb = base.t_embedder(s)  # (B, D), timestep only: drives the sync modulation
        recompute = self.cfg.base.grad_checkpointing and self.training

        x_view = x_time = tokens  # (B, V, T, n, D) each
        for i, block in enumerate(base.blocks):
            if self.cfg.sync == "sequential":
                x_view = self._view_update(block, x_time, c_view_g, rope_view, recompute)
                x_time = x_view = self._time_update(block, x_view, c_time_g, rope_time, recompute)
                continue
            y_view = self._view_update(block, x_view, c_view_g, rope_view, recompute)
            y_time = self._time_update(block, x_time, c_time_g, rope_time, recompute)
            if self.cfg.sync == "hard":
                x_view = x_time = self.sync_layers[i](y_view, y_time, temb)
            else:
                x_view, x_time = self.sync_layers[i](y_view, y_time, temb)

        def head(stream: Tensor, c: Tensor) -> Tensor:
            out = base.head(rearrange(stream, "b v t n d -> b (v t) n d"), c, h, w)
            return rearrange(out, "b (v t) c hh ww -> b v t c hh ww", v=V)

        return head(x_view, c_view), head(x_time, c_time)  # (B, V, T, 3, H, W) each

    def forward(self, x: Tensor, s: Tensor, known: Tensor) -> Tensor:
        """``x [B, V, T, 3, H, W]``, ``s [B]``, ``known [B, V, T]`` -> ``[B, V, T, 3, H, W]``."""
        v_view, v_time = self.stream_velocities(x, s, known)
        return 0.5 * (v_view + v_time)


def build_fourd(cfg: FourDConfig, base: DiT | None = None) -> FourDModel:
    """A 4D model around ``base`` (or a freshly initialised base of ``cfg.base``)."""
    return FourDModel(base if base is not None else DiT(cfg.base), cfg)
