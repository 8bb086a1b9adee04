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

then the sync layer of the block (model.sync) maps the pair to the next pair:

* ``soft``: zero-initialised increments added to each stream;
* ``hard``: the streams are merged into one (weights start at ``I/2``) and
  both streams carry that merged tensor into the next layer.

``sequential`` is the interleaved baseline: one stream, updated freeze-time
first, then fixed-view, in every layer, with a zero-initialised gated
increment after each pass (the same trainable budget as soft sync; at
initialisation exactly the plain interleaved base). The model branches once,
between these two loops. All sync layers read their timestep modulation from
one shared projection (``SyncModulation``).

Output: the frozen final layer of the base is applied to each stream with its
own context, and the two velocities are averaged. (For ``hard`` and
``sequential`` both streams hold the same tokens; only the final layer's
context modulation differs.) :meth:`FourDModel.stream_velocities` returns the
pair before averaging.

Only sync parameters require gradients; the base stays frozen and in eval
mode whatever ``train()`` is called with.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from einops import rearrange, repeat
from torch import Tensor, nn

from core.grid import MODE_INDEX
from model.config import FourDConfig
from model.dit import DiT, run_block
from model.layers import Rope
from model.sync import SyncLayers

# observe(layer index, x_view, x_time), called after each layer's sync (diagnostics)
LayerObserver = Callable[[int, Tensor, Tensor], None]


def check_base(base: DiT, cfg: FourDConfig) -> None:
    """A 4D model's base must be the model ``cfg.base`` describes."""
    if base.cfg != cfg.base:
        raise ValueError(f"base: model config {base.cfg} differs from cfg.base {cfg.base}")


class FourDModel(nn.Module):
    """Frozen base + per-layer sync: the 4D video diffusion model."""

    def __init__(self, base: DiT, cfg: FourDConfig):
        super().__init__()
        check_base(base, cfg)
        self.cfg = cfg
        self.base = base
        self.base.requires_grad_(False)
        self.base.eval()
        self.sync_layers = SyncLayers(cfg.sync, cfg.base.dim, len(base.blocks))

    def train(self, mode: bool = True) -> FourDModel:
        super().train(mode)
        self.base.eval()  # the frozen base never leaves eval mode
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The sync parameters (everything that requires grad)."""
        return [p for p in self.parameters() if p.requires_grad]

    # ----------------------------------------------------------- stream updates
    def _view_update(self, block, x: Tensor, c: Tensor, rope: Rope) -> Tensor:
        """Freeze-time videos: ``x [B, V, T, n, D]``, ``c [B T, D]``."""
        B, V, T, n, D = x.shape
        tok = rearrange(x, "b v t n d -> (b t) (v n) d")  # T freeze-time videos per grid
        tok = run_block(block, tok, c, rope, self._recompute)
        return rearrange(tok, "(b t) (v n) d -> b v t n d", b=B, v=V)

    def _time_update(self, block, x: Tensor, c: Tensor, rope: Rope) -> Tensor:
        """Fixed-view videos: ``x [B, V, T, n, D]``, ``c [B V, D]``."""
        B, V, T, n, D = x.shape
        tok = rearrange(x, "b v t n d -> (b v) (t n) d")  # V fixed-view videos per grid
        tok = run_block(block, tok, c, rope, self._recompute)
        return rearrange(tok, "(b v) (t n) d -> b v t n d", b=B, t=T)

    @property
    def _recompute(self) -> bool:
        return self.cfg.base.grad_checkpointing and self.training

    def _two_stream(self, tokens: Tensor, gates: Tensor, cond, observe) -> tuple[Tensor, Tensor]:
        """Hard and soft sync: both passes of a block on their own stream, then the sync layer."""
        (c_view, rope_view), (c_time, rope_time) = cond
        x_view = x_time = tokens  # (B, V, T, n, D) each
        layers = zip(self.base.blocks, self.sync_layers.layers, gates, strict=True)
        for i, (block, sync, g) in enumerate(layers):
            y_view = self._view_update(block, x_view, c_view, rope_view)
            y_time = self._time_update(block, x_time, c_time, rope_time)
            x_view, x_time = sync(y_view, y_time, g)
            if observe is not None:
                observe(i, x_view, x_time)
        return x_view, x_time

    def _sequential(self, tokens: Tensor, gates: Tensor, cond, observe) -> Tensor:
        """The baseline: one stream, freeze-time pass then fixed-view pass in every block."""
        (c_view, rope_view), (c_time, rope_time) = cond
        x = tokens  # (B, V, T, n, D)
        layers = zip(self.base.blocks, self.sync_layers.layers, gates, strict=True)
        for i, (block, sync, g) in enumerate(layers):
            x = sync.after_view(x, self._view_update(block, x, c_view, rope_view), g)
            x = sync.after_time(x, self._time_update(block, x, c_time, rope_time), g)
            if observe is not None:
                observe(i, x, x)
        return x

    def stream_velocities(
        self, x: Tensor, s: Tensor, known: Tensor, observe: LayerObserver | None = None
    ) -> tuple[Tensor, Tensor]:
        """``x [B, V, T, 3, H, W]``, ``s [B]``, ``known [B, V, T]`` -> (view, time) velocities.

        ``observe(i, x_view, x_time)``, if given, sees the token streams
        ``[B, V, T, n, D]`` after the sync of layer ``i``.
        """
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
        cond = (
            (repeat(c_view, "b d -> (b t) d", t=T), base.rope(V, h, w, x.device)),  # T videos of V
            (repeat(c_time, "b d -> (b v) d", v=V), base.rope(T, h, w, x.device)),  # V videos of T
        )
        gates = self.sync_layers.modulation(base.t_embedder(s))  # (depth, B, 2D), timestep only

        if self.cfg.sync == "sequential":
            x_view = x_time = self._sequential(tokens, gates, cond, observe)
        else:
            x_view, x_time = self._two_stream(tokens, gates, cond, observe)

        def head(stream: Tensor, c: Tensor) -> Tensor:
            out = base.head(rearrange(stream, "b v t n d -> b (v t) n d"), c, h, w)
            out = rearrange(out, "b (v t) c hh ww -> b v t c hh ww", v=V)
            return base.to_velocity(out, x, s)

        return head(x_view, c_view), head(x_time, c_time)  # (B, V, T, 3, H, W) each

    def forward(self, x: Tensor, s: Tensor, known: Tensor) -> Tensor:
        """``x [B, V, T, 3, H, W]``, ``s [B]``, ``known [B, V, T]`` -> ``[B, V, T, 3, H, W]``."""
        v_view, v_time = self.stream_velocities(x, s, known)
        return 0.5 * (v_view + v_time)


def build_fourd(cfg: FourDConfig, base: DiT | None = None) -> nn.Module:
    """The 4D model of variant ``cfg.sync`` (model.variants) around ``base`` (or a fresh one)."""
    from model.variants import variant_class  # the registry imports every variant's module

    return variant_class(cfg.sync)(base if base is not None else DiT(cfg.base), cfg)
