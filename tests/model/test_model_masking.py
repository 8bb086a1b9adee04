"""The random masking recipe of the base model and the 4D grid mask patterns."""

from __future__ import annotations

import pytest
import torch

from model.masking import (
    GRID_MASK_MIX,
    GRID_PATTERNS,
    check_grid_mask_mix,
    grid_condition_mask,
    grid_pattern,
    sample_grid_mask,
    sample_grid_patterns,
    sample_known_mask,
)


def test_recipe_proportions_and_invariants():
    gen = torch.Generator().manual_seed(0)
    known = sample_known_mask(4000, 8, gen)
    assert known.shape == (4000, 8) and known.dtype == torch.bool
    assert not known.all(dim=1).any()  # always something to predict
    none_known = (~known).all(dim=1).float().mean().item()
    # 60% all masked, plus the p=15/16 samples that happen to mask every frame;
    # the quoted weights sum to 1.05 and are normalised
    assert abs(none_known - (0.60 + 0.30 * (15 / 16) ** 8) / 1.05) < 0.03
    prefix = known[:, 0] & ~known[:, -1] & (known.int().diff(dim=1) <= 0).all(dim=1)
    assert prefix.float().mean().item() > 0.05  # extension samples (and some interpolation)


def test_recipe_weights_are_a_parameter():
    gen = torch.Generator().manual_seed(0)
    only_extend = sample_known_mask(
        500, 8, gen, mix={"none": 0, "random": 0, "interpolate": 0, "extend": 2.0}
    )
    first = only_extend.int().argmin(dim=1)  # where the known prefix ends
    assert only_extend[:, 0].all() and (first > 0).all()  # every sample: a known prefix
    prefix = torch.arange(8)[None, :] < first[:, None]
    assert torch.equal(only_extend, prefix)
    unconditional = sample_known_mask(200, 8, gen, mix={"none": 1, "random": 0,
                                                        "interpolate": 0, "extend": 0})  # fmt: skip
    assert not unconditional.any()
    with pytest.raises(ValueError, match="missing strategies"):
        sample_known_mask(4, 8, gen, mix={"none": 1.0})
    with pytest.raises(ValueError, match="at least one weight"):
        sample_known_mask(
            4, 8, gen, mix=dict.fromkeys(("none", "random", "interpolate", "extend"), 0)
        )


def test_base_mask_weights_reach_the_training_items():
    from tasks.train.params import BaseMaskProportions, TrainAllParams

    assert BaseMaskProportions().pairs() == (("none", 0.6), ("random", 0.3),
                                             ("interpolate", 0.075), ("extend", 0.075))  # fmt: skip
    masks = BaseMaskProportions(none=0, random=0, interpolate=0, extend=1)
    p = TrainAllParams(
        clips_dataset="x", pseudo4d_dataset="y", objaverse_dataset="z", base_masks=masks
    )
    assert p.base().base_masks == masks
    with pytest.raises(ValueError, match="at least one weight"):
        BaseMaskProportions(none=0, random=0, interpolate=0, extend=0)


