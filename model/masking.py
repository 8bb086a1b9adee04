"""Which frames are given clean: the base's masking recipe and the 4D grid patterns.

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

4D training draws one *grid* pattern per sample (``sample_grid_mask``), each
a shape a user can condition on, with proportions from the sync stage config
(``GRID_MASK_MIX`` are the defaults). On a grid ``[V, T]`` a row
``grid[v, :]`` is the fixed-view video at view ``v``, a column ``grid[:, t]``
the freeze-time video at time ``t``:

* ``row_and_column``: ``grid[0, :]`` and ``grid[:, 0]`` (the inference case);
* ``first_row``: ``grid[0, :]`` only (a video, no multi-view frame);
* ``first_column``: ``grid[:, 0]`` only (a multi-view frame, no video);
* ``random_lines``: a random non-empty set of whole rows and/or columns,
  fewer than all rows and fewer than all columns;
* ``single_frame``: one random frame;
* ``unconditional``: nothing known (the small share that classifier-free
  guidance needs).
"""

from __future__ import annotations

import torch
from torch import Tensor

RECIPE = (("none", 0.60), ("random", 0.30), ("interpolate", 0.075), ("extend", 0.075))
BASE_MASK_MIX: dict[str, float] = dict(RECIPE)
BASE_STRATEGIES: tuple[str, ...] = tuple(BASE_MASK_MIX)


def check_base_mask_mix(mix: dict[str, float]) -> dict[str, float]:
    """``ValueError`` unless ``mix`` weighs every strategy >= 0, not all 0 (used normalised)."""
    mix = _check_weights(mix, BASE_STRATEGIES, "base masks", "strategies")
    if sum(mix.values()) <= 0:
        raise ValueError("base masks: at least one weight must be > 0")
    return mix


def _check_weights(mix: dict[str, float], names: tuple[str, ...], what: str, kind: str):
    """``mix`` as ``{name: float}`` in the order of ``names``; ``ValueError`` unless it
    weighs exactly ``names``, each >= 0."""
    if unknown := sorted(set(mix) - set(names)):
        raise ValueError(f"{what}: unknown {kind} {unknown}; expected {names}")
    if missing := [k for k in names if k not in mix]:
        raise ValueError(f"{what}: missing {kind} {missing}")
    if bad := {k: w for k, w in mix.items() if not w >= 0.0}:
        raise ValueError(f"{what}: weights must be >= 0, got {bad}")
    return {k: float(mix[k]) for k in names}


def _randint(lo: int, hi: int, generator) -> int:
    """Uniform integer in [lo, hi]."""
    return int(torch.randint(lo, hi + 1, (1,), generator=generator))


def sample_known_mask(
    batch: int,
    frames: int,
    generator: torch.Generator | None = None,
    device=None,
    mix: dict[str, float] | None = None,
) -> Tensor:
    """Random conditioning masks ``[batch, frames]`` bool (True = known) per the recipe.

    ``mix``: weight of each strategy (``BASE_STRATEGIES``), normalised; default the
    paper's ``RECIPE``.
    """
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    mix = BASE_MASK_MIX if mix is None else check_base_mask_mix(mix)
    probs = torch.tensor([mix[k] for k in BASE_STRATEGIES])
    probs = probs / probs.sum()  # the quoted recipe sums to 1.05
    strategy = torch.multinomial(probs, batch, replacement=True, generator=generator)  # (batch,)
    known = torch.zeros(batch, frames, dtype=torch.bool)
    for b in range(batch):
        name = BASE_STRATEGIES[int(strategy[b])]
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


# Defaults of the sync stage (tasks.train.params): mostly the inference pattern.
GRID_MASK_MIX: dict[str, float] = {
    "row_and_column": 0.40,
    "first_row": 0.15,
    "first_column": 0.15,
    "random_lines": 0.15,
    "single_frame": 0.10,
    "unconditional": 0.05,
}
GRID_PATTERNS: tuple[str, ...] = tuple(GRID_MASK_MIX)


def check_grid_mask_mix(mix: dict[str, float]) -> dict[str, float]:
    """``ValueError`` unless ``mix`` gives every pattern a weight >= 0 and they sum to 1."""
    mix = _check_weights(mix, GRID_PATTERNS, "grid masks", "patterns")
    total = sum(mix.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"grid masks: proportions must sum to 1, got {total:.6f}")
    return mix


def _random_lines(V: int, T: int, generator) -> Tensor:
    """Whole rows and columns, at least one line, never every row nor every column."""
    known = torch.zeros(V, T, dtype=torch.bool)
    while not known.any():
        rows = torch.randperm(V, generator=generator)[: _randint(0, V - 1, generator)]
        cols = torch.randperm(T, generator=generator)[: _randint(0, T - 1, generator)]
        known[rows, :] = True
        known[:, cols] = True
    return known


def grid_pattern(pattern: str, V: int, T: int, generator: torch.Generator | None = None) -> Tensor:
    """One grid mask ``[V, T]`` bool (True = known) of the named pattern."""
    known = torch.zeros(V, T, dtype=torch.bool)
    if pattern == "row_and_column":
        known[0, :] = known[:, 0] = True
    elif pattern == "first_row":
        known[0, :] = True
    elif pattern == "first_column":
        known[:, 0] = True
    elif pattern == "random_lines":
        known = _random_lines(V, T, generator)
    elif pattern == "single_frame":
        known[_randint(0, V - 1, generator), _randint(0, T - 1, generator)] = True
    elif pattern != "unconditional":
        raise ValueError(f"pattern must be one of {GRID_PATTERNS}, got {pattern!r}")
    return known


def sample_grid_patterns(
    batch: int, mix: dict[str, float], generator: torch.Generator | None = None
) -> list[str]:
    """``batch`` pattern names drawn with the proportions of ``mix``."""
    mix = check_grid_mask_mix(mix)
    probs = torch.tensor([mix[p] for p in GRID_PATTERNS], dtype=torch.float64)
    idx = torch.multinomial(probs, batch, replacement=True, generator=generator)
    return [GRID_PATTERNS[int(i)] for i in idx]


def sample_grid_mask(
    batch: int,
    V: int,
    T: int,
    mix: dict[str, float] | None = None,
    generator: torch.Generator | None = None,
    device=None,
) -> Tensor:
    """Random 4D training masks ``[batch, V, T]`` bool (True = known), one pattern per sample."""
    if V < 2 or T < 2:
        raise ValueError(f"a 4D grid needs V >= 2 and T >= 2, got V={V} T={T}")
    names = sample_grid_patterns(batch, GRID_MASK_MIX if mix is None else mix, generator)
    known = torch.stack([grid_pattern(name, V, T, generator) for name in names])
    return known.to(device)
