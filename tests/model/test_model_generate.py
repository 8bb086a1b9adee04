"""Generation: conditioning frames kept bit for bit, finite outputs, seeded determinism."""

from __future__ import annotations

import pytest
import torch

from model.config import fourd_preset, upsampler_preset
from model.fourd import FourDModel
from model.sampling import generate_grid, generate_long_grid, upsample
from model.upsampler import Upsampler

V, T, H, W = 3, 4, 16, 32


@pytest.fixture
def fourd(random_base, randomize):
    model = FourDModel(random_base, fourd_preset("tiny", "soft"))
    randomize(model.sync_layers, seed=5, std=0.02)  # a "trained" sync layer
    return model.eval()


@pytest.fixture
def conditioning():
    gen = torch.Generator().manual_seed(0)
    fixed_view = torch.rand(T, 3, H, W, generator=gen) * 2 - 1  # grid[0, :]
    freeze_time = torch.rand(V, 3, H, W, generator=gen) * 2 - 1  # grid[:, 0]
    freeze_time[0] = fixed_view[0]  # both contain grid[0, 0]
    return fixed_view, freeze_time


def test_generate_grid_keeps_conditioning_exactly(fourd, conditioning):
    fixed_view, freeze_time = conditioning
    grid = generate_grid(fourd, fixed_view, freeze_time, steps=3, seed=7)
    assert grid.shape == (V, T, 3, H, W) and grid.dtype == fixed_view.dtype
    assert torch.isfinite(grid).all() and grid.abs().max() <= 1
    assert torch.equal(grid[0, :], fixed_view)
    assert torch.equal(grid[:, 0], freeze_time)
    assert torch.equal(grid, generate_grid(fourd, fixed_view, freeze_time, steps=3, seed=7))
    other = generate_grid(fourd, fixed_view, freeze_time, steps=3, seed=8)
    assert not torch.equal(grid[1:, 1:], other[1:, 1:])


@pytest.mark.parametrize("sync", ["hard", "sequential"])
def test_generate_grid_other_syncs_and_guidance(random_base, conditioning, sync):
    model = FourDModel(random_base, fourd_preset("tiny", sync))
    fixed_view, freeze_time = conditioning
    grid = generate_grid(
        model, fixed_view, freeze_time, steps=2, seed=0, guidance_scale=1.5, shift=2.0
    )
    assert torch.isfinite(grid).all()
    assert torch.equal(grid[0, :], fixed_view) and torch.equal(grid[:, 0], freeze_time)


def test_generate_grid_rejects_bad_inputs(fourd, conditioning):
    fixed_view, freeze_time = conditioning
    with pytest.raises(ValueError, match=r"grid\[0, 0\]"):
        generate_grid(fourd, fixed_view, -freeze_time, steps=1)
    with pytest.raises(ValueError, match="height"):
        generate_grid(fourd, fixed_view[..., :14, :], freeze_time[..., :14, :], steps=1)
    with pytest.raises(ValueError, match="max_frames"):
        generate_grid(fourd, fixed_view.repeat(3, 1, 1, 1), freeze_time, steps=1)


def test_upsample_grid(randomize):
    torch.manual_seed(0)
    cfg = upsampler_preset("tiny")
    upsampler = randomize(Upsampler(cfg), seed=3, std=0.02).eval()
    low = torch.rand(V, T, 3, cfg.low_height, cfg.low_width) * 2 - 1
    high = upsample(upsampler, low, steps=2, seed=1)
    assert high.shape == (V, T, 3, cfg.height, cfg.width)
    assert torch.isfinite(high).all()
    assert torch.equal(high, upsample(upsampler, low, steps=2, seed=1))
    chunked = upsample(upsampler, low, steps=2, seed=1, views_per_batch=2)
    torch.testing.assert_close(chunked, high, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="aug_level"):
        upsample(upsampler, low, aug_level=1.0)


def test_generate_long_grid_chains_windows(fourd, conditioning):
    fixed_view, freeze_time = conditioning
    long_view = torch.cat([fixed_view, fixed_view.flip(0)[1:]])  # T_long = 7
    grid = generate_long_grid(fourd, long_view, freeze_time, window=T, steps=2, seed=3)
    assert grid.shape == (V, 7, 3, H, W) and torch.isfinite(grid).all()
    assert torch.equal(grid[0, :], long_view) and torch.equal(grid[:, 0], freeze_time)
    first = generate_grid(fourd, long_view[:T], freeze_time, steps=2, seed=3)
    assert torch.equal(grid[:, :T], first)  # window 0; window 1 starts from its last column
    second = generate_grid(fourd, long_view[T - 1 :], first[:, -1], steps=2, seed=4)
    assert torch.equal(grid[:, T - 1 :], second)
