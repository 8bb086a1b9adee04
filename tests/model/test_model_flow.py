"""Rectified flow: interpolation, targets, masked loss, timesteps, Euler sampler."""

from __future__ import annotations

import pytest
import torch

from model.flow import (
    euler_sample,
    flow_loss,
    interpolate,
    masked_mse,
    noisy_input,
    sample_timesteps,
    sampling_times,
    shift_time,
    velocity_target,
)


def _pair(shape=(2, 4, 3, 8, 8), seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=gen) * 2 - 1, torch.randn(shape, generator=gen)


def test_interpolation_endpoints_and_velocity():
    x0, e = _pair()
    assert torch.equal(interpolate(x0, e, torch.zeros(2)), x0)
    assert torch.equal(interpolate(x0, e, torch.ones(2)), e)
    s = torch.tensor([0.25, 0.7])
    ds = 1e-3
    numeric = (interpolate(x0, e, s + ds) - interpolate(x0, e, s)) / ds
    torch.testing.assert_close(numeric, velocity_target(x0, e), atol=1e-3, rtol=1e-3)


def test_noisy_input_keeps_known_frames_clean():
    x0, e = _pair()
    known = torch.tensor([[True, False, False, True], [False, False, False, False]])
    x_s = noisy_input(x0, e, torch.tensor([0.9, 0.9]), known)
    assert torch.equal(x_s[known], x0[known])
    torch.testing.assert_close(x_s[~known], (0.1 * x0 + 0.9 * e)[~known])


def test_masked_mse_ignores_known_frames():
    x0, e = _pair()
    known = torch.zeros(2, 4, dtype=torch.bool)
    known[:, :2] = True
    target = velocity_target(x0, e)
    pred = torch.randn_like(target)
    loss = masked_mse(pred, target, known)
    torch.testing.assert_close(loss, (pred - target)[:, 2:].square().mean())
    pred2 = pred.clone()
    pred2[:, :2] += 100.0  # garbage on known frames changes nothing
    assert torch.equal(masked_mse(pred2, target, known), loss)
    weight = torch.ones(2, 4, 1, 8, 8)
    torch.testing.assert_close(masked_mse(pred, target, known, weight), loss)


def test_flow_loss_zero_for_exact_velocity():
    x0, e = _pair()
    known = torch.zeros(2, 4, dtype=torch.bool)
    known[0, 0] = True
    s = torch.tensor([0.3, 0.8])
    exact = lambda x, s_, k: velocity_target(x0, e)  # noqa: E731
    assert flow_loss(exact, x0, known, s=s, noise=e).item() == 0.0


def test_sample_timesteps():
    gen = torch.Generator().manual_seed(0)
    for kind in ("logit_normal", "uniform"):
        s = sample_timesteps(1000, kind, generator=gen)
        assert s.shape == (1000,) and (s > 0).all() and (s < 1).all()
    with pytest.raises(ValueError, match="kind"):
        sample_timesteps(4, "cosine")


def test_shift_schedule():
    s = torch.linspace(0, 1, 11)
    torch.testing.assert_close(shift_time(s, 1.0), s)
    shifted = shift_time(s, 3.0)
    assert shifted[0] == 0 and shifted[-1] == 1 and (shifted[1:-1] > s[1:-1]).all()
    times = sampling_times(5, 3.0)
    assert times.shape == (6,) and times[0] == 1 and times[-1] == 0
    with pytest.raises(ValueError, match="steps"):
        sampling_times(0)
    with pytest.raises(ValueError, match="shift"):
        sampling_times(4, 0.0)


@pytest.mark.parametrize("steps,shift", [(1, 1.0), (7, 1.0), (10, 3.0)])
def test_euler_recovers_x0_with_exact_velocity(steps, shift):
    """Toy problem: data is one point x0; the exact velocity field is (x - x0) / s."""
    x0, e = _pair(seed=1)
    known = torch.zeros(2, 4, dtype=torch.bool)
    exact = lambda x, s, k: (x - x0) / s[:, None, None, None, None]  # noqa: E731
    out = euler_sample(exact, e, steps=steps, shift=shift, x_known=x0, known=known)
    torch.testing.assert_close(out, x0, atol=1e-5, rtol=1e-5)


def test_euler_keeps_known_frames_and_guidance():
    x0, e = _pair(seed=2)
    known = torch.zeros(2, 4, dtype=torch.bool)
    known[:, 0] = True
    known[1, 3] = True
    seen = []

    def velocity(x, s, k):
        seen.append(k.clone())
        return torch.sin(x) * s[:, None, None, None, None] + x.mean(dim=1, keepdim=True)

    out = euler_sample(velocity, e, steps=4, x_known=x0, known=known)
    assert torch.equal(out[known], x0[known])
    plain = out
    # guidance 1 is the plain sampler; guidance runs an unconditional pass with no known frames
    seen.clear()
    guided = euler_sample(velocity, e, steps=4, x_known=x0, known=known, guidance_scale=2.0)
    assert len(seen) == 8 and not seen[1].any() and torch.equal(seen[0], known)
    assert torch.equal(guided[known], x0[known]) and torch.isfinite(guided).all()
    assert not torch.equal(guided, plain)
