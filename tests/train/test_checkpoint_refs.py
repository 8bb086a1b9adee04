"""Sync checkpoints through the catalog: the base is found by the id they reference and
refused when its hash is not the referenced one."""

from __future__ import annotations

import pytest
import torch

from catalog.checkpoints import register_checkpoint
from core.io import sha256_file
from model.checkpoint import save_model
from model.config import base_preset, fourd_preset
from model.dit import DiT
from model.fourd import FourDModel
from tasks.checkpoint_loading import load_checkpoint


def _noisy(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    return module


def _register(catalog, stage: str, path, parent: str | None = None) -> dict:
    return register_checkpoint(
        catalog, stage=stage, path=path, step=1, run_id=None, parent_checkpoint_id=parent
    )


def test_sync_checkpoint_resolves_and_checks_its_base(catalog, tmp_path):
    base = _noisy(DiT(base_preset("tiny")), seed=1)
    base_path = tmp_path / "base.safetensors"
    save_model(base_path, base, base.cfg)
    base_row = _register(catalog, "base", base_path)
    model = FourDModel(base, fourd_preset("tiny", "hard"))
    _noisy(model.sync_layers, seed=2)
    ref = {"checkpoint_id": base_row["checkpoint_id"], "sha256": base_row["sha256"]}
    sync_path = tmp_path / "sync.safetensors"
    save_model(sync_path, model, model.cfg, base_ref=ref)
    sync_row = _register(catalog, "sync", sync_path, base_row["checkpoint_id"])

    loaded, cfg, row = load_checkpoint(catalog, sync_row["checkpoint_id"], stage="sync")
    assert row["checkpoint_id"] == sync_row["checkpoint_id"] and cfg == model.cfg
    x, s = torch.rand(1, 2, 2, 3, 16, 32), torch.tensor([0.3])
    known = torch.zeros(1, 2, 2, dtype=torch.bool)
    assert torch.equal(loaded(x, s, known), model(x, s, known))

    # a reference whose hash is not the catalog's: refused before anything loads
    bad_ref = {**ref, "sha256": "0" * 64}
    bad_path = tmp_path / "bad-ref.safetensors"
    save_model(bad_path, model, model.cfg, base_ref=bad_ref)
    bad_row = _register(catalog, "sync", bad_path, base_row["checkpoint_id"])
    with pytest.raises(ValueError, match="trained on base"):
        load_checkpoint(catalog, bad_row["checkpoint_id"], stage="sync")

    # the base file replaced on disk (catalog row unchanged): its hash no longer matches
    save_model(base_path, _noisy(DiT(base_preset("tiny")), seed=9), base.cfg)
    assert sha256_file(base_path) != ref["sha256"]
    with pytest.raises(ValueError, match="sha256"):
        load_checkpoint(catalog, sync_row["checkpoint_id"], stage="sync")
