"""Sanity before scale: the base and the 4D model can each memorise one small grid.

A model that cannot reproduce the one grid it trained on, from the frames it is
conditioned on, has a bug in its conditioning path (known frames, contexts,
stream layout, sampler), whatever its size. Here:

* the base DiT trains on the grid's fixed-view videos ``grid[v, :]`` (context
  dynamic) and freeze-time videos ``grid[:, t]`` (context freeze_time), first
  frame given, and then generates each of them from its first frame;
* a 4D model around that base trains its sync layers (the base frozen) on the
  grid with the inference mask, and generates the grid from ``grid[0, :]`` and
  ``grid[:, 0]`` (model.sampling.generate_grid, the user's path).

Both must reproduce the generated frames at >= 30 dB PSNR (an untrained model
scores ~10 dB). Training is plain Adam on the library's ``flow_loss``, a few
seconds on one CPU thread.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.grid import MODE_INDEX
from model.config import DiTConfig, FourDConfig
from model.dit import DiT
from model.flow import euler_sample, flow_loss
from model.fourd import FourDModel
from model.masking import grid_condition_mask
from model.sampling import generate_grid
from tasks.baselines import generated_frames
from tasks.metrics import psnr

V, T, H, W = 3, 3, 8, 8
TARGET_DB = 30.0


def one_grid() -> torch.Tensor:
    """``[V, T, 3, H, W]`` in [-1, 1]: a square that moves with the view and with time,
    over a gradient, so every frame differs from every other."""
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    grid = torch.empty(V, T, 3, H, W)
    for v in range(V):
        for t in range(T):
            frame = torch.stack([xx / W, yy / H, torch.full((H, W), 0.2 * v)]) - 0.5
            y0, x0 = 1 + t, 1 + v
            frame[:, y0 : y0 + 3, x0 : x0 + 3] = torch.tensor([0.9, -0.8, 0.3 * t])[:, None, None]
            grid[v, t] = frame
    return grid.clamp(-1, 1)


def clips_of(grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every fixed-view and freeze-time video of the grid, ``[V + T, F, 3, H, W]``, and contexts."""
    clips = [grid[v] for v in range(V)] + [grid[:, t] for t in range(T)]
    ctx = [MODE_INDEX["dynamic"]] * V + [MODE_INDEX["freeze_time"]] * T
    return torch.stack(clips), torch.tensor(ctx)


def fit(velocity, params, x0: torch.Tensor, known: torch.Tensor, steps: int, lr: float) -> None:
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(params, lr=lr)
    for step in range(steps):
        for group in opt.param_groups:  # cosine to 0: the last steps polish
            group["lr"] = lr * 0.5 * (1 + np.cos(np.pi * step / steps))
        s = torch.rand(x0.shape[0], generator=gen)
        loss = flow_loss(velocity, x0, known, s=s, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


@pytest.fixture(scope="module")
def memorised_base() -> DiT:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # module scope: before the per-test one-thread fixture
    try:
        return _memorise_base()
    finally:
        torch.set_num_threads(threads)


def _memorise_base() -> DiT:
    torch.manual_seed(0)
    cfg = DiTConfig(height=H, width=W, max_frames=4, patch_size=4, dim=64, depth=2, heads=4)
    base = DiT(cfg).train()
    clips, ctx = clips_of(one_grid())
    known = torch.zeros(clips.shape[:2], dtype=torch.bool)
    known[:, 0] = True  # the first frame given: how the 4D model's streams use the base

    def velocity(x, s, k):
        return base(x, s, ctx, k)

    with torch.no_grad():
        before = base_generation_psnr(base, clips, ctx, known)
    fit(velocity, base.parameters(), clips, known, steps=1200, lr=5e-3)
    base.eval()
    base.untrained_psnr = before
    return base


def base_generation_psnr(base: DiT, clips, ctx, known) -> float:
    noise = torch.randn(clips.shape, generator=torch.Generator().manual_seed(1))
    out = euler_sample(lambda x, s, k: base(x, s, ctx, k), noise, steps=10,
                       x_known=clips, known=known)  # fmt: skip
    return psnr(to_uint8(out[:, 1:]), to_uint8(clips[:, 1:]))


def test_base_memorises_one_grid(memorised_base):
    clips, ctx = clips_of(one_grid())
    known = torch.zeros(clips.shape[:2], dtype=torch.bool)
    known[:, 0] = True
    with torch.no_grad():
        score = base_generation_psnr(memorised_base, clips, ctx, known)
    assert memorised_base.untrained_psnr < 20.0  # the bar means something
    assert score >= TARGET_DB, f"base generation of its one training grid: {score:.1f} dB"


@pytest.mark.parametrize("sync", ["soft", "hard"])
def test_fourd_memorises_one_grid(memorised_base, sync):
    import copy

    grid = one_grid()
    model = FourDModel(copy.deepcopy(memorised_base), FourDConfig(base=memorised_base.cfg,
                                                                   sync=sync))  # fmt: skip
    known = grid_condition_mask(4, V, T)
    fit(model, model.trainable_parameters(), grid.expand(4, *grid.shape), known,
        steps=200, lr=1e-3)  # fmt: skip
    model.eval()
    out = generate_grid(model, grid[0, :], grid[:, 0], steps=10, seed=3)
    frames = generated_frames(V, T)
    score = psnr(to_uint8(out)[frames], to_uint8(grid)[frames])
    assert score >= TARGET_DB, f"{sync} 4D generation of its one training grid: {score:.1f} dB"
