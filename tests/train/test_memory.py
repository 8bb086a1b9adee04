"""The traced memory estimate against the measured peak of a real CPU step, and what
``grad_checkpointing="auto"`` chooses from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from core.paths import REPO_ROOT


@pytest.mark.timeout(600)
def test_estimate_within_25_percent_of_measured_cpu_peak():
    # a fresh process: nothing else allocated, glibc returning big blocks on free
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "MALLOC_MMAP_THRESHOLD_": "65536"}
    cmd = [sys.executable, "-m", "tests.train.memory_probe"]
    out = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=540)
    assert out.returncode == 0, out.stderr[-3000:]
    cases = {c["case"]: c for c in map(json.loads, out.stdout.strip().splitlines())}
    assert set(cases) == {"base", "sync", "sync_selective"}
    for name, c in cases.items():
        assert c["measured"] > 20 * 2**20, c  # a step big enough to measure
        assert abs(c["estimate"] - c["measured"]) <= 0.25 * c["measured"], (name, c)
    # selective checkpointing keeps less than keeping everything
    assert cases["sync_selective"]["estimate"] < cases["sync"]["estimate"]


def test_auto_checkpointing_takes_the_least_recomputation_that_fits(
    train_data, train_catalog, tiny
):
    from model.config import base_preset
    from tasks.train.data import StreamDataset
    from tasks.train.engine import estimate_step_memory, example_batch
    from tasks.train.params import TrainBaseParams
    from tasks.train.stages import choose_checkpointing, prepare, with_checkpointing

    params = TrainBaseParams(**tiny(dataset=train_data["clips"], frames=8, batch_size=4))
    plan = prepare(params, train_catalog, str(uuid.uuid4()))
    assert plan.model_config.grad_checkpointing is False  # tiny fits 72 GiB without it
    phase, cfg = plan.phases[-1], base_preset("tiny")
    batch = example_batch(StreamDataset(phase.snapshot.samples, phase.spec), 4)
    peak = {
        mode: estimate_step_memory(
            plan.engine, with_checkpointing(cfg, mode), batch, "cpu"
        ).peak_bytes
        for mode in (False, "selective", True)
    }
    assert peak[True] < peak["selective"] < peak[False]

    def choose(budget: int):
        return choose_checkpointing(params, plan.engine, cfg, phase, budget=budget)

    assert choose(peak[False]) is False
    assert choose(peak[False] - 1) == "selective"
    assert choose(peak["selective"] - 1) is True
    explicit = params.model_copy(update={"grad_checkpointing": "full"})
    assert choose_checkpointing(explicit, plan.engine, cfg, phase) is True
