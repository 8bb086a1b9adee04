"""The diffusion upsampler: shapes, conditioning, a training step."""

from __future__ import annotations

import torch

from model.config import upsampler_preset
from model.upsampler import (
    Upsampler,
    augment_condition,
    downsample_frames,
    upsample_frames,
    upsampler_loss,
)


def test_resampling_shapes_and_inverse():
    low = torch.rand(2, 3, 3, 4, 8)
    up = upsample_frames(low, 4)
    assert up.shape == (2, 3, 3, 16, 32)
    assert downsample_frames(up, 4).shape == low.shape
    flat = torch.full((1, 2, 3, 4, 8), 0.3)  # constant frames stay constant both ways
    torch.testing.assert_close(downsample_frames(upsample_frames(flat, 4), 4), flat)
    noise = torch.randn_like(up)
    level = torch.tensor([0.0, 1.0])
    aug = augment_condition(up, level, noise)
    assert torch.equal(aug[0], up[0]) and torch.equal(aug[1], noise[1])


def test_upsampler_forward_and_training_step(randomize):
    torch.manual_seed(0)
    cfg = upsampler_preset("tiny")
    model = Upsampler(cfg)
    x = torch.randn(2, 3, 3, cfg.height, cfg.width)
    cond = upsample_frames(torch.rand(2, 3, 3, cfg.low_height, cfg.low_width), cfg.scale)
    out = model(x, torch.rand(2), cond, torch.zeros(2))
    assert out.shape == (2, 3, 3, cfg.height, cfg.width)
    randomize(model, seed=4, std=0.02)
    a = model(x, torch.full((2,), 0.5), cond, torch.zeros(2))
    assert not torch.allclose(a, model(x, torch.full((2,), 0.5), cond.flip(1), torch.zeros(2)))
    assert not torch.allclose(a, model(x, torch.full((2,), 0.5), cond, torch.full((2,), 0.2)))
    # video-aware: changing one frame's condition changes the other frames' output
    cond2 = cond.clone()
    cond2[:, 0] = 0
    b = model(x, torch.full((2,), 0.5), cond2, torch.zeros(2))
    assert not torch.allclose(a[:, 1:], b[:, 1:])

    # the loss the training engine uses: a few steps on one batch (same noise) lower it
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = upsampler_loss(model, x.clamp(-1, 1), generator=torch.Generator().manual_seed(0))
        loss.backward()
        assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters())
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_the_untrained_residual_upsampler_returns_bicubic():
    """The head starts at zero: a residual upsampler's sample is the bicubic start point
    (so training only has to learn what bicubic misses); a direct one's is not."""
    import dataclasses

    from model.config import config_from_dict, config_to_dict
    from model.sampling import upsample
    from model.upsampler import bicubic_frames

    torch.manual_seed(0)
    cfg = upsampler_preset("tiny")
    assert cfg.residual
    low = torch.rand(2, 3, 3, cfg.low_height, cfg.low_width) * 2 - 1  # [V, T, 3, h, w]
    want = bicubic_frames(low, cfg.scale)
    got = upsample(Upsampler(cfg).eval(), low, steps=4, aug_level=0.1)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    direct = Upsampler(dataclasses.replace(cfg, residual=False)).eval()
    assert (upsample(direct, low, steps=4) - want).abs().max() > 0.1
    # a config saved before the field existed is a direct upsampler
    saved = {k: v for k, v in config_to_dict(cfg).items() if k != "residual"}
    assert config_from_dict("upsampler", saved).residual is False
