"""DDP with gradient accumulation: 2 gloo ranks x grad_accum 2 = 1 process x grad_accum 4.

The ranks are two real processes in one gloo group (compile off). Each step
must all-reduce the gradients once -- in the last micro-batch's backward
(``no_sync`` before it); skipping ``no_sync`` gives the same weights but twice
the all-reduces, which the engine counts through its DDP comm hook.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

STEPS = 2


def _rank_main(rank: int, plan, init_file: str, out_dir: str) -> None:
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    from tasks.train.engine import find_ddp
    from tasks.train.stages import make_engine

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        summary = make_engine(plan, device="cpu", resume=False).fit()
        # under torch.compile the DDP module is one wrapper down: found all the same
        ddp = DistributedDataParallel(nn.Linear(2, 2))
        found = find_ddp(torch.compile(ddp)) is ddp
        record = {k: summary[k] for k in ("weights_sha256", "gradient_allreduces", "final_step")}
        record["found_ddp_through_compile"] = found
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(record))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _plan(catalog, tiny, dataset: str, grad_accum: int, name: str):
    from tasks.train.params import TrainBaseParams
    from tasks.train.stages import prepare

    settings = tiny(dataset=dataset, frames=4, steps=STEPS, batch_size=1, grad_clip=0.0)
    params = TrainBaseParams(**settings, grad_accum=grad_accum, run_name=name)
    return prepare(params, catalog, str(uuid.uuid4()))


@pytest.mark.timeout(400)
def test_two_gloo_ranks_accumulate_like_one_process(train_data, train_catalog, tiny, tmp_path):
    from model.checkpoint import load_model
    from tasks.train.callbacks import read_history
    from tasks.train.checkpointing import MODEL_FILE, latest_checkpoint
    from tasks.train.stages import make_engine

    ddp_plan = _plan(train_catalog, tiny, train_data["clips"], 2, "ddp-accum-2x2")
    mp.start_processes(
        _rank_main,
        args=(ddp_plan, str(tmp_path / "init"), str(tmp_path)),
        nprocs=2,
        start_method="spawn",
    )
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]
    assert all(r["found_ddp_through_compile"] and r["final_step"] == STEPS for r in ranks)
    # one all-reduce per step (the tiny model's gradients fit DDP's first 1 MB bucket)
    assert [r["gradient_allreduces"] for r in ranks] == [STEPS, STEPS]

    one_plan = _plan(train_catalog, tiny, train_data["clips"], 4, "ddp-accum-1x4")
    single = make_engine(one_plan, device="cpu", resume=False).fit()
    assert "gradient_allreduces" not in single  # no DDP in one process

    a = load_model(latest_checkpoint(Path(ddp_plan.run_dir)) / MODEL_FILE)[0].state_dict()
    b = load_model(latest_checkpoint(Path(one_plan.run_dir)) / MODEL_FILE)[0].state_dict()
    # gloo sums in another order: float noise, which Adam's first steps (~lr x sign(grad))
    # amplify on near-zero gradients; a wrong sample or noise draw moves weights by ~lr
    lr = one_plan.engine.lr
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 0.2 * lr
    ha, hb = read_history(Path(ddp_plan.run_dir)), read_history(Path(one_plan.run_dir))
    for x, y in zip(ha, hb, strict=True):
        assert x["loss"] == pytest.approx(y["loss"], rel=1e-5)
        assert x["grad_norm"] == pytest.approx(y["grad_norm"], rel=1e-4)
