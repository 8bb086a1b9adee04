"""Checkpoints: safetensors + JSON sidecar round trip, atomic writes, no pickles."""

from __future__ import annotations

import json

import pytest
import torch

from model.checkpoint import load_model, save_model, sidecar_path
from model.config import fourd_preset, upsampler_preset
from model.dit import DiT
from model.fourd import FourDModel
from model.upsampler import Upsampler


def test_base_round_trip(tmp_path, random_base):
    path = tmp_path / "ckpt" / "base_000100.safetensors"
    side = save_model(path, random_base, random_base.cfg, extra={"step": 100, "dataset": "ds1"})
    assert side == sidecar_path(path) and side.exists()
    assert sorted(p.name for p in path.parent.iterdir()) == [side.name, path.name]  # no temp files
    meta = json.loads(side.read_text())
    assert meta["kind"] == "dit" and meta["config"]["dim"] == random_base.cfg.dim
    loaded, cfg, extra = load_model(path)
    assert (
        isinstance(loaded, DiT)
        and cfg == random_base.cfg
        and extra == {"step": 100, "dataset": "ds1"}
    )
    x = torch.rand(1, 3, 3, 16, 32)
    args = (torch.tensor([0.4]), torch.tensor([1]), torch.zeros(1, 3, dtype=torch.bool))
    assert torch.equal(loaded.eval()(x, *args), random_base(x, *args))


def test_fourd_and_upsampler_round_trip(tmp_path, random_base, randomize):
    model = FourDModel(random_base, fourd_preset("tiny", "hard"))
    randomize(model.sync_layers, seed=9, std=0.02)
    save_model(
        tmp_path / "sync.safetensors", model, model.cfg, extra={"parent": "base.safetensors"}
    )
    loaded, cfg, _ = load_model(tmp_path / "sync.safetensors")
    assert cfg.sync == "hard" and isinstance(loaded, FourDModel)
    assert [n for n, p in loaded.named_parameters() if p.requires_grad] == [
        n for n, p in model.named_parameters() if p.requires_grad
    ]
    x = torch.rand(1, 2, 3, 3, 16, 32)
    s, known = torch.tensor([0.5]), torch.zeros(1, 2, 3, dtype=torch.bool)
    assert torch.equal(loaded(x, s, known), model(x, s, known))

    up = randomize(Upsampler(upsampler_preset("tiny")), seed=1, std=0.02)
    save_model(tmp_path / "up.safetensors", up, up.cfg)
    up2, cfg2, extra2 = load_model(tmp_path / "up.safetensors")
    assert cfg2 == up.cfg and extra2 == {}
    for (k, a), (k2, b) in zip(up.state_dict().items(), up2.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b)


def test_checkpoint_errors(tmp_path, random_base):
    with pytest.raises(ValueError, match="config"):
        save_model(tmp_path / "x.safetensors", random_base, upsampler_preset("tiny"))
    with pytest.raises(FileNotFoundError, match="sidecar"):
        load_model(tmp_path / "missing.safetensors")


def test_sync_only_checkpoint_references_its_base(tmp_path, random_base, randomize):
    from safetensors.torch import load_file

    from core.io import sha256_file

    base_path = tmp_path / "base.safetensors"
    save_model(base_path, random_base, random_base.cfg)
    ref = {"checkpoint_id": "base-ckpt", "sha256": sha256_file(base_path)}
    model = FourDModel(random_base, fourd_preset("tiny", "soft"))
    randomize(model.sync_layers, seed=3, std=0.02)
    path = tmp_path / "sync.safetensors"
    save_model(path, model, model.cfg, extra={"step": 7}, base_ref=ref)

    # the file holds the sync layers only; the sidecar names the base
    assert set(load_file(str(path))) == {k for k in model.state_dict() if k.startswith("sync_")}
    assert path.stat().st_size < base_path.stat().st_size
    assert json.loads(sidecar_path(path).read_text())["base"] == ref
    loaded, cfg, extra = load_model(path, base_path=base_path)
    assert cfg == model.cfg and extra == {"step": 7}
    x = torch.rand(1, 2, 3, 3, 16, 32)
    s, known = torch.tensor([0.5]), torch.zeros(1, 2, 3, dtype=torch.bool)
    assert torch.equal(loaded(x, s, known), model(x, s, known))
    assert all(not p.requires_grad for p in loaded.base.parameters())

    # without its base, or with another one, it does not load
    with pytest.raises(ValueError, match="base_path"):
        load_model(path)
    other = tmp_path / "other.safetensors"
    save_model(other, randomize(DiT(random_base.cfg), seed=5), random_base.cfg)
    with pytest.raises(ValueError, match="sha256"):
        load_model(path, base_path=other)
    with pytest.raises(ValueError, match="only a 4D model"):
        save_model(tmp_path / "x.safetensors", random_base, random_base.cfg, base_ref=ref)
