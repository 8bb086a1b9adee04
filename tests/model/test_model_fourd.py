"""Two-stream 4D model: sync-layer invariants at initialisation, frozen base, training step."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange

from fourreal.core.grid import MODE_INDEX
from model.config import fourd_preset
from model.flow import flow_loss
from model.fourd import FourDModel
from model.masking import grid_condition_mask
from model.sync import HardSync, SoftSync

B, V, T, H, W = 2, 3, 4, 16, 32


def _grid(seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(B, V, T, 3, H, W, generator=gen) * 2 - 1
    s = torch.rand(B, generator=gen)
    known = grid_condition_mask(B, V, T)
    return x, s, known


def _ctx(mode: str) -> torch.Tensor:
    return torch.full((B,), MODE_INDEX[mode])


def test_soft_sync_at_init_is_the_base_on_each_stream(random_base):
    """View stream = base on every freeze-time video; time stream = base on every fixed-view video."""
    model = FourDModel(random_base, fourd_preset("tiny", "soft"))
    x, s, known = _grid()
    v_view, v_time = model.stream_velocities(x, s, known)
    assert v_view.shape == v_time.shape == x.shape
    for t in range(T):  # grid[:, t], context freeze_time
        ref = random_base(x[:, :, t], s, _ctx("freeze_time"), known[:, :, t])
        torch.testing.assert_close(v_view[:, :, t], ref, rtol=1e-5, atol=1e-5)
    for v in range(V):  # grid[v, :], context dynamic
        ref = random_base(x[:, v], s, _ctx("dynamic"), known[:, v])
        torch.testing.assert_close(v_time[:, v], ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(model(x, s, known), 0.5 * (v_view + v_time))


def _reference(base, x, s, known, sync: str):
    """Slice-by-slice loops over the base's pieces: hard (= averaging at init) or sequential."""
    h, w = base.patch_grid(H, W)
    tokens = torch.stack([base.embed(x[:, v], known[:, v]) for v in range(V)], 1)  # (B,V,T,n,D)
    c_view, c_time = base.condition(s, _ctx("freeze_time")), base.condition(s, _ctx("dynamic"))
    rope_view, rope_time = base.rope(V, h, w, "cpu"), base.rope(T, h, w, "cpu")

    def view_update(block, z):
        cols = [
            block(rearrange(z[:, :, t], "b v n d -> b (v n) d"), c_view, rope_view)
            for t in range(T)
        ]
        return torch.stack([rearrange(c, "b (v n) d -> b v n d", v=V) for c in cols], 2)

    def time_update(block, z):
        rows = [
            block(rearrange(z[:, v], "b t n d -> b (t n) d"), c_time, rope_time) for v in range(V)
        ]
        return torch.stack([rearrange(r, "b (t n) d -> b t n d", t=T) for r in rows], 1)

    z = tokens
    for block in base.blocks:
        if sync == "hard":
            z = 0.5 * (view_update(block, z) + time_update(block, z))
        else:
            z = time_update(block, view_update(block, z))
    flat = rearrange(z, "b v t n d -> b (v t) n d")
    out = 0.5 * (base.head(flat, c_view, h, w) + base.head(flat, c_time, h, w))
    return rearrange(out, "b (v t) c hh ww -> b v t c hh ww", v=V)


@pytest.mark.parametrize("sync", ["hard", "sequential"])
def test_hard_at_init_averages_and_sequential_interleaves(random_base, sync):
    model = FourDModel(random_base, fourd_preset("tiny", sync))
    x, s, known = _grid(1)
    out = model(x, s, known)
    assert out.shape == x.shape and torch.isfinite(out).all()
    torch.testing.assert_close(
        out, _reference(random_base, x, s, known, sync), rtol=1e-5, atol=1e-5
    )


def test_sync_modules_at_init():
    y_view, y_time, temb = torch.randn(3, 2, 3, 4, 5, 16).unbind(0)
    temb = temb[:, 0, 0, 0]  # (B, D)
    hard = HardSync(16)
    torch.testing.assert_close(hard(y_view, y_view, temb), y_view)  # identical streams: unchanged
    torch.testing.assert_close(hard(y_view, y_time, temb), 0.5 * (y_view + y_time))
    soft_view, soft_time = SoftSync(16)(y_view, y_time, temb)
    assert torch.equal(soft_view, y_view) and torch.equal(soft_time, y_time)


def test_only_sync_parameters_train(random_base):
    model = FourDModel(random_base, fourd_preset("tiny", "soft"))
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all(n.startswith("sync_layers.") for n in names)
    assert len(model.sync_layers) == random_base.cfg.depth
    model.train()
    assert model.training and not any(m.training for m in model.base.modules())
    seq = FourDModel(random_base, fourd_preset("tiny", "sequential"))
    assert seq.trainable_parameters() == []
    with pytest.raises(ValueError, match="base"):
        FourDModel(random_base, fourd_preset("tiny", "soft", dim=32, heads=2))


@pytest.mark.parametrize("sync", ["soft", "hard"])
def test_training_step_changes_only_sync_parameters(random_base, sync):
    model = FourDModel(random_base, fourd_preset("tiny", sync)).train()
    base_before = {k: v.clone() for k, v in model.base.state_dict().items()}
    sync_before = {k: v.clone() for k, v in model.sync_layers.state_dict().items()}
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=1e-2)
    x, _, known = _grid(2)
    for step in range(2):
        loss = flow_loss(model, x, known, generator=torch.Generator().manual_seed(step))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        assert all(p.grad is None for p in model.base.parameters())
        assert any(
            p.grad is not None and p.grad.abs().sum() > 0 for p in model.trainable_parameters()
        )
        opt.step()
    for k, v in model.base.state_dict().items():
        assert torch.equal(v, base_before[k]), k
    changed = [
        k for k, v in model.sync_layers.state_dict().items() if not torch.equal(v, sync_before[k])
    ]
    assert any("linear" in k for k in changed) and any("modulation" in k for k in changed)
