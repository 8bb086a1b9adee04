"""Diffusion upsampler: low-resolution videos to ``scale`` x larger ones (72x128 -> 288x512).

A DiT over the frames of one video (full spatio-temporal attention, large
patches) whose input is the noisy high-resolution frames concatenated on
channels with the bilinearly upsampled low-resolution frames. The condition is
noise-augmented, ``cond = (1 - a) up(low) + a e'``, and the level ``a`` is
embedded and added to the timestep condition, so one model copes with the
imperfect low-resolution frames a base model generates. With ``residual`` (the
default) the x0 head predicts the high-res frames minus the bicubic upsampling
of the clean low-res frames: the untrained upsampler returns bicubic, and
training learns only the detail bicubic misses.

``Upsampler(cfg)(x, s, cond, aug) -> velocity``

* ``x``    float ``[B, F, 3, H, W]`` noisy high-res frames (``H = scale * h``);
* ``s``    float ``[B]`` flow time;
* ``cond`` float ``[B, F, 3, H, W]`` augmented, upsampled low-res frames;
* ``aug``  float ``[B]`` augmentation level ``a`` in [0, 1).

At generation every fixed-view video ``grid[v, :]`` of a grid is one video
(``model.sampling.upsample``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from core.grid import MODE_INDEX
from model.config import UpsamplerConfig
from model.dit import DiT
from model.flow import flow_loss
from model.layers import TimestepEmbedder


def upsample_frames(low: Tensor, scale: int, mode: str = "bilinear") -> Tensor:
    """``low [B, F, C, h, w]`` -> ``[B, F, C, scale h, scale w]`` (bilinear by default)."""
    B = low.shape[0]
    x = rearrange(low, "b f c h w -> (b f) c h w")
    x = F.interpolate(x, scale_factor=scale, mode=mode, align_corners=False)
    return rearrange(x, "(b f) c h w -> b f c h w", b=B)


def bicubic_frames(low: Tensor, scale: int) -> Tensor:
    """Bicubic, clamped to the frame range: the residual head's starting point."""
    return upsample_frames(low, scale, mode="bicubic").clamp(-1, 1)


def downsample_frames(high: Tensor, scale: int) -> Tensor:
    """Area average: ``high [B, F, C, H, W]`` -> ``[B, F, C, H / scale, W / scale]``."""
    B = high.shape[0]
    x = F.avg_pool2d(rearrange(high, "b f c h w -> (b f) c h w"), scale)
    return rearrange(x, "(b f) c h w -> b f c h w", b=B)


def augment_condition(cond: Tensor, level: Tensor, noise: Tensor) -> Tensor:
    """``(1 - a) cond + a noise`` with ``level [B]``."""
    a = level.reshape(-1, *([1] * (cond.ndim - 1))).to(cond.dtype)
    return (1 - a) * cond + a * noise


class Upsampler(nn.Module):
    """Video-aware diffusion upsampler conditioned on upsampled low-res frames."""

    def __init__(self, cfg: UpsamplerConfig):
        super().__init__()
        self.cfg = cfg
        self.net = DiT(cfg.dit())
        self.aug_embedder = TimestepEmbedder(cfg.dim)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        # The DiT initialises itself; the augmentation embedder like its timestep embedder.
        nn.init.normal_(self.aug_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.aug_embedder.mlp[2].weight, std=0.02)
        nn.init.zeros_(self.aug_embedder.mlp[0].bias)
        nn.init.zeros_(self.aug_embedder.mlp[2].bias)

    def forward(
        self, x: Tensor, s: Tensor, cond: Tensor, aug: Tensor, base: Tensor | None = None
    ) -> Tensor:
        """``x, cond [B, F, 3, H, W]``, ``s, aug [B]`` -> velocity ``[B, F, 3, H, W]``.

        ``base [B, F, 3, H, W]``: what a residual head adds its output to, the clean
        low-res frames upsampled (``bicubic_frames``); the condition itself when None.
        """
        B, Fr = x.shape[:2]
        known = torch.zeros(B, Fr, dtype=torch.bool, device=x.device)  # all frames predicted
        context = torch.full((B,), MODE_INDEX["dynamic"], device=x.device)
        cond = cond.to(x.dtype)
        inp = torch.cat([x, cond], dim=2)  # (B, F, 6, H, W)
        offset = None
        if self.cfg.residual:  # x0 = base + head: the untrained upsampler returns base
            offset = cond if base is None else base.to(x.dtype)
        return self.net(inp, s, context, known, cond_extra=self.aug_embedder(aug), x0_offset=offset)

    def velocity_fn(self, cond: Tensor, aug: Tensor, base: Tensor | None = None):
        """A ``velocity(x, s, known)`` closure for ``model.flow.euler_sample``."""
        return lambda x, s, known: self(x, s, cond, aug, base)


def upsampler_loss(
    model: Upsampler,
    high: Tensor,
    *,
    net=None,
    low: Tensor | None = None,
    generator: torch.Generator | None = None,
    timestep_sampler: str = "logit_normal",
    aug: Tensor | None = None,
    aug_noise: Tensor | None = None,
    **drawn,
) -> Tensor:
    """Training loss on high-res clips ``high [B, F, 3, H, W]`` (low-res made by area pooling).

    ``net`` is what runs the forward pass when it is not the bare ``model`` (a DDP or
    compiled wrapper of it); the configuration is read from ``model``. Randomness
    drawn by the caller may be given: ``aug [B]`` (the augmentation level, already
    scaled by ``max_aug``), ``aug_noise`` (like ``high``), and ``flow_loss``'s
    ``s``, ``noise`` and ``per_sample`` in ``drawn``.
    """
    net = model if net is None else net
    scale = model.cfg.scale
    B = high.shape[0]
    if low is None:
        low = downsample_frames(high, scale)  # (B, F, 3, H/s, W/s)
    if aug is None:
        aug = torch.rand(B, generator=generator, device=high.device) * model.cfg.max_aug
    if aug_noise is None:
        aug_noise = torch.randn(
            high.shape, generator=generator, device=high.device, dtype=high.dtype
        )
    cond = augment_condition(upsample_frames(low, scale), aug, aug_noise)
    base = bicubic_frames(low, scale) if model.cfg.residual else None
    known = torch.zeros(high.shape[:2], dtype=torch.bool, device=high.device)
    return flow_loss(
        lambda x, s, k: net(x, s, cond, aug, base),
        high,
        known,
        generator=generator,
        timestep_sampler=timestep_sampler,
        **drawn,
    )
