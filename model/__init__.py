"""fourreal.model: pixel-space 4D video diffusion (docs/model.md). No Prefect in here.

Tensors: frames are float in [-1, 1], channels first. A video is
``[B, F, 3, H, W]``; a grid is ``[B, V, T, 3, H, W]`` with ``grid[:, :, t]``
the freeze-time video at ``t`` and ``grid[:, v]`` the fixed-view video at
``v`` (core.grid). Known-frame masks are bool, True = given clean (no
loss): ``[B, F]`` for videos, ``[B, V, T]`` for grids. Flow time ``s [B]`` in
[0, 1], 1 = noise. Every model predicts the velocity ``e - x0``.

Configs (``model.config``; frozen dataclasses, ValueError naming the field)
    DiTConfig, FourDConfig(base=DiTConfig, sync="soft"|"hard"|"sequential"),
    UpsamplerConfig; presets ``base_preset(name)``, ``fourd_preset(name, sync)``,
    ``upsampler_preset(name)`` for name in tiny | small | paper;
    ``validate_for_data(cfg, V, T, H, W)``.

Models
    DiT(cfg)(x [B,F,3,H,W], s [B], context [B] long, known [B,F]) -> [B,F,3,H,W]
        context = core.grid.MODE_INDEX (0 dynamic, 1 freeze_time).
        Pieces for reuse: .embed, .condition, .rope, .blocks, .head;
        a block is ``block(tokens [B,N,D], c [B,D], rope)``.
    FourDModel(base, cfg)(x [B,V,T,3,H,W], s [B], known [B,V,T]) -> [B,V,T,3,H,W]
        frozen base (eval, no grad) + sync layers (shared timestep modulation,
        one layer per block; sequential has soft's budget); .trainable_parameters();
        .stream_velocities(...) -> (view, time), forward averages them.
    Upsampler(cfg)(x [B,F,3,H,W], s [B], cond [B,F,3,H,W], aug [B]) -> [B,F,3,H,W]
        cond = noise-augmented bilinear upsampling of the low-res frames.

Training (``model.flow``, ``model.masking``, ``model.upsampler``)
    flow_loss(velocity_fn, x0, known, generator=..., timestep_sampler=..., weight=None)
        velocity_fn(x, s, known) -> v; e.g. for the base
        ``lambda x, s, k: dit(x, s, context, k)``; for the 4D model just ``model``.
    sample_known_mask(batch, frames, generator) -> [batch, frames] (base recipe)
    grid_condition_mask(batch, V, T) -> [batch, V, T] (grid[0,:] and grid[:,0] known)
    sample_grid_mask(batch, V, T, mix) -> [batch, V, T] (4D training: one grid pattern each)
    upsampler_loss(upsampler, high [B,F,3,H,W], generator=...)

Sampling (``model.flow``, ``model.sampling``)
    euler_sample(velocity_fn, noise, steps=, shift=, x_known=, known=, guidance_scale=)
    generate_grid(model, fixed_view_video [T,3,H,W], freeze_time_video [V,3,H,W],
                  steps=50, seed=0, shift=1.0, guidance_scale=1.0) -> [V,T,3,H,W]
    generate_long_grid(model, fixed_view_video [T_long,3,H,W], freeze_time_video [V,3,H,W],
                       window=T, ...) -> [V,T_long,3,H,W] (autoregressive in time)
    upsample(upsampler, grid [V,T,3,h,w], steps=20, seed=0, aug_level=0.05) -> [V,T,3,4h,4w]

Checkpoints (``model.checkpoint``): safetensors + JSON sidecar, atomic
    save_model(path, model, config, extra) ; load_model(path) -> (model, config, extra)

Sizes (``model.flops``): param_count(cfg), estimate_flops_per_step(...), mfu(...);
``python -m model.flops`` prints every preset's parameter count.
"""

from model.checkpoint import build_model, load_model, save_model
from model.config import (
    DiTConfig,
    FourDConfig,
    UpsamplerConfig,
    base_preset,
    fourd_preset,
    upsampler_preset,
    validate_for_data,
)
from model.dit import DiT
from model.flow import euler_sample, flow_loss, masked_mse, sample_timesteps
from model.fourd import FourDModel, build_fourd
from model.masking import grid_condition_mask, sample_grid_mask, sample_known_mask
from model.sampling import generate_grid, generate_long_grid, upsample
from model.upsampler import Upsampler, upsampler_loss

__all__ = [
    "DiT",
    "DiTConfig",
    "FourDConfig",
    "FourDModel",
    "Upsampler",
    "UpsamplerConfig",
    "base_preset",
    "build_fourd",
    "build_model",
    "euler_sample",
    "flow_loss",
    "fourd_preset",
    "generate_grid",
    "generate_long_grid",
    "grid_condition_mask",
    "load_model",
    "masked_mse",
    "sample_grid_mask",
    "sample_known_mask",
    "sample_timesteps",
    "save_model",
    "upsample",
    "upsampler_loss",
    "upsampler_preset",
    "validate_for_data",
]
