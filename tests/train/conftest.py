"""Fixtures for the training tests: real samples in the session catalog, one base run.

Training data is written with ``synthetic.training`` (real rendered
frames, sample-store files, sources/samples/runs rows, snapshots) into the session's
default catalog, which is the one the flows use. Torch runs one thread per
process (``FOURREAL_TORCH_THREADS``): on a busy 2-core machine OpenMP
spinning makes tiny models ~20x slower otherwise.
"""

from __future__ import annotations

import os

import pytest

os.environ["FOURREAL_TORCH_THREADS"] = "1"


def tiny_settings(**kw) -> dict:
    """Fast settings shared by the tests (tiny preset, no loader processes, few steps)."""
    return {"preset": "tiny", "loader_workers": 0, "batch_size": 2, "log_every": 1, **kw}


@pytest.fixture(scope="session")
def tiny():
    return tiny_settings


@pytest.fixture(scope="session")
def train_catalog():
    from catalog.store import Catalog

    cat = Catalog()
    cat.init()
    return cat


@pytest.fixture(scope="session")
def train_data(train_catalog) -> dict[str, str]:
    """Snapshot ids: ``clips`` (dynamic + freeze-time clips), ``pseudo4d``, ``objaverse`` grids."""
    from synthetic.training import write_training_data

    return write_training_data(
        train_catalog, prefix="tt", clips=4, grids=3, frames=8, V=4, T=4, height=64, width=128
    )


@pytest.fixture(scope="session")
def base_run_params(train_data, tiny):
    """The settings of ``base_run`` (progressive resolution: 2 low-res + 3 full steps)."""
    from tasks.train.params import TrainBaseParams

    return TrainBaseParams(
        **tiny(
            dataset=train_data["clips"],
            steps=3,
            low_res_steps=2,
            frames=4,
            checkpoint_every=2,
            keep_last=2,
        )
    )


@pytest.fixture(scope="session")
def base_run(base_run_params) -> dict:
    """A finished tiny base run."""
    from tasks.train.run import run_stage

    return run_stage(base_run_params)


@pytest.fixture(scope="session")
def sync_run(train_data, base_run, tiny) -> dict:
    """A finished tiny soft-sync run: 2 pseudo-4D steps then 2 Objaverse steps."""
    from tasks.train.params import TrainSyncParams
    from tasks.train.run import run_stage

    return run_stage(
        TrainSyncParams(
            **tiny(
                parent_checkpoint=base_run["final_checkpoint_id"],
                sync="soft",
                pseudo4d_dataset=train_data["pseudo4d"],
                pseudo4d_steps=2,
                objaverse_dataset=train_data["objaverse"],
                objaverse_steps=2,
                batch_size=1,
            )
        )
    )
