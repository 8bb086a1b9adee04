"""Generation: a whole grid from its first fixed-view and freeze-time videos, then upsampling.

``generate_grid(model, fixed_view_video [T, 3, H, W], freeze_time_video [V, 3, H, W])``
returns ``[V, T, 3, H, W]`` with ``grid[0, :]`` and ``grid[:, 0]`` equal to the
given frames bit for bit. ``upsample(upsampler, grid)`` returns
``[V, T, 3, scale H, scale W]``, every fixed-view video upsampled as one video.
``generate_long_grid`` extends a grid in time autoregressively: windows of
``window`` times overlapping by one, each conditioned on its first generated
freeze-time video and on the given fixed-view frames (the cross pattern the
4D model is trained on).

All randomness comes from ``seed``: the same call gives the same result.
"""

from __future__ import annotations

import torch
from torch import Tensor

from model.config import validate_for_data
from model.flow import euler_sample
from model.fourd import FourDModel
from model.masking import grid_condition_mask
from model.upsampler import Upsampler, augment_condition, bicubic_frames, upsample_frames

__all__ = ["generate_grid", "generate_long_grid", "upsample"]


def _device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


def _generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


@torch.no_grad()
def generate_grid(
    model: FourDModel,
    fixed_view_video: Tensor,
    freeze_time_video: Tensor,
    *,
    steps: int = 50,
    seed: int = 0,
    shift: float = 1.0,
    guidance_scale: float = 1.0,
) -> Tensor:
    """The grid ``[V, T, 3, H, W]`` given ``grid[0, :]`` (``[T, 3, H, W]``) and ``grid[:, 0]`` (``[V, 3, H, W]``).

    ``grid[0, 0]`` appears in both inputs; they must agree within one uint8
    level, and the fixed-view video's frame is the one kept.
    """
    T, V = fixed_view_video.shape[0], freeze_time_video.shape[0]
    if fixed_view_video.shape[1:] != freeze_time_video.shape[1:]:
        raise ValueError(
            f"freeze_time_video frames {tuple(freeze_time_video.shape[1:])} differ from "
            f"fixed_view_video frames {tuple(fixed_view_video.shape[1:])}"
        )
    if fixed_view_video.ndim != 4 or fixed_view_video.shape[1] != 3:
        raise ValueError(
            f"fixed_view_video must be [T, 3, H, W], got {tuple(fixed_view_video.shape)}"
        )
    if (fixed_view_video[0] - freeze_time_video[0]).abs().max() > 1.0 / 127.5:
        raise ValueError("freeze_time_video[0] and fixed_view_video[0] (both grid[0, 0]) differ")
    H, W = fixed_view_video.shape[-2:]
    validate_for_data(model.cfg, V, T, H, W)

    device = _device(model)
    x_known = torch.zeros(1, V, T, 3, H, W, device=device)  # (1, V, T, 3, H, W)
    x_known[0, :, 0] = freeze_time_video.to(device, torch.float32)
    x_known[0, 0, :] = fixed_view_video.to(device, torch.float32)
    known = grid_condition_mask(1, V, T, device=device)  # (1, V, T)
    noise = torch.randn(x_known.shape, generator=_generator(device, seed), device=device)
    grid = euler_sample(
        model,
        noise,
        steps=steps,
        shift=shift,
        x_known=x_known,
        known=known,
        guidance_scale=guidance_scale,
    )[0].clamp(-1, 1)  # (V, T, 3, H, W)
    grid = grid.to(fixed_view_video.device, fixed_view_video.dtype)
    # The sampler re-imposes the known frames; write the caller's tensors back bit for bit.
    grid[:, 0] = freeze_time_video
    grid[0, :] = fixed_view_video
    return grid


@torch.no_grad()
def generate_long_grid(
    model: FourDModel,
    fixed_view_video: Tensor,
    freeze_time_video: Tensor,
    *,
    window: int,
    steps: int = 50,
    seed: int = 0,
    shift: float = 1.0,
    guidance_scale: float = 1.0,
) -> Tensor:
    """``[V, T_long, 3, H, W]`` from ``grid[0, :]`` (``[T_long, 3, H, W]``) and ``grid[:, 0]``.

    Window ``i`` covers times ``[t0, t0 + window)`` with ``t0 = i (window - 1)``
    and is generated with seed ``seed + i``; its first column is the last
    column of the previous window, so the windows chain in time.
    """
    if window < 2:
        raise ValueError(f"window must be >= 2, got {window}")
    T_long = fixed_view_video.shape[0]
    grid = torch.empty(
        freeze_time_video.shape[0],
        T_long,
        *fixed_view_video.shape[1:],
        dtype=fixed_view_video.dtype,
        device=fixed_view_video.device,
    )  # (V, T_long, 3, H, W)
    grid[:, 0] = freeze_time_video
    for i, t0 in enumerate(range(0, max(T_long - 1, 1), window - 1)):
        t1 = min(t0 + window, T_long)
        grid[:, t0:t1] = generate_grid(
            model,
            fixed_view_video[t0:t1],
            grid[:, t0],
            steps=steps,
            seed=seed + i,
            shift=shift,
            guidance_scale=guidance_scale,
        )
    grid[0, :] = fixed_view_video
    return grid


@torch.no_grad()
def upsample(
    upsampler: Upsampler,
    grid: Tensor,
    *,
    steps: int = 20,
    seed: int = 0,
    shift: float = 1.0,
    aug_level: float = 0.05,
    views_per_batch: int | None = None,
) -> Tensor:
    """``grid [V, T, 3, h, w]`` -> ``[V, T, 3, scale h, scale w]``, one fixed-view video at a time.

    Every view starts from the same noise (and the same augmentation noise):
    identical low-res views give identical high-res views. ``aug_level`` is the condition's noise-augmentation level at inference;
    ``views_per_batch`` bounds memory (default: all views in one batch).
    """
    if grid.ndim != 5 or grid.shape[2] != 3:
        raise ValueError(f"grid must be [V, T, 3, h, w], got {tuple(grid.shape)}")
    if not 0.0 <= aug_level < 1.0:
        raise ValueError(f"aug_level must be in [0, 1), got {aug_level}")
    V, T, _, h, w = grid.shape
    scale = upsampler.cfg.scale
    device = _device(upsampler)
    gen = _generator(device, seed)
    # One noise video shared by every view (sampler start and condition augmentation):
    # the views then differ only where their low-res frames differ, so a detail that is
    # the same in two views is not re-invented differently in each.
    shape = (1, T, 3, h * scale, w * scale)
    noise = torch.randn(shape, generator=gen, device=device).expand(V, -1, -1, -1, -1)
    aug_noise = torch.randn(shape, generator=gen, device=device).expand(V, -1, -1, -1, -1)

    low = grid.to(device, torch.float32)  # V fixed-view videos = a batch of V
    cond = augment_condition(
        upsample_frames(low, scale), torch.full((V,), aug_level, device=device), aug_noise
    )  # (V, T, 3, H, W)
    base = bicubic_frames(low, scale) if upsampler.cfg.residual else None
    chunk = views_per_batch or V
    out = []
    for i in range(0, V, chunk):
        aug = torch.full((min(chunk, V - i),), aug_level, device=device)
        part = None if base is None else base[i : i + chunk]
        fn = upsampler.velocity_fn(cond[i : i + chunk], aug, part)
        out.append(euler_sample(fn, noise[i : i + chunk], steps=steps, shift=shift))
    high = torch.cat(out).clamp(-1, 1)  # (V, T, 3, H, W)
    return high.to(grid.device, grid.dtype)
