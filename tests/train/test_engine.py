"""The training step and its state, each test against a bug made by hand once.

* EMA warm-up formula removed (a constant decay) -> the EMA values below;
* loss not divided by ``grad_accum`` -> grad_accum 2 differs from one batch twice the size;
* resume without restoring the EMA, or the RNG state -> compared right after the restore
  (a few more steps of EMA warm-up would wash the difference out).
"""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from model.checkpoint import load_model
from tasks.train.callbacks import read_history
from tasks.train.checkpointing import (
    EMA_FILE,
    RNG_FILE,
    STATE_FILE,
    latest_checkpoint,
    load_tensors,
)
from tasks.train.engine import EMA


def _plan(catalog, tiny, dataset: str, **kw):
    from tasks.train.params import TrainBaseParams
    from tasks.train.stages import prepare

    params = TrainBaseParams(**tiny(dataset=dataset, frames=4, **kw))
    return prepare(params, catalog, str(uuid.uuid4()))


def test_ema_warmup_follows_its_formula():
    w = nn.Parameter(torch.zeros(3))
    ema = EMA({"w": w}, decay=0.999)
    with torch.no_grad():
        w.fill_(1.0)
    ema.update(0)  # decay min(0.999, 1/10) = 0.1: the average mostly follows the weights
    assert torch.allclose(ema.shadow["w"], torch.full((3,), 0.9))
    with torch.no_grad():
        w.fill_(2.0)
    ema.update(90)  # decay 91/100
    assert torch.allclose(ema.shadow["w"], torch.full((3,), 0.91 * 0.9 + 0.09 * 2.0))
    ema.update(10**6)  # the warm-up has ended: decay 0.999
    expected = 0.999 * (0.91 * 0.9 + 0.09 * 2.0) + 0.001 * 2.0
    assert torch.allclose(ema.shadow["w"], torch.full((3,), expected))


def test_grad_accum_equals_one_batch_twice_the_size(train_data, train_catalog, tiny):
    from tasks.train.stages import execute

    def run(name: str, batch_size: int, grad_accum: int) -> dict:
        plan = _plan(
            train_catalog,
            tiny,
            train_data["clips"],
            batch_size=batch_size,
            grad_accum=grad_accum,
            steps=2,
            checkpoint_every=2,
            grad_clip=0.0,
            run_name=name,
        )
        return execute(plan)

    accum, whole = run("accum-2x2", 2, 2), run("accum-1x4", 4, 1)
    a, b = read_history(Path(accum["run_dir"])), read_history(Path(whole["run_dir"]))
    assert [h["step"] for h in a] == [h["step"] for h in b] == [1, 2]
    for ha, hb in zip(a, b, strict=True):
        assert ha["loss"] == pytest.approx(hb["loss"], rel=1e-5)
        assert ha["grad_norm"] == pytest.approx(hb["grad_norm"], rel=1e-4)
    wa = load_model(accum["final_checkpoint"])[0].state_dict()
    wb = load_model(whole["final_checkpoint"])[0].state_dict()
    assert max((wa[k] - wb[k]).abs().max().item() for k in wa) <= 1e-6


def test_resume_restores_ema_and_rng_state(train_data, train_catalog, tiny):
    from tasks.train.stages import execute, make_engine

    clips = train_data["clips"]
    plan = _plan(train_catalog, tiny, clips, steps=3, checkpoint_every=3, run_name="resume-state")
    execute(plan)
    ckpt = latest_checkpoint(Path(plan.run_dir))
    saved_ema, saved_rng = load_tensors(ckpt / EMA_FILE), load_tensors(ckpt / RNG_FILE)
    saved_state = json.loads((ckpt / STATE_FILE).read_text())

    # a fresh process's generators: nothing like those at the checkpoint
    torch.manual_seed(12345)
    np.random.seed(6789)
    random.seed(42)
    state = make_engine(plan, resume=True).setup()
    assert state.step == 3
    # the EMA is the saved one, not the (restored) weights it would start from otherwise
    assert state.ema.shadow.keys() == saved_ema.keys()
    for k, v in state.ema.shadow.items():
        assert torch.equal(v, saved_ema[k]), k
    weights = {k: p.detach() for k, p in state.trainable.items()}
    assert any(not torch.equal(state.ema.shadow[k], weights[k]) for k in weights)
    # the global generators are where the checkpoint left them
    assert torch.equal(torch.get_rng_state(), saved_rng["torch_cpu"])
    np_state = np.random.get_state()
    assert np.array_equal(np_state[1], saved_rng["numpy_keys"].numpy().astype(np.uint32))
    assert np_state[2] == saved_state["rng"]["numpy"]["pos"]
    assert list(random.getstate()[1]) == saved_state["rng"]["python"]["internal"]


def test_engine_messages_go_through_its_callbacks(train_data, train_catalog, tiny, capsys):
    """The engine prints nothing itself: its messages (the memory estimate) reach every
    callback, and the default ``PrintMessages`` shows them on stdout."""
    from tasks.train.callbacks import Callback
    from tasks.train.stages import execute

    class Messages(Callback):
        def __init__(self):
            self.lines = []

        def on_message(self, text: str) -> None:
            self.lines.append(text)

    seen = Messages()
    plan = _plan(train_catalog, tiny, train_data["clips"], steps=1, run_name="messages")
    execute(plan, [seen])
    assert any(line.startswith("[train base] memory estimate") for line in seen.lines)
    printed = capsys.readouterr().out.splitlines()
    assert all(line in printed for line in seen.lines)
