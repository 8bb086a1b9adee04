"""The base video DiT: shapes, reusable pieces, conditioning inputs, overfitting."""

from __future__ import annotations

import dataclasses
import time

import pytest
import torch
from einops import rearrange

from core.grid import MODE_INDEX
from model.dit import DiT
from model.flow import MIN_TIME, flow_loss, noisy_input, velocity_from_x0, velocity_target
from model.rope import apply_rope, rope_3d


def _inputs(B=2, F=4, H=16, W=32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(B, F, 3, H, W, generator=gen) * 2 - 1
    s = torch.rand(B, generator=gen)
    context = torch.tensor([MODE_INDEX["dynamic"], MODE_INDEX["freeze_time"]])[:B]
    known = torch.zeros(B, F, dtype=torch.bool)
    known[0, 0] = True
    return x, s, context, known


def test_fresh_model_predicts_zero(tiny_cfg):
    """A fresh head outputs 0: the zero velocity, or (x0 prediction) the grey frame x0 = 0,
    whose velocity is ``x_s / s`` (s clipped at MIN_TIME)."""
    x, s, context, known = _inputs()
    out = DiT(dataclasses.replace(tiny_cfg, prediction="velocity"))(x, s, context, known)
    assert out.shape == x.shape and torch.equal(out, torch.zeros_like(out))
    out = DiT(dataclasses.replace(tiny_cfg, prediction="x0"))(x, s, context, known)
    expected = x / s.clamp_min(MIN_TIME)[:, None, None, None, None]
    torch.testing.assert_close(out, expected)


def test_x0_prediction_euler_step_ends_on_the_prediction():
    """v = (x_s - x0_hat) / s: one Euler step from s to 0 lands exactly on x0_hat."""
    gen = torch.Generator().manual_seed(0)
    x0_hat, x_s = torch.randn(2, 3, 4, 4, generator=gen), torch.randn(2, 3, 4, 4, generator=gen)
    s = torch.tensor([0.7, 0.3])
    v = velocity_from_x0(x0_hat, x_s, s)
    torch.testing.assert_close(x_s - s[:, None, None, None] * v, x0_hat)


def test_forward_is_composition_of_public_pieces(random_base):
    """The 4D model relies on embed / condition / rope / blocks / head composing to forward."""
    x, s, context, known = _inputs()
    B, F, _, H, W = x.shape
    h, w = random_base.patch_grid(H, W)
    tokens = rearrange(random_base.embed(x, known), "b f n d -> b (f n) d")
    c = random_base.condition(s, context)
    rope = random_base.rope(F, h, w, x.device)
    for block in random_base.blocks:
        tokens = block(tokens, c, rope)  # standalone call: (B, N, D), (B, D), rope
    manual = random_base.head(rearrange(tokens, "b (f n) d -> b f n d", f=F), c, h, w)
    manual = random_base.to_velocity(manual, x, s)
    torch.testing.assert_close(manual, random_base(x, s, context, known), rtol=0, atol=0)


def test_context_and_known_mask_change_the_output(random_base):
    x, s, context, known = _inputs()
    out = random_base(x, s, context, known)
    assert torch.isfinite(out).all()
    assert not torch.allclose(out, random_base(x, s, 1 - context, known))
    assert not torch.allclose(out, random_base(x, s, context, ~known))
    assert not torch.allclose(out, random_base(x, s.flip(0), context, known))


def test_other_resolutions_and_lengths(random_base):
    x = torch.randn(1, 3, 3, 24, 16)
    out = random_base(x, torch.rand(1), torch.zeros(1), torch.zeros(1, 3, dtype=torch.bool))
    assert out.shape == x.shape


def test_rope_is_relative():
    """Scores depend on position differences only: shifting the frame index changes nothing."""
    cos, sin = rope_3d(6, 2, 3, head_dim=16)
    q, k = torch.randn(2, 1, 1, 6 * 6, 16).unbind(0)
    scores = apply_rope(q, cos, sin) @ apply_rope(k, cos, sin).transpose(-1, -2)
    n = 2 * 3  # tokens per frame; compare frames 0..2 with frames 3..5
    q2, k2 = q.clone(), k.clone()
    q2[..., 3 * n :, :], k2[..., 3 * n :, :] = q[..., : 3 * n, :], k[..., : 3 * n, :]
    scores2 = apply_rope(q2, cos, sin) @ apply_rope(k2, cos, sin).transpose(-1, -2)
    torch.testing.assert_close(scores2[..., 3 * n :, 3 * n :], scores[..., : 3 * n, : 3 * n])


@pytest.mark.parametrize("mode", [True, "selective"])
def test_grad_checkpointing_gives_same_gradients(tiny_cfg, randomize, mode):
    torch.manual_seed(0)
    plain = randomize(DiT(tiny_cfg), seed=2).train()
    ckpt = DiT(dataclasses.replace(tiny_cfg, grad_checkpointing=mode)).train()
    ckpt.load_state_dict(plain.state_dict())
    assert all(block.checkpointing == mode for block in ckpt.blocks)
    x, s, context, known = _inputs()
    grads = []
    for model in (plain, ckpt):
        model(x, s, context, known).square().mean().backward()
        grads.append([p.grad for p in model.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)


def test_checkpointing_modes_are_named_or_boolean(tiny_cfg):
    assert dataclasses.replace(tiny_cfg, grad_checkpointing="full").grad_checkpointing is True
    assert dataclasses.replace(tiny_cfg, grad_checkpointing="off").grad_checkpointing is False
    with pytest.raises(ValueError, match="grad_checkpointing"):
        dataclasses.replace(tiny_cfg, grad_checkpointing="some")


def test_tiny_base_overfits_one_batch(tiny_cfg):
    """Loss falls by 10x on one fixed batch in a few dozen CPU steps."""
    torch.manual_seed(0)
    model = DiT(tiny_cfg).train()
    x0, s, context, known = _inputs(B=2, F=4)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)

    def velocity(x, s_, k):
        return model(x, s_, context, k)

    start, losses = time.time(), []
    for _ in range(40):
        loss = flow_loss(velocity, x0, known, s=s, noise=noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    print(f"overfit: loss {losses[0]:.3f} -> {losses[-1]:.4f} in {time.time() - start:.1f}s")
    assert losses[-1] < losses[0] / 10
    # and the fit is a real prediction: the model's velocity matches the target
    with torch.no_grad():
        pred = velocity(noisy_input(x0, noise, s, known), s, known)
    err = (pred - velocity_target(x0, noise))[~known].square().mean()
    assert err < losses[0] / 10
