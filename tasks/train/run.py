"""The training library entry, no Prefect: parameters -> checked plan -> fit -> checkpoints.

``run_stage(params)`` writes the stage's ``runs`` row, checks every input
before a step runs (``stages.prepare``), trains in this process or on Ray
Train workers (``fit``), and records every checkpoint with its lineage.
``run_all`` chains base -> sync (from that base) -> upsampler. The Prefect
flows (flows/train.py) call the same functions through the ``@task`` of
``tasks.train.tasks``; the demo, tests and scripts call them directly::

    from tasks.train.run import run_all, run_stage
    summary = run_stage(TrainBaseParams(dataset="clips", steps=20))
    result = run_all(TrainAllParams(clips_dataset="clips", objaverse_dataset="objv", ...))

A run stopped by SIGTERM or SIGINT writes a checkpoint, is recorded
``interrupted`` and raises ``TrainingInterrupted``; rerunning resumes.
"""

from __future__ import annotations

from collections.abc import Callable

from catalog.store import Catalog
from tasks.recording import recorded_run
from tasks.train.callbacks import Callback
from tasks.train.params import (
    TrainAllParams,
    TrainBaseParams,
    TrainSyncParams,
    TrainUpsamplerParams,
)
from tasks.train.preemption import TrainingInterrupted
from tasks.train.stages import StagePlan, execute, prepare, stage_of

StageParams = TrainBaseParams | TrainSyncParams | TrainUpsamplerParams


def fit(plan: StagePlan, params: StageParams, callbacks: list[Callback] = ()) -> dict:
    """Train a checked plan here (1 worker) or on Ray Train (workers > 1 or a Ray address)."""
    if params.workers > 1 or params.ray_address:
        from tasks.train.distributed import run_distributed

        # auto: the cluster's GPUs decide (a remote cluster may have GPUs the driver lacks)
        use_gpu = {"cuda": True, "cpu": False}.get(params.device)
        summary = run_distributed(
            plan, workers=params.workers, use_gpu=use_gpu, ray_address=params.ray_address
        )
        # the workers cannot reach the caller's callbacks: they see the run at its end
        for cb in callbacks:
            cb.on_start({**summary, "start_step": 0})
            cb.on_end(summary)
        return summary
    return execute(plan, callbacks)


def run_stage(
    params: StageParams,
    callbacks: list[Callback] = (),
    catalog: Catalog | None = None,
    flow_run_id: str | None = None,
) -> dict:
    """One stage, end to end, with its ``runs`` row (id: ``flow_run_id`` under Prefect)."""
    catalog = catalog or Catalog()
    stage = stage_of(params)
    with recorded_run(f"train_{stage}", params, catalog, flow_run_id=flow_run_id) as rec:
        plan = prepare(params, catalog, rec.run_id)  # every check, before any step
        for dataset_id in plan.dataset_ids:
            rec.add_input("dataset", dataset_id)
        if plan.parent_checkpoint_id:
            rec.add_input("checkpoint", plan.parent_checkpoint_id)
        summary = fit(plan, params, callbacks)
        for checkpoint_id in summary["checkpoint_ids"]:
            rec.add_output("checkpoint", checkpoint_id)
        if summary.get("interrupted"):
            rec.mark("interrupted")
            raise TrainingInterrupted(summary)
    return summary


def chain_summary(base: dict, sync: dict, up: dict | None) -> dict:
    """What ``run_all`` and the ``train_all`` flow return: each stage's summary and checkpoint."""
    return {
        "base": base,
        "sync": sync,
        "upsampler": up,
        "checkpoint_ids": {
            "base": base["final_checkpoint_id"],
            "sync": sync["final_checkpoint_id"],
            "upsampler": up["final_checkpoint_id"] if up else None,
        },
    }


def run_all(
    params: TrainAllParams,
    catalog: Catalog | None = None,
    callbacks: Callable[[str], list[Callback]] | None = None,
) -> dict:
    """base -> sync (from the new base) -> upsampler; ``callbacks(stage) -> list``."""
    cbs = callbacks or (lambda stage: [])
    base = run_stage(params.base(), cbs("base"), catalog)
    sync = run_stage(params.sync_params(base["final_checkpoint_id"]), cbs("sync"), catalog)
    up_params = params.upsampler()
    up = run_stage(up_params, cbs("upsampler"), catalog) if up_params else None
    return chain_summary(base, sync, up)
