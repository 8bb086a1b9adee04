"""Validation inside training (nanoGPT's ``estimate_loss``, torchtitan's validator).

A :class:`Validator` holds a fixed set of held-out items (the first ``items``
stream indices of each validation set: distinct samples, and every random
choice of an item, such as its known frames, fixed by ``(seed, k)``) and a
fixed noise per item. Every ``eval_every`` steps the engine asks it for:

* ``loss``: the masked flow loss (the stage's training loss) at fixed flow times
  ``s`` in ``LEVELS``, averaged over items (and ``loss@s=0.50`` per level); a model
  that learned nothing (zero velocity) scores ``E|e - x0|^2`` over unknown frames;
* every ``sample_every`` steps (sync stage only): ``sample_items`` held-out grids
  generated from their first row and column (``model.sampling.generate_grid``,
  ``sample_steps`` Euler steps) and scored with
  ``tasks.baselines.grid_scores``: ``psnr/model``, ``psnr/oracle``, ...

It runs on the **EMA weights** (what generation uses), swapped in and back, in
eval mode and ``no_grad``, inside ``torch.random.fork_rng``: it draws from its
own seeded generators only, so the training stream (and an exact resume) is
unchanged by it. No Prefect, no catalog: the engine records what it returns.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from tasks.train.data import StreamDataset
from tasks.train.engine import OBJECTIVES, EngineConfig, precision_context, stage_loss

LEVELS = (0.25, 0.5, 0.75)
"""Fixed flow times: mostly clean, half, mostly noise."""


def _seed(*parts) -> int:
    h = hashlib.sha256("/".join(str(p) for p in ("val", *parts)).encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


@dataclass
class ValSet:
    """One validation set: a name (the phase it validates) and its held-out items."""

    name: str
    dataset: StreamDataset


@dataclass(kw_only=True)
class ValidationConfig:
    eval_every: int = 100
    """Steps between validation losses (also at every checkpoint, at step 0 and at the end)."""
    items: int = 8
    """Held-out items per validation set."""
    sample_every: int = 0
    """Steps between generated-and-scored grids (sync stage; 0 = off)."""
    sample_items: int = 2
    """Held-out grids generated each time."""
    sample_steps: int = 8
    """Euler steps of those generations."""
    seed: int = 0


@contextlib.contextmanager
def ema_weights(trainable: dict[str, nn.Parameter], ema) -> None:
    """The EMA's averages in place of the trained parameters, restored on exit (bit for bit)."""
    if ema is None:
        yield
        return
    saved = {k: p.detach().clone() for k, p in trainable.items()}
    try:
        with torch.no_grad():
            for k, p in trainable.items():
                p.copy_(ema.shadow[k].to(p.dtype))
        yield
    finally:
        with torch.no_grad():
            for k, p in trainable.items():
                p.copy_(saved[k])


