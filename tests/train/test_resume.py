"""Resume after a real SIGKILL reaches the same weights as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from fourreal.core.paths import REPO_ROOT, data_root
from model.checkpoint import load_model
from tasks.train.checkpointing import EMA_FILE, OPTIM_FILE, latest_checkpoint, load_tensors

STEPS = dict(steps=12, low_res_steps=6, frames=4, checkpoint_every=3, keep_last=2)

# The engine path without Prefect (importing it would double the subprocess start-up).
SCRIPT = textwrap.dedent(
    """
    import json, sys, uuid
    from catalog.store import Catalog
    from tasks.train.params import TrainBaseParams
    from tasks.train.stages import execute, prepare
    plan = prepare(TrainBaseParams(**json.loads(sys.argv[1])), Catalog(), str(uuid.uuid4()))
    summary = execute(plan)
    print(json.dumps({"final_step": summary["final_step"], "start_step": summary["start_step"]}))
    """
)


def _params(tiny, dataset: str, run_name: str) -> dict:
    # one DataLoader process: the kill also takes down a worker mid-prefetch
    return tiny(dataset=dataset, run_name=run_name, loader_workers=1, **STEPS)


def _spawn(params: dict) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, json.dumps(params)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _final(run_dir: Path):
    ckpt = latest_checkpoint(run_dir)
    model, _, extra = load_model(ckpt / "model.safetensors")
    return ckpt, model.state_dict(), extra


@pytest.mark.timeout(300)
def test_resume_after_sigkill_matches_uninterrupted(train_data, tiny):
    from flows.train import run_stage
    from tasks.train.params import TrainBaseParams

    total = STEPS["steps"] + STEPS["low_res_steps"]
    runs = data_root() / "runs" / "train" / "base"

    # 1) a run killed with SIGKILL right after its first checkpoint (step 3 of 18)
    proc = _spawn(_params(tiny, train_data["clips"], "resume-killed"))
    killed_dir = runs / "resume-killed"
    deadline = time.time() + 120
    while latest_checkpoint(killed_dir) is None:
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the trainer and its DataLoader worker
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    interrupted_at = int(latest_checkpoint(killed_dir).name.split("_")[1])
    assert 3 <= interrupted_at < total, interrupted_at

    # 2) resume it (a new process, same settings and run folder) to the end
    proc = _spawn(_params(tiny, train_data["clips"], "resume-killed"))
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err.decode()[-3000:]
    resumed = json.loads(out.decode().strip().splitlines()[-1])
    assert resumed == {"final_step": total, "start_step": interrupted_at}

    # 3) the same settings, uninterrupted, in this process
    ref = run_stage(TrainBaseParams(**_params(tiny, train_data["clips"], "resume-reference")))
    assert ref["start_step"] == 0 and ref["final_step"] == total

    a_dir, a, a_extra = _final(killed_dir)
    b_dir, b, b_extra = _final(runs / "resume-reference")
    assert a_extra["step"] == b_extra["step"] == total
    assert a.keys() == b.keys()
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    assert worst <= 1e-6, worst
    # EMA and optimizer moments resumed too
    for name in (EMA_FILE, OPTIM_FILE):
        ta, tb = load_tensors(a_dir / name), load_tensors(b_dir / name)
        assert ta.keys() == tb.keys()
        assert max((ta[k].float() - tb[k].float()).abs().max().item() for k in ta) <= 1e-6, name
    # the history has one line per logged step, no duplicates from the killed run
    steps = [
        json.loads(ln)["step"] for ln in (killed_dir / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == list(range(1, total + 1))
    assert torch.equal(a["final_layer.linear.weight"], b["final_layer.linear.weight"])
