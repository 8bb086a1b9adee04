"""Fixtures for generation and evaluation: known grids, tiny trained checkpoints.

``plane_grid`` is a consistent grid with a known geometry: a textured plane
seen through per-view homographies (camera motion) and shifted over time
(object motion). ``random_grid`` has independent content in every frame.
Checkpoints are trained for a few real steps with the model API, saved with
``save_model`` and registered in the session catalog.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from catalog.checkpoints import register_checkpoint
from catalog.datasets import create_dataset
from catalog.ids import sample_id
from catalog.store import Catalog
from core.grid import to_model
from core.io import save_npz_atomic, sha256_file
from core.paths import data_root, relative_to_root

V, T, H, W = 4, 4, 16, 32  # tiny preset resolution


def texture(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth colour blobs plus fine noise: plenty of corners at any scale."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 255, (max(2, h // 8), max(2, w // 8), 3)).astype(np.float32)
    img = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC) + rng.normal(0, 20, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def plane_grid(views: int, times: int, h: int, w: int, seed: int = 1) -> np.ndarray:
    """uint8 [V, T, h, w, 3]: a textured plane under a homography per view, shifted per time."""
    tex = texture(4 * h, 4 * w, seed)
    out = np.empty((views, times, h, w, 3), np.uint8)
    for v in range(views):
        a, s = 0.04 * v, 1 + 0.03 * v
        for t in range(times):
            M = np.array(
                [[np.cos(a) * s, -np.sin(a) * s, 10 * v + 6 * t], [np.sin(a) * s, np.cos(a) * s, 5 * v], [1e-4 * v, 0, 1]]
            )  # fmt: skip
            big = cv2.warpPerspective(tex, M, (4 * w, 4 * h), borderMode=cv2.BORDER_REFLECT)
            crop = big[h : 3 * h, w : 3 * w]
            out[v, t] = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
    return out


def random_grid(views: int, times: int, h: int, w: int, seed: int = 100) -> np.ndarray:
    """uint8 [V, T, h, w, 3] with independent random content in every frame."""
    return np.stack(
        [
            np.stack([texture(h, w, seed + v * times + t) for t in range(times)])
            for v in range(views)
        ]
    )


def register_grid_sample(catalog: Catalog, rgb: np.ndarray, name: str, recipe: str) -> str:
    """Write ``rgb`` as a grid npz in the data root and append its ``samples`` row."""
    path = data_root() / "test_grids" / f"{name}.npz"
    save_npz_atomic(path, rgb=rgb, times=np.linspace(0, 1, rgb.shape[1]))
    digest = sha256_file(path)
    sid = sample_id(digest, recipe, "1", {"name": name})
    v, t, h, w, _ = rgb.shape
    catalog.append(
        "samples",
        [{"sample_id": sid, "kind": "grid_objaverse", "recipe": recipe, "recipe_version": "1",
          "params_json": "{}", "v": v, "t": t, "h": h, "w": w, "path": relative_to_root(path),
          "sha256": digest, "status": "ok"}],
    )  # fmt: skip
    return sid


def train_sync(sync: str, grids: list[np.ndarray], steps: int = 4, seed: int = 0):
    """A tiny 4D model: a base trained a few steps on fixed-view clips, then sync a few steps."""
    from model import (
        base_preset,
        build_fourd,
        flow_loss,
        fourd_preset,
        grid_condition_mask,
        sample_known_mask,
    )
    from model.dit import DiT

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    data = torch.stack([to_model(g) for g in grids])  # (B, V, T, 3, H, W)
    base = DiT(base_preset("tiny"))
    opt = torch.optim.AdamW(base.parameters(), lr=2e-3)
    clips = data[:, 1]  # (B, T, 3, H, W) fixed-view videos
    ctx = torch.zeros(len(clips), dtype=torch.long)
    for _ in range(steps):
        known = sample_known_mask(len(clips), clips.shape[1], gen)
        loss = flow_loss(lambda x, s, k: base(x, s, ctx, k), clips, known, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    cfg = fourd_preset("tiny", sync=sync)
    model = build_fourd(cfg, base)
    opt = torch.optim.AdamW(model.trainable_parameters() or base.parameters(), lr=2e-3)
    known = grid_condition_mask(len(data), data.shape[1], data.shape[2])
    for _ in range(steps if model.trainable_parameters() else 0):
        loss = flow_loss(model, data, known, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), cfg


@pytest.fixture(scope="session")
def home_catalog() -> Catalog:
    """The session data root's catalog (the one flows write to)."""
    cat = Catalog()
    cat.init()
    return cat


