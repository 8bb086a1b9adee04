"""Which frames are given clean: the random masking recipe and the grid pattern.

A mask is bool, True = *known* (given clean, no loss), False = *masked* (to
be predicted). The base model's recipe is the one of 4Real (arXiv 2406.07472,
App. A), drawn per sample:

* 60%    all frames masked (unconditional video);
* 30%    each frame masked independently with p = 15/16;
* 7.5%   regular-interval interpolation: every k-th frame known;
* 7.5%   extension: the first m frames known, the last ones predicted.

These weights, as quoted (docs/model.md#random-frame-masking), sum to 1.05; they are used
normalised (57.1%, 28.6%, 7.1%, 7.1%), which keeps their ratios. A sample
never has every frame known (it would carry no loss).
"""

from __future__ import annotations

import torch
from torch import Tensor

RECIPE = (("none", 0.60), ("random", 0.30), ("interpolate", 0.075), ("extend", 0.075))


def _randint(lo: int, hi: int, generator) -> int:
    """Uniform integer in [lo, hi]."""
    return int(torch.randint(lo, hi + 1, (1,), generator=generator))


def sample_known_mask(
    batch: int, frames: int, generator: torch.Generator | None = None, device=None
) -> Tensor:
    """Random conditioning masks ``[batch, frames]`` bool (True = known) per the recipe."""
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    probs = torch.tensor([p for _, p in RECIPE])
    probs = probs / probs.sum()  # the quoted recipe sums to 1.05
    strategy = torch.multinomial(probs, batch, replacement=True, generator=generator)  # (batch,)
    known = torch.zeros(batch, frames, dtype=torch.bool)
    for b in range(batch):
        name = RECIPE[int(strategy[b])][0]
        if name == "random":
            known[b] = torch.rand(frames, generator=generator) < 1.0 / 16.0
        elif name == "interpolate" and frames >= 3:
            stride = _randint(2, frames - 1, generator)
            known[b, ::stride] = True
        elif name == "extend" and frames >= 2:
            known[b, : _randint(1, frames - 1, generator)] = True
        if known[b].all():  # keep at least one frame to predict
            known[b, _randint(0, frames - 1, generator)] = False
    return known.to(device)


def grid_condition_mask(batch: int, V: int, T: int, device=None) -> Tensor:
    """``[batch, V, T]`` bool: the inference pattern, ``grid[0, :]`` and ``grid[:, 0]`` known."""
    known = torch.zeros(batch, V, T, dtype=torch.bool, device=device)
    known[:, 0, :] = True  # fixed-view video at v = 0
    known[:, :, 0] = True  # freeze-time video at t = 0
    return known
