"""Rectified flow, as pure functions (docs/model.md#rectified-flow).

``x_s = (1 - s) x0 + s e``; the network predicts the velocity ``e - x0``;
``s = 1`` is noise, ``s = 0`` is data; sampling integrates the ODE from 1 to 0.

Per-frame conditioning: a boolean ``known`` mask over the leading frame axes
of ``x`` (``[B, F]`` for videos, ``[B, V, T]`` for grids). Known frames stay
clean (``x_s = x0`` there) and carry no loss.

A velocity function has the signature ``velocity(x, s, known) -> v`` with
``x`` and ``v`` of one shape, ``s [B]`` and ``known`` the frame mask.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

VelocityFn = Callable[[Tensor, Tensor, Tensor], Tensor]
TIMESTEP_SAMPLERS = ("logit_normal", "uniform")
# How the squared error of each noise level counts (docs/model.md#loss-weighting-and-training-noise-levels):
# "velocity" |v_hat - v|^2 as written; "x0" s^2 |v_hat - v|^2 = |x0_hat - x0|^2.
LOSS_WEIGHTINGS = ("velocity", "x0")


def expand_like(a: Tensor, x: Tensor) -> Tensor:
    """Append singleton axes to ``a`` until it broadcasts against ``x`` from the left."""
    return a.reshape(*a.shape, *([1] * (x.ndim - a.ndim)))


def interpolate(x0: Tensor, noise: Tensor, s: Tensor) -> Tensor:
    """``x_s = (1 - s) x0 + s e``; ``s [B]`` broadcasts over the rest."""
    s = expand_like(s, x0).to(x0.dtype)
    return (1 - s) * x0 + s * noise


def velocity_target(x0: Tensor, noise: Tensor) -> Tensor:
    """``d x_s / d s = e - x0``."""
    return noise - x0


# Below this flow time the x0 -> velocity conversion divides by it instead (JiT's clip):
# near s = 0 the velocity is ill-defined from x0 alone and a tiny s would blow errors up.
MIN_TIME = 0.05


def velocity_from_x0(x0_hat: Tensor, x_s: Tensor, s: Tensor) -> Tensor:
    """The velocity implied by a predicted clean sample: ``v = (x_s - x0_hat) / s``.

    From ``x_s = (1 - s) x0 + s e`` and ``v = e - x0``; ``s`` is clipped at ``MIN_TIME``.
    An Euler step from ``s`` to ``s'`` with it is ``x' = (s'/s) x + (1 - s'/s) x0_hat``:
    the last step (``s' = 0``) returns ``x0_hat`` itself.
    """
    s = expand_like(s.clamp_min(MIN_TIME), x_s).to(x_s.dtype)
    return (x_s - x0_hat) / s


def condition_frames(x: Tensor, x_known: Tensor, known: Tensor) -> Tensor:
    """Known frames of ``x`` replaced by the clean ``x_known``; ``known`` is the frame mask."""
    return torch.where(expand_like(known, x), x_known, x)


def noisy_input(x0: Tensor, noise: Tensor, s: Tensor, known: Tensor) -> Tensor:
    """``x_s`` with known frames left clean (= ``x0``)."""
    return condition_frames(interpolate(x0, noise, s), x0, known)


def sample_timesteps(
    n: int,
    kind: str = "logit_normal",
    *,
    generator: torch.Generator | None = None,
    device=None,
    mean: float = 0.0,
    std: float = 1.0,
    shift: float = 1.0,
) -> Tensor:
    """``[n]`` training times in (0, 1): ``logit_normal`` (SD3) or ``uniform``, then shifted
    by ``shift_time`` (``shift > 1`` trains more at high noise, where the known frames are
    all the model has to go on)."""
    if kind == "logit_normal":
        z = torch.randn(n, generator=generator, device=device) * std + mean
        s = torch.sigmoid(z)
    elif kind == "uniform":
        s = torch.rand(n, generator=generator, device=device)
    else:
        raise ValueError(f"kind must be one of {TIMESTEP_SAMPLERS}, got {kind!r}")
    return s if shift == 1.0 else shift_time(s, shift)


def masked_mse(
    pred: Tensor,
    target: Tensor,
    known: Tensor,
    weight: Tensor | None = None,
    per_sample: bool = False,
) -> Tensor:
    """Mean squared error over the frames that are *not* known, in float32.

    ``weight`` (optional, broadcastable to ``pred``, e.g. a per-pixel validity
    mask for warped pseudo-4D grids) further weights pixels. Returns a scalar;
    0 if every frame is known. ``per_sample``: the mean over samples of each
    sample's own masked mean, so that the loss of a batch is the average of the
    losses of any split of it (what gradient accumulation and DDP rely on).
    """
    w = (~expand_like(known, pred)).float().expand_as(pred)
    if weight is not None:
        w = w * weight.float()
    err = (pred.float() - target.float()).square() * w
    if per_sample:
        dims = tuple(range(1, err.ndim))
        return (err.sum(dims) / w.sum(dims).clamp_min(1.0)).mean()
    return err.sum() / w.sum().clamp_min(1.0)


def flow_loss(
    velocity: VelocityFn,
    x0: Tensor,
    known: Tensor,
    *,
    s: Tensor | None = None,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
    timestep_sampler: str = "logit_normal",
    weight: Tensor | None = None,
    per_sample: bool = False,
    weighting: str = "velocity",
) -> Tensor:
    """One rectified-flow training loss: noise the unknown frames, predict, masked MSE.

    ``weighting="x0"`` scales each sample's error by ``s`` (clipped at ``MIN_TIME``):
    the velocity error ``(x0 - x0_hat) / s`` becomes the error of the clean frames, so
    every noise level weighs the same in pixels instead of ``1 / s^2`` times more near
    the data -- where the conditioning frames matter least.
    """
    if weighting not in LOSS_WEIGHTINGS:
        raise ValueError(f"weighting must be one of {LOSS_WEIGHTINGS}, got {weighting!r}")
    if s is None:
        s = sample_timesteps(x0.shape[0], timestep_sampler, generator=generator, device=x0.device)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    x_s = noisy_input(x0, noise, s, known)
    pred, target = velocity(x_s, s, known), velocity_target(x0, noise)
    if weighting == "x0":
        scale = expand_like(s.clamp_min(MIN_TIME), pred).to(pred.dtype)
        pred, target = pred * scale, target * scale
    return masked_mse(pred, target, known, weight, per_sample)


def shift_time(s: Tensor, shift: float) -> Tensor:
    """SD3 schedule shift ``s' = shift s / (1 + (shift - 1) s)``; ``shift > 1`` favours high noise."""
    return shift * s / (1 + (shift - 1) * s)


def sampling_times(steps: int, shift: float = 1.0, device=None) -> Tensor:
    """``[steps + 1]`` times from 1 down to 0, shifted."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not (shift > 0 and math.isfinite(shift)):
        raise ValueError(f"shift must be > 0, got {shift}")
    return shift_time(
        torch.linspace(1.0, 0.0, steps + 1, device=device, dtype=torch.float64), shift
    )


@torch.no_grad()
def euler_sample(
    velocity: VelocityFn,
    noise: Tensor,
    *,
    steps: int,
    shift: float = 1.0,
    x_known: Tensor | None = None,
    known: Tensor | None = None,
    guidance_scale: float = 1.0,
) -> Tensor:
    """Integrate ``dx/ds = v`` from ``s = 1`` (``noise``) to ``s = 0`` with Euler steps.

    Known frames (``known`` mask, values from ``x_known``) are re-imposed clean
    before every step and at the end, so they come out unchanged. With
    ``guidance_scale != 1`` classifier-free guidance mixes in an unconditional
    pass: every frame marked unknown, the known frames noised to the current
    ``s`` with the same initial noise.
    """
    B = noise.shape[0]
    if known is None:
        known = torch.zeros(noise.shape[:2], dtype=torch.bool, device=noise.device)
        x_known = noise
    if x_known is None:
        raise ValueError("x_known must be given with known")
    times = sampling_times(steps, shift, noise.device)
    x = condition_frames(noise, x_known, known)
    for s_now, s_next in zip(times[:-1], times[1:], strict=True):
        s = torch.full((B,), float(s_now), device=noise.device)
        v = velocity(x, s, known)
        if guidance_scale != 1.0:
            x_uncond = condition_frames(x, interpolate(x_known, noise, s), known)
            v_uncond = velocity(x_uncond, s, torch.zeros_like(known))
            v = v_uncond + guidance_scale * (v - v_uncond)
        x = x + float(s_next - s_now) * v
        x = condition_frames(x, x_known, known)
    return x
