"""Resume after a real SIGKILL, or a SIGTERM (preemption), reaches the same weights as an
uninterrupted run; a SIGTERM also ends the step, writes a checkpoint and records the run
``interrupted``.

Hand-made bug the SIGTERM test was seen to fail on (then reverted): the engine checking the
stop flag but not writing a checkpoint before it returns."""

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

from core.paths import REPO_ROOT, data_root
from model.checkpoint import load_model
from tasks.train.callbacks import read_history
from tasks.train.checkpointing import EMA_FILE, OPTIM_FILE, latest_checkpoint, load_tensors

STEPS = dict(steps=12, low_res_steps=6, frames=4, checkpoint_every=3, keep_last=2)
TOTAL = STEPS["steps"] + STEPS["low_res_steps"]

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


def _params(tiny, dataset: str, run_name: str, val_dataset: str) -> dict:
    # one DataLoader process: the kill also takes down a worker mid-prefetch; validation on
    # (grids sliced into clips): it must not move the training stream by a single draw
    validation = dict(val_dataset=val_dataset, eval_every=4, val_items=2)
    return tiny(dataset=dataset, run_name=run_name, loader_workers=1, **STEPS, **validation)


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


@pytest.fixture(scope="module")
def reference(train_data, tiny) -> Path:
    """The same settings, uninterrupted, in this process: its run folder."""
    from tasks.train.params import TrainBaseParams
    from tasks.train.run import run_stage

    ref = run_stage(
        TrainBaseParams(
            **_params(tiny, train_data["clips"], "resume-reference", train_data["objaverse"])
        )
    )
    assert ref["start_step"] == 0 and ref["final_step"] == TOTAL
    return data_root() / "runs" / "train" / "base" / "resume-reference"


def _same_as_reference(run_dir: Path, reference: Path) -> None:
    a_dir, a, a_extra = _final(run_dir)
    b_dir, b, b_extra = _final(reference)
    assert a_extra["step"] == b_extra["step"] == TOTAL
    assert a.keys() == b.keys()
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    assert worst <= 1e-6, worst
    # EMA and optimizer moments resumed too
    for name in (EMA_FILE, OPTIM_FILE):
        ta, tb = load_tensors(a_dir / name), load_tensors(b_dir / name)
        assert ta.keys() == tb.keys()
        assert max((ta[k].float() - tb[k].float()).abs().max().item() for k in ta) <= 1e-6, name
    # the history has one line per logged step, no duplicates from the interrupted run
    assert _logged_steps(run_dir) == list(range(1, TOTAL + 1))
    val = [h["step"] for h in read_history(run_dir, split="val")]
    assert val == sorted(set(val)) and val[0] == 0 and val[-1] == TOTAL
    assert torch.equal(a["final_layer.linear.weight"], b["final_layer.linear.weight"])


def _resume(params: dict, interrupted_at: int) -> None:
    proc = _spawn(params)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err.decode()[-3000:]
    resumed = json.loads(out.decode().strip().splitlines()[-1])
    assert resumed == {"final_step": TOTAL, "start_step": interrupted_at}


@pytest.mark.timeout(300)
def test_resume_after_sigkill_matches_uninterrupted(train_data, tiny, reference):
    runs = data_root() / "runs" / "train" / "base"

    # 1) a run killed with SIGKILL right after its first checkpoint (step 3 of 18)
    params = _params(tiny, train_data["clips"], "resume-killed", train_data["objaverse"])
    proc = _spawn(params)
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
    assert 3 <= interrupted_at < TOTAL, interrupted_at

    # 2) resume it (a new process, same settings and run folder) to the end
    _resume(params, interrupted_at)
    # 3) the same weights, EMA and optimizer state as the uninterrupted reference
    _same_as_reference(killed_dir, reference)


def _logged_steps(run_dir: Path) -> list[int]:
    """Training steps logged so far (complete lines only: the file is being appended to)."""
    path = run_dir / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    lines = [json.loads(ln) for ln in lines if ln.endswith("}")]
    return [h["step"] for h in lines if h.get("split", "train") == "train"]


@pytest.mark.timeout(300)
def test_sigterm_checkpoints_records_interrupted_and_resumes_exactly(
    train_data, tiny, reference, train_catalog
):
    """The CLI gets SIGTERM (as from Slurm or Kubernetes) once a step is logged: it ends that
    step, writes a checkpoint at it, records the run ``interrupted`` and exits 128 + 15."""
    params = _params(tiny, train_data["clips"], "resume-sigterm", train_data["objaverse"])
    run_dir = data_root() / "runs" / "train" / "base" / "resume-sigterm"
    options = [f"-p{k}={json.dumps(v)}" for k, v in params.items() if k != "dataset"]
    cli = [sys.executable, "-m", "fourreal.cli", "train", "base", params["dataset"], *options]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(cli, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    while not _logged_steps(run_dir):  # the handler is installed before step 1 runs
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)  # the trainer only: its loader worker ends with it
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err.decode()[-3000:]
    assert "Traceback" not in err.decode(), err.decode()[-3000:]
    said = [ln for ln in out.decode().splitlines() if ln.startswith("interrupted:")]
    assert len(said) == 1 and "SIGTERM at step" in said[0], out.decode()[-2000:]

    stopped_at = _logged_steps(run_dir)[-1]  # the step it was in, finished and logged
    assert 1 <= stopped_at < TOTAL, stopped_at
    assert latest_checkpoint(run_dir).name == f"step_{stopped_at:08d}"
    run = train_catalog.rows(
        "SELECT status, error FROM runs WHERE flow = 'train_base' AND parameters_json LIKE ?",
        ['%"run_name":"resume-sigterm"%'],
    )
    assert [r["status"] for r in run] == ["interrupted"], run
    ckpts = train_catalog.rows(
        "SELECT step FROM checkpoints WHERE path LIKE ?", ["%resume-sigterm%"]
    )
    assert stopped_at in [c["step"] for c in ckpts]

    _resume(params, stopped_at)
    _same_as_reference(run_dir, reference)
