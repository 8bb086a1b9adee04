"""Fixtures for the model tests: tiny configs and a base with non-trivial weights.

A freshly initialised DiT is adaLN-Zero (every block the identity, output 0),
which would make equality tests vacuous; ``random_base`` perturbs every
parameter so blocks, context and known embeddings all matter.
"""

from __future__ import annotations

import pytest
import torch

from model.config import base_preset
from model.dit import DiT


def randomize_(module: torch.nn.Module, seed: int = 0, std: float = 0.05) -> torch.nn.Module:
    """Add seeded Gaussian noise to every parameter (in place); returns the module."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * std)
    return module


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one intra-op thread is faster, and far faster on a shared, busy CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def randomize():
    """The :func:`randomize_` helper, as a fixture (test modules don't import conftest)."""
    return randomize_


@pytest.fixture
def tiny_cfg():
    return base_preset("tiny")


@pytest.fixture
def random_base(tiny_cfg) -> DiT:
    torch.manual_seed(0)
    return randomize_(DiT(tiny_cfg), seed=1).eval()