@pytest.fixture(scope="session")
def gt_grids() -> list[np.ndarray]:
    return [plane_grid(V, T, H, W, seed=s) for s in (1, 2)]


@pytest.fixture(scope="session")
def heldout(home_catalog, gt_grids) -> dict:
    """A held-out snapshot of two ground-truth grids, plus one train snapshot."""
    ids = [
        register_grid_sample(home_catalog, g, f"plane_{i}", "test_plane")
        for i, g in enumerate(gt_grids)
    ]
    train_id = register_grid_sample(
        home_catalog, plane_grid(V, T, H, W, seed=9), "train_0", "test_train"
    )
    ds = create_dataset(home_catalog, "test-heldout", "recipe = 'test_plane'", split="heldout")
    train = create_dataset(home_catalog, "test-train", "recipe = 'test_train'", split="train")
    everything = create_dataset(home_catalog, "test-all", "recipe LIKE 'test_%'", split="all")
    return {
        "dataset": ds,
        "train": train,
        "all": everything,
        "sample_ids": ids,
        "train_id": train_id,
    }


@pytest.fixture(scope="session")
def checkpoints(home_catalog, heldout, gt_grids) -> dict:
    """Registered tiny checkpoints: sync soft and hard (trained on the train snapshot), base, upsamplers."""
    from model import save_model, upsampler_preset
    from model.upsampler import Upsampler

    folder = data_root() / "test_checkpoints"
    train = [plane_grid(V, T, H, W, seed=9)]
    out = {}
    for sync in ("soft", "hard"):
        model, cfg = train_sync(sync, train)
        path = folder / f"{sync}.safetensors"
        save_model(path, model, cfg, {"step": 4})
        out[sync] = register_checkpoint(
            home_catalog, stage="sync", path=path, step=4, run_id=None,
            dataset_id=heldout["train"]["dataset_id"],
        )["checkpoint_id"]  # fmt: skip
        out[f"{sync}_model"] = model
    base_path = folder / "base.safetensors"
    save_model(base_path, out["soft_model"].base, out["soft_model"].base.cfg, {"step": 4})
    out["base"] = register_checkpoint(
        home_catalog, stage="base", path=base_path, step=4, run_id=None
    )["checkpoint_id"]
    # Parameter shapes do not depend on the resolution (RoPE): different seeds keep the
    # two files (and so their content-hashed checkpoint ids) apart.
    for seed, (name, cfg) in enumerate(
        (("up_match", upsampler_preset("tiny", low_height=H, low_width=W)),
         ("up_mismatch", upsampler_preset("tiny", low_height=2 * H, low_width=2 * W)))
    ):  # fmt: skip
        torch.manual_seed(seed)
        up = Upsampler(cfg)
        path = folder / f"{name}.safetensors"
        save_model(path, up, cfg, {"step": 0})
        out[name] = register_checkpoint(
            home_catalog, stage="upsampler", path=path, step=0, run_id=None
        )["checkpoint_id"]
    return out


@pytest.fixture(scope="session")
def ema_checkpoint(home_catalog, heldout, checkpoints) -> dict:
    """A sync checkpoint folder as training writes it: raw weights plus different EMA weights."""
    from tasks.train.checkpointing import save_checkpoint

    model = checkpoints["soft_model"]
    gen = torch.Generator().manual_seed(7)
    ema = {  # the trained (sync) parameters, moved away from the raw ones
        k: p.detach() + 0.05 * torch.randn(p.shape, generator=gen)
        for k, p in model.named_parameters()
        if p.requires_grad
    }
    path = save_checkpoint(
        data_root() / "test_checkpoints" / "ema_run", step=5, model=model, config=model.cfg,
        ema_tensors=ema, optimizer=None, state={}, extra={"step": 5},
    )  # fmt: skip
    # step 5: the raw weights are the "soft" checkpoint's, and the id hashes (file, run, step)
    row = register_checkpoint(
        home_catalog, stage="sync", path=path, step=5, run_id=None,
        dataset_id=heldout["train"]["dataset_id"],
    )  # fmt: skip
    return {"id": row["checkpoint_id"], "model_file": path, "ema": ema}