class Validator:
    def __init__(self, engine: EngineConfig, sets: list[ValSet], cfg: ValidationConfig, device):
        self.stage, self.engine, self.sets, self.cfg = engine.stage, engine, sets, cfg
        self.objective = OBJECTIVES[engine.stage]
        self.device = torch.device(device)
        self._items: list[tuple[str, int, dict]] | None = None

    # ------------------------------------------------------------ schedule
    def loss_due(self, step: int) -> bool:
        return self.cfg.eval_every > 0 and step % self.cfg.eval_every == 0

    def sample_due(self, step: int) -> bool:
        every = self.cfg.sample_every
        return self.stage == "sync" and every > 0 and step % every == 0

    # ------------------------------------------------------------ items
    def items(self) -> list[tuple[str, int, dict]]:
        """``(set name, k, item with a batch axis of 1)``, loaded once and kept."""
        if self._items is None:
            self._items = []
            for vs in self.sets:
                for k in range(min(self.cfg.items, len(vs.dataset))):
                    item = vs.dataset[k]
                    batch = {n: v.unsqueeze(0).to(self.device) for n, v in item.items()}
                    batch["k"] = item["k"].unsqueeze(0)  # stays on the host
                    self._items.append((vs.name, k, batch))
        return self._items

    def _draws(self, name: str, k: int, batch: dict) -> dict[str, Tensor]:
        """The item's fixed noise (and upsampler augmentation), the same at every level."""
        x = batch["x"]
        gen = torch.Generator(self.device).manual_seed(_seed(self.cfg.seed, name, k))
        draws = {"noise": torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)}
        if self.objective.augmented:  # a fixed middle degradation: comparable across steps
            draws["aug"] = torch.full((1,), 0.5, device=x.device)
            draws["aug_noise"] = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        return draws

    # ------------------------------------------------------------ running
    def run(self, model: nn.Module, trainable, ema, step: int) -> dict[str, float]:
        """The metrics due at ``step`` (the loss always; scores when sampling is due)."""
        devices = [self.device] if self.device.type == "cuda" else []
        was_training = model.training
        with torch.random.fork_rng(devices=devices), ema_weights(trainable, ema):
            model.eval()
            try:
                with torch.no_grad():
                    out = self.loss(model)
                    if self.sample_due(step):
                        out.update(self.scores(model))
            finally:
                model.train(was_training)
        return out

    def loss(self, model: nn.Module) -> dict[str, float]:
        """Masked flow loss at each fixed level, averaged over the items."""
        per_level: dict[float, list[float]] = {s: [] for s in LEVELS}
        per_set: dict[str, list[float]] = {}
        for name, k, batch in self.items():
            draws = self._draws(name, k, batch)
            for s in LEVELS:
                draws["s"] = torch.full((1,), s, device=self.device)
                with precision_context(self.engine, self.device):
                    value = float(stage_loss(self.objective, model, model, batch, draws))
                per_level[s].append(value)
                per_set.setdefault(name, []).append(value)
        out = {f"loss@s={s:.2f}": float(np.mean(v)) for s, v in per_level.items()}
        out["loss"] = float(np.mean([v for vs in per_level.values() for v in vs]))
        if len(per_set) > 1:
            out.update({f"loss/{n}": float(np.mean(v)) for n, v in per_set.items()})
        return out

    def scores(self, model: nn.Module) -> dict[str, float]:
        """PSNR/SSIM of generated held-out grids and of the baselines, means over grids."""
        from model.sampling import generate_grid
        from tasks.baselines import grid_scores

        table: dict[str, list[float]] = {}
        grids = [b for _, _, b in self.items()][: self.cfg.sample_items]
        for i, batch in enumerate(grids):
            x = batch["x"][0]  # (V, T, 3, H, W) in [-1, 1]
            with precision_context(self.engine, self.device):
                pred = generate_grid(
                    model, x[0], x[:, 0], steps=self.cfg.sample_steps, seed=_seed("grid", i)
                )
            scores = grid_scores(_uint8(pred), _uint8(x), with_ssim=True)
            for row, values in scores.items():
                for score, v in values.items():
                    table.setdefault(f"{score}/{row}", []).append(v)
        return {k: _nanmean(v) for k, v in table.items()}


def _nanmean(values: list[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else float("nan")


def _uint8(x: Tensor) -> np.ndarray:
    """float ``[V, T, 3, H, W]`` in [-1, 1] -> uint8 ``[V, T, H, W, 3]``."""
    u = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return u.movedim(-3, -1).cpu().numpy()


def best_baseline(metrics: dict[str, float], score: str = "psnr") -> tuple[str, float] | None:
    """The best baseline row for ``score`` in validation metrics (``psnr/same_time``, ...)."""
    from tasks.baselines import BASELINES

    found = [(b, metrics[f"{score}/{b}"]) for b in BASELINES if f"{score}/{b}" in metrics]
    found = [(b, v) for b, v in found if not math.isnan(v)]
    return max(found, key=lambda bv: bv[1]) if found else None
