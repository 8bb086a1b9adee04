"""Fused view-time attention (4Real-Video-V2): one sparse attention per block over the grid.

``FusedModel(base, cfg)(x, s, known) -> velocity`` with the shapes of
:class:`model.fourd.FourDModel`. There is one token stream, the whole grid
``[B, V T n, D]`` in ``(v, t, patch)`` order, and every base block runs on it
once, with its own weights and an attention mask (model.sparse) that lets a
token see only the tokens of its own view (the fixed-view video) and of its
own time step (the freeze-time video). No parameters are added to the
attention; the base itself is fine-tuned, fully or through LoRA adapters
(``cfg.finetune``).

Choices neither paper pins down, and why:

* **Positions.** The base's 3D RoPE has one frame axis. Frame ``(v, t)`` sits
  at frame position ``v + t``: every pair of tokens the mask lets attend is
  either in one view (offset ``t1 - t2``) or at one time (offset
  ``v1 - v2``), so each pair sees exactly the relative frame offset the base
  saw in that video, and the pretrained attention logits are unchanged.
  Which axis an offset runs along is told by two learned tables, a view and
  a time embedding added to the tokens, zero at initialisation.
* **Mode context.** A block sees both axes at once, so neither the
  freeze-time nor the dynamic context embedding is right alone. The model
  learns its own context, initialised to the mean of the two (a test checks
  it), trained with the base.

At initialisation the model is therefore the base run over the union of the
two videos through each frame, with the averaged context: a sensible start,
not the identity of the frozen-base variants.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from einops import rearrange
from torch import Tensor, nn

from core.grid import MODE_INDEX
from model.config import FourDConfig
from model.dit import DiT, run_block
from model.fourd import check_base
from model.layers import Rope
from model.rope import rope_at
from model.sparse import dense_grid_mask, frame_axes, grid_block_mask

# The base's linear layers LoRA adapts (inside every block): attention and MLP.
LORA_TARGETS = r"blocks\.\d+\.(attn\.(qkv|proj)|mlp\.(fc1|fc2))"
# ``memory-proxy`` is for memory traces only (model.memory): unmasked SDPA, whose kernel
# saves what the block-mask kernel saves (output + log-sum-exp per query, never the scores),
# so a CPU trace of a CUDA run is right about memory; its numbers are not the model's.
ATTENTION_BACKENDS = ("auto", "sdpa", "flex", "memory-proxy")

LayerObserver = Callable[[int, Tensor, Tensor], None]


def add_lora(base: DiT, rank: int) -> None:
    """Freeze ``base`` and add trainable rank-``rank`` LoRA adapters (peft) to its block linears.

    LoRA's ``B`` starts at zero, so the adapted base computes what the base did.
    """
    from peft import LoraConfig, inject_adapter_in_model

    base.requires_grad_(False)
    inject_adapter_in_model(
        LoraConfig(r=rank, lora_alpha=rank, target_modules=LORA_TARGETS, lora_dropout=0.0), base
    )
    for name, param in base.named_parameters():
        param.requires_grad_("lora_" in name)


def _is_fake(tensor: Tensor) -> bool:
    from torch._subclasses.fake_tensor import FakeTensor

    return isinstance(tensor, FakeTensor)


class FusedModel(nn.Module):
    """A fine-tuned base with fused view-time attention: the 4Real-Video-V2 variant."""

    def __init__(self, base: DiT, cfg: FourDConfig):
        super().__init__()
        check_base(base, cfg)
        self.cfg = cfg
        self.base = base
        dim, frames = cfg.base.dim, cfg.base.max_frames
        rows = base.context_embed.weight[[MODE_INDEX["freeze_time"], MODE_INDEX["dynamic"]]]
        self.fused_context = nn.Parameter(rows.detach().mean(0).clone())  # (D,)
        self.view_embed = nn.Parameter(torch.zeros(frames, dim, device=rows.device))
        self.time_embed = nn.Parameter(torch.zeros(frames, dim, device=rows.device))
        if cfg.finetune == "lora" and _is_fake(rows):
            # A memory trace (model.memory, fake tensors): peft cannot move its adapters onto
            # fake tensors, and rank-r adapters weigh nothing next to the frozen base it traces.
            base.requires_grad_(False)
        elif cfg.finetune == "lora":
            add_lora(base, cfg.lora_rank)
        else:
            base.requires_grad_(True)
        self.attention = "auto"  # auto: flex_attention's block mask on CUDA, SDPA elsewhere
        self._rope_cache: dict[tuple, Rope] = {}

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The base (or its LoRA adapters), the fused context and the axis embeddings."""
        return [p for p in self.parameters() if p.requires_grad]

    # ----------------------------------------------------------- pieces
    def rope(self, V: int, T: int, h: int, w: int, device) -> Rope:
        """RoPE of the ``(v, t, patch)`` layout, frame ``(v, t)`` at frame position ``v + t``."""
        key = (V, T, h, w, str(device))
        if key not in self._rope_cache:
            view, time = frame_axes(V, T, 1, device)
            base = self.cfg.base
            self._rope_cache[key] = rope_at(view + time, h, w, base.head_dim, base.rope_theta)
        return self._rope_cache[key]

    def mask(self, V: int, T: int, n: int, device: torch.device):
        """The same-view-or-same-time pattern in the form the backend runs."""
        backend = self.attention
        if backend not in ATTENTION_BACKENDS:
            raise ValueError(f"attention must be one of {ATTENTION_BACKENDS}, got {backend!r}")
        if backend == "auto":
            backend = "flex" if device.type == "cuda" else "sdpa"
        if backend == "flex":
            return grid_block_mask(V, T, n, device)
        if backend == "memory-proxy":
            return None
        return dense_grid_mask(V, T, n, device)

    def condition(self, s: Tensor) -> Tensor:
        """``s [B]`` -> ``c [B, D]``: timestep embedding plus the learned fused context."""
        return self.base.t_embedder(s) + self.fused_context

    @property
    def _recompute(self) -> bool:
        return bool(self.cfg.base.grad_checkpointing) and self.training

    # ----------------------------------------------------------- forward
    def stream_velocities(
        self, x: Tensor, s: Tensor, known: Tensor, observe: LayerObserver | None = None
    ) -> tuple[Tensor, Tensor]:
        """One stream: its velocity twice (the interface of the two-stream models)."""
        base = self.base
        B, V, T, _, H, W = x.shape
        h, w = base.patch_grid(H, W)
        tokens = base.embed(
            rearrange(x, "b v t c hh ww -> (b v) t c hh ww"), rearrange(known, "b v t -> (b v) t")
        )  # (B V, T, n, D)
        tokens = rearrange(tokens, "(b v) t n d -> b v t n d", b=B)
        tokens = tokens + self.view_embed[:V, None, None] + self.time_embed[None, :T, None]
        n = tokens.shape[3]
        c = self.condition(s)  # (B, D)
        rope, mask = self.rope(V, T, h, w, x.device), self.mask(V, T, n, x.device)
        tok = rearrange(tokens, "b v t n d -> b (v t n) d")
        for i, block in enumerate(base.blocks):
            tok = run_block(block, tok, c, rope, self._recompute, mask)
            if observe is not None:
                grid = rearrange(tok, "b (v t n) d -> b v t n d", v=V, t=T)
                observe(i, grid, grid)
        out = base.head(rearrange(tok, "b (f n) d -> b f n d", n=n), c, h, w)
        velocity = base.to_velocity(rearrange(out, "b (v t) c hh ww -> b v t c hh ww", v=V), x, s)
        return velocity, velocity

    def forward(self, x: Tensor, s: Tensor, known: Tensor) -> Tensor:
        """``x [B, V, T, 3, H, W]``, ``s [B]``, ``known [B, V, T]`` -> ``[B, V, T, 3, H, W]``."""
        return self.stream_velocities(x, s, known)[0]