def test_mask_is_seeded():
    a = sample_known_mask(64, 6, torch.Generator().manual_seed(3))
    b = sample_known_mask(64, 6, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert not sample_known_mask(1, 1, torch.Generator().manual_seed(0)).any()


def test_grid_condition_mask():
    known = grid_condition_mask(2, 3, 4)
    assert known.shape == (2, 3, 4)
    assert known[:, 0, :].all() and known[:, :, 0].all()
    assert not known[:, 1:, 1:].any()


# ---------------------------------------------------------------- 4D grid patterns
def _lines(known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(full rows, full columns) of a [V, T] mask."""
    return known.all(dim=1), known.all(dim=0)


def _is_union_of_lines(known: torch.Tensor) -> bool:
    rows, cols = _lines(known)
    return torch.equal(known, rows[:, None] | cols[None, :])


@pytest.mark.parametrize("V,T", [(2, 2), (3, 5), (8, 8)])
def test_each_grid_pattern_is_what_it_claims(V, T):
    gen = torch.Generator().manual_seed(V * 10 + T)
    first_row = torch.zeros(V, T, dtype=torch.bool)
    first_row[0, :] = True
    first_col = torch.zeros(V, T, dtype=torch.bool)
    first_col[:, 0] = True
    assert torch.equal(grid_pattern("row_and_column", V, T), first_row | first_col)
    assert torch.equal(grid_pattern("row_and_column", V, T), grid_condition_mask(1, V, T)[0])
    assert torch.equal(grid_pattern("first_row", V, T), first_row)
    assert torch.equal(grid_pattern("first_column", V, T), first_col)
    assert not grid_pattern("unconditional", V, T).any()
    cells, line_sets = set(), set()
    for _ in range(300):
        one = grid_pattern("single_frame", V, T, gen)
        assert one.sum() == 1
        cells.add(tuple(one.nonzero()[0].tolist()))
        lines = grid_pattern("random_lines", V, T, gen)
        rows, cols = _lines(lines)
        assert lines.any() and not lines.all()  # something given, something to predict
        assert _is_union_of_lines(lines)  # whole rows and whole columns only
        assert rows.sum() < V and cols.sum() < T
        line_sets.add((tuple(rows.tolist()), tuple(cols.tolist())))
    assert len(cells) == V * T  # every frame can be the single one
    # rows alone, columns alone, both, and not always the first ones
    assert any(not any(c) for _, c in line_sets) and any(not any(r) for r, _ in line_sets)
    assert any(any(r) and any(c) for r, c in line_sets)
    assert any(r[-1] for r, _ in line_sets) and any(c[-1] for _, c in line_sets)


def test_grid_masks_follow_the_proportions():
    gen = torch.Generator().manual_seed(0)
    mix = {"row_and_column": 0.3, "first_row": 0.2, "first_column": 0.1, "random_lines": 0.2,
           "single_frame": 0.15, "unconditional": 0.05}  # fmt: skip
    names = sample_grid_patterns(6000, mix, gen)
    for pattern, share in mix.items():
        assert abs(names.count(pattern) / len(names) - share) < 0.02, pattern
    known = sample_grid_mask(4000, 4, 5, GRID_MASK_MIX, torch.Generator().manual_seed(1))
    assert known.shape == (4000, 4, 5) and known.dtype == torch.bool
    assert not known.flatten(1).all(dim=1).any()  # always something to predict
    uncond = (~known).flatten(1).all(dim=1).float().mean().item()
    assert abs(uncond - GRID_MASK_MIX["unconditional"]) < 0.015  # CFG share: small, as set
    inference = (known == grid_condition_mask(1, 4, 5)).flatten(1).all(dim=1).float().mean()
    # the inference pattern (random_lines can also draw exactly row 0 + column 0)
    assert GRID_MASK_MIX["row_and_column"] - 0.03 < inference.item() < 0.5
    only = sample_grid_mask(50, 4, 5, {**dict.fromkeys(GRID_PATTERNS, 0.0), "first_row": 1.0})
    assert torch.equal(only, grid_pattern("first_row", 4, 5).expand(50, 4, 5))


def test_grid_mask_is_seeded_and_checks_its_inputs():
    a = sample_grid_mask(64, 3, 4, generator=torch.Generator().manual_seed(5))
    b = sample_grid_mask(64, 3, 4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="sum to 1"):
        check_grid_mask_mix({**GRID_MASK_MIX, "unconditional": 0.5})
    with pytest.raises(ValueError, match="unknown patterns"):
        check_grid_mask_mix({**GRID_MASK_MIX, "diagonal": 0.0})
    with pytest.raises(ValueError, match="missing patterns"):
        check_grid_mask_mix({"row_and_column": 1.0})
    with pytest.raises(ValueError, match=">= 0"):
        check_grid_mask_mix({**GRID_MASK_MIX, "first_row": -0.15, "first_column": 0.45})
    with pytest.raises(ValueError, match="V >= 2"):
        sample_grid_mask(1, 1, 4)
    with pytest.raises(ValueError, match="pattern"):
        grid_pattern("diagonal", 3, 3)
