"""4D model: sync-layer invariants at initialisation, the fair sequential baseline, the
shared timestep modulation, the frozen base and a training step."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange

from core.grid import MODE_INDEX
from model.config import fourd_preset
from model.dit import DiT
from model.flow import flow_loss
from model.fourd import FourDModel
from model.masking import grid_condition_mask
from model.sync import HardSync, SequentialSync, SoftSync, SyncModulation

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
    # the head's output as a velocity (affine in it: the mean of the streams' velocities)
    return base.to_velocity(rearrange(out, "b (v t) c hh ww -> b v t c hh ww", v=V), x, s)


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
    """At init (g = 0) hard = I/2 averaging for both streams, soft = identity, sequential = identity."""
    y_view, y_time = torch.randn(2, 2, 3, 4, 5, 16).unbind(0)
    g = torch.zeros(2, 32)
    hard = HardSync(16)
    a, b = hard(y_view, y_view, g)
    torch.testing.assert_close(a, y_view)  # identical streams: unchanged
    a, b = hard(y_view, y_time, g)
    torch.testing.assert_close(a, 0.5 * (y_view + y_time))
    assert a is b  # one interface: the merged tensor for both streams
    soft_view, soft_time = SoftSync(16)(y_view, y_time, g)
    assert torch.equal(soft_view, y_view) and torch.equal(soft_time, y_time)
    seq = SequentialSync(16)
    assert torch.equal(seq.after_view(y_time, y_view, g), y_view)
    assert torch.equal(seq.after_time(y_view, y_time, g), y_time)


def test_shared_modulation_is_zero_at_init_and_gains_are_per_layer():
    mod = SyncModulation(16, depth=3)
    temb = torch.randn(2, 16)
    assert torch.equal(mod(temb), torch.zeros(3, 2, 32))  # soft = identity, hard = I/2 at init
    with torch.no_grad():
        mod.proj[-1].weight.normal_()
        mod.gain[1].zero_()
        mod.bias[2].fill_(0.25)
    g = mod(temb)  # (depth, B, 2D)
    shared = mod.proj(temb)
    assert g.shape == (3, 2, 32) and shared.abs().sum() > 0
    torch.testing.assert_close(g[0], shared)  # gain 1, bias 0
    assert torch.equal(g[1], torch.zeros(2, 32))  # gain 0: that layer alone unmodulated
    torch.testing.assert_close(g[2], shared + 0.25)
    # one projection for the whole model, 4D numbers per layer
    assert sum(p.numel() for p in mod.parameters()) == 16 * 32 + 32 + 2 * 3 * 32


@pytest.mark.parametrize("sync", ["soft", "hard", "sequential"])
def test_init_invariants_hold_for_any_timestep_embedding(random_base, sync):
    """The shared modulation starts at 0 whatever the timestep: perturbing s changes no invariant."""
    model = FourDModel(random_base, fourd_preset("tiny", sync))
    x, _, known = _grid(3)
    for s in (torch.tensor([0.0, 1.0]), torch.tensor([0.3, 0.9])):
        assert torch.equal(model.sync_layers.modulation(random_base.t_embedder(s)),
                           torch.zeros(len(model.sync_layers), B, 2 * random_base.cfg.dim))  # fmt: skip
        if sync == "soft":
            continue  # covered stream by stream above
        torch.testing.assert_close(
            model(x, s, known), _reference(random_base, x, s, known, sync), rtol=1e-5, atol=1e-5
        )


def test_sequential_has_the_trainable_budget_of_soft_sync(random_base):
    soft = FourDModel(random_base, fourd_preset("tiny", "soft"))
    seq = FourDModel(random_base, fourd_preset("tiny", "sequential"))
    n_soft = sum(p.numel() for p in soft.trainable_parameters())
    assert n_soft == sum(p.numel() for p in seq.trainable_parameters()) > 0
    cfg = fourd_preset("small", "soft")  # and at a preset 6x wider and deeper (meta: no memory)
    with torch.device("meta"):
        counts = {
            kind: sum(p.numel() for p in FourDModel(DiT(cfg.base), fourd_preset("small", kind))
                      .trainable_parameters())
            for kind in ("soft", "sequential", "hard")
        }  # fmt: skip
    assert counts["soft"] == counts["sequential"] > counts["hard"]


def test_layer_observer_sees_every_layer(random_base):
    seen = []
    model = FourDModel(random_base, fourd_preset("tiny", "sequential"))
    x, s, known = _grid(4)
    model.stream_velocities(x, s, known, observe=lambda i, a, b: seen.append((i, a is b)))
    assert seen == [(i, True) for i in range(random_base.cfg.depth)]
    seen.clear()
    soft = FourDModel(random_base, fourd_preset("tiny", "soft"))
    with torch.no_grad():
        soft.stream_velocities(
            x, s, known, observe=lambda i, a, b: seen.append(float((a - b).norm()))
        )
    assert len(seen) == random_base.cfg.depth and all(d > 0 for d in seen)


def test_only_sync_parameters_train(random_base):
    model = FourDModel(random_base, fourd_preset("tiny", "soft"))
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all(n.startswith("sync_layers.") for n in names)
    assert len(model.sync_layers) == random_base.cfg.depth
    model.train()
    assert model.training and not any(m.training for m in model.base.modules())
    seq = FourDModel(random_base, fourd_preset("tiny", "sequential"))
    assert seq.trainable_parameters() and len(seq.sync_layers) == random_base.cfg.depth
    with pytest.raises(ValueError, match="base"):
        FourDModel(random_base, fourd_preset("tiny", "soft", dim=32, heads=2))


@pytest.mark.parametrize("sync", ["soft", "hard", "sequential"])
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
    assert any("linear" in k for k in changed) and any("modulation.proj" in k for k in changed)
    assert any("modulation.gain" in k for k in changed)
