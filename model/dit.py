"""The base video model ``phi``: a pixel-space DiT over the frames of one video.

``DiT(cfg)(x, s, context, known) -> velocity``

* ``x``       float ``[B, F, C_in, H, W]``, frames in [-1, 1]; known frames clean;
* ``s``       float ``[B]``, flow time in [0, 1] (1 = pure noise);
* ``context`` long ``[B]``, ``core.grid.MODE_INDEX`` (0 dynamic, 1 freeze_time);
* ``known``   bool ``[B, F]``, True where the frame is given clean;
* returns     float ``[B, F, C_out, H, W]``, the predicted velocity ``e - x0``.

The pieces are public so the 4D model can reuse them on other token layouts:
``embed`` (patchify + known-frame embedding), ``condition`` (timestep +
context), ``rope`` (positions of a (frames, h, w) layout), ``blocks`` and
``head`` (final layer + unpatchify).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.utils.checkpoint import (
    CheckpointPolicy,
    checkpoint,
    create_selective_checkpoint_contexts,
)

from model.config import DiTConfig, checkpointing_mode
from model.flow import velocity_from_x0
from model.layers import DiTBlock, FinalLayer, PatchEmbed, Rope, TimestepEmbedder
from model.rope import rope_3d

# Kept by selective checkpointing: the outputs of the expensive ops (matmuls, attention).
SAVED_OPS = {
    torch.ops.aten.mm.default,
    torch.ops.aten.addmm.default,
    torch.ops.aten.bmm.default,
    torch.ops.aten._scaled_dot_product_flash_attention.default,
    torch.ops.aten._scaled_dot_product_efficient_attention.default,
    torch.ops.aten._scaled_dot_product_cudnn_attention.default,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default,
}


def _keep_matmuls(ctx, op, *args, **kwargs) -> CheckpointPolicy:
    return CheckpointPolicy.MUST_SAVE if op in SAVED_OPS else CheckpointPolicy.PREFER_RECOMPUTE


def _selective_contexts():
    return create_selective_checkpoint_contexts(_keep_matmuls)


def run_block(
    block: DiTBlock, x: Tensor, c: Tensor, rope: Rope, recompute: bool, mask=None
) -> Tensor:
    """``block(x, c, rope, mask)``, with activation checkpointing when ``recompute``.

    How much is recomputed is the block's ``checkpointing`` mode (set by
    :meth:`DiT.set_checkpointing`): True recomputes the whole block in
    backward, ``"selective"`` only its pointwise ops.
    """
    if not recompute or not torch.is_grad_enabled():
        return block(x, c, rope, mask)
    if block.checkpointing == "selective":
        return checkpoint(
            block, x, c, rope, mask, use_reentrant=False, context_fn=_selective_contexts
        )
    return checkpoint(block, x, c, rope, mask, use_reentrant=False)


class DiT(nn.Module):
    """Pixel-space video diffusion transformer with adaLN-Zero blocks."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.in_channels, cfg.dim)
        self.known_embed = nn.Embedding(2, cfg.dim)  # 0 = to predict, 1 = given clean
        self.t_embedder = TimestepEmbedder(cfg.dim)
        self.context_embed = nn.Embedding(cfg.num_contexts, cfg.dim)
        self.blocks = nn.ModuleList(
            DiTBlock(cfg.dim, cfg.heads, cfg.mlp_ratio, cfg.qk_norm) for _ in range(cfg.depth)
        )
        self.final_layer = FinalLayer(cfg.dim, cfg.patch_size, cfg.out_channels)
        self._rope_cache: dict[tuple, Rope] = {}
        self.checkpointing: bool | str = False
        self.set_checkpointing(cfg.grad_checkpointing)
        self.initialize_weights()

    def set_checkpointing(self, mode: bool | str) -> None:
        """Activation checkpointing of every block: False | True (full) | ``"selective"``.

        Changes memory and compute, never the numbers. A run setting, not part of the
        architecture: ``cfg`` stays the config the model was built with (a 4D model
        records its base's mode in its own config).
        """
        self.checkpointing = checkpointing_mode(mode)
        for block in self.blocks:
            block.checkpointing = self.checkpointing

    def initialize_weights(self) -> None:
        # Linear layers: xavier-uniform weights, zero biases (DiT).
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        # Embedding tables and the timestep MLP: small normal.
        nn.init.normal_(self.known_embed.weight, std=0.02)
        nn.init.normal_(self.context_embed.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        # Zero-out adaLN modulation: every block starts as the identity.
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
        # Zero-out the output layer: the initial prediction is 0.
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)

    # ----------------------------------------------------------- pieces
    def embed(self, x: Tensor, known: Tensor) -> Tensor:
        """``x [B, F, C, H, W]``, ``known [B, F]`` -> tokens ``[B, F, n, D]``."""
        tokens = self.patch_embed(x)  # (B, F, n, D)
        return tokens + self.known_embed(known.long())[:, :, None, :]

    def condition(self, s: Tensor, context: Tensor, extra: Tensor | None = None) -> Tensor:
        """``s [B]``, ``context [B]`` (long), optional ``extra [B, D]`` -> ``c [B, D]``."""
        c = self.t_embedder(s) + self.context_embed(context.long())
        return c if extra is None else c + extra

    def rope(self, frames: int, h: int, w: int, device) -> Rope:
        """RoPE (cos, sin) ``[frames * h * w, head_dim / 2]`` for a (frames, h, w) token layout."""
        key = (frames, h, w, str(device))
        if key not in self._rope_cache:
            self._rope_cache[key] = rope_3d(
                frames, h, w, self.cfg.head_dim, self.cfg.rope_theta, device
            )
        return self._rope_cache[key]

    def patch_grid(self, H: int, W: int) -> tuple[int, int]:
        """Patches per column and row of an ``H x W`` frame."""
        p = self.cfg.patch_size
        if H % p or W % p:
            raise ValueError(f"frame {H}x{W} is not divisible by patch_size {p}")
        return H // p, W // p

    def head(self, tokens: Tensor, c: Tensor, h: int, w: int) -> Tensor:
        """Final layer + unpatchify: ``tokens [B, F, n, D]``, ``c [B, D]`` -> ``[B, F, C, H, W]``."""
        p = self.cfg.patch_size
        out = self.final_layer(rearrange(tokens, "b f n d -> b (f n) d"), c)  # (B, F n, p p C)
        return rearrange(
            out, "b (f h w) (p q c) -> b f c (h p) (w q)", f=tokens.shape[1], h=h, w=w, p=p, q=p
        )

    def to_velocity(
        self, out: Tensor, x: Tensor, s: Tensor, x0_offset: Tensor | None = None
    ) -> Tensor:
        """The head's output as a velocity: as is, or from predicted clean frames.

        ``out [..., C_out, H, W]``; ``x`` the network input (its first ``C_out``
        channels are the noisy frames ``x_s``); ``s [B]``; ``x0_offset`` (x0 heads
        only) is added to the prediction: the head then predicts a residual over it.
        """
        if self.cfg.prediction == "velocity":
            if x0_offset is not None:
                raise ValueError("x0_offset needs an x0-predicting head")
            return out
        if x0_offset is not None:
            out = out + x0_offset
        return velocity_from_x0(out, x[..., : out.shape[-3], :, :], s)

    # ----------------------------------------------------------- forward
    def forward(
        self,
        x: Tensor,
        s: Tensor,
        context: Tensor,
        known: Tensor,
        cond_extra: Tensor | None = None,
        x0_offset: Tensor | None = None,
    ) -> Tensor:
        """``x [B, F, C_in, H, W]``, ``s [B]``, ``context [B]``, ``known [B, F]`` -> ``[B, F, C_out, H, W]``.

        ``x0_offset [B, F, C_out, H, W]``: see :meth:`to_velocity`.
        """
        B, F, _, H, W = x.shape
        h, w = self.patch_grid(H, W)
        tokens = self.embed(x, known)  # (B, F, n, D)
        c = self.condition(s, context, cond_extra)  # (B, D)
        rope = self.rope(F, h, w, x.device)
        x_tok = rearrange(tokens, "b f n d -> b (f n) d")  # (B, F n, D)
        recompute = bool(self.checkpointing) and self.training
        for block in self.blocks:
            x_tok = run_block(block, x_tok, c, rope, recompute)  # (B, F n, D)
        tokens = rearrange(x_tok, "b (f n) d -> b f n d", f=F)
        out = self.head(tokens, c, h, w)  # (B, F, C_out, H, W)
        return self.to_velocity(out, x, s, x0_offset)
