"""Training flows: ``train_base``, ``train_sync``, ``train_upsampler`` and ``train_all``.

Each flow takes one pydantic parameter model (tasks.train.params), writes its
``runs`` row, checks every input before a step runs, trains (in this process
or on Ray Train workers), registers every checkpoint with its lineage, and
returns a summary dict with the checkpoint ids. Progress, loss and validation
curves and a metrics table appear as Prefect artifacts. A run stopped by
SIGTERM or SIGINT writes a checkpoint, is recorded ``interrupted`` and raises
``TrainingInterrupted`` (the next stage does not start); rerunning resumes.

Without Prefect (the demo, tests, scripts) call the plain functions::

    from flows.train import run_stage, run_all
    summary = run_stage(TrainBaseParams(dataset="clips", steps=20))
    result = run_all(TrainAllParams(clips_dataset="clips", objaverse_dataset="objv", ...))
"""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from catalog.store import Catalog
from flows.common import recorded_run
from tasks.train.callbacks import Callback
from tasks.train.params import (
    TrainAllParams,
    TrainBaseParams,
    TrainSyncParams,
    TrainUpsamplerParams,
)
from tasks.train.preemption import TrainingInterrupted
from tasks.train.stages import StagePlan, execute, prepare, stage_of
from tasks.train.tasks import PrefectArtifacts

__all__ = [
    "TrainAllParams",
    "TrainBaseParams",
    "TrainSyncParams",
    "TrainUpsamplerParams",
    "TrainingInterrupted",
    "run_all",
    "run_stage",
    "train_all",
    "train_base",
    "train_sync",
    "train_upsampler",
]


def fit(plan: StagePlan, params, callbacks: list[Callback] = ()) -> dict:
    """Train a checked plan here (1 worker) or on Ray Train (workers > 1 or a Ray address)."""
    if params.workers > 1 or params.ray_address:
        from tasks.train.distributed import run_distributed

        # auto: the cluster's GPUs decide (a remote cluster may have GPUs the driver lacks)
        use_gpu = {"cuda": True, "cpu": False}.get(params.device)
        summary = run_distributed(
            plan, workers=params.workers, use_gpu=use_gpu, ray_address=params.ray_address
        )
        # the workers cannot reach this flow run: its artifacts are made here, at the end
        for cb in callbacks:
            cb.on_start({**summary, "start_step": 0})
            cb.on_end(summary)
        return summary
    return execute(plan, callbacks)


def run_stage(
    params: TrainBaseParams | TrainSyncParams | TrainUpsamplerParams,
    callbacks: list[Callback] = (),
    catalog: Catalog | None = None,
) -> dict:
    """One stage, end to end, with its ``runs`` row; no Prefect needed."""
    catalog = catalog or Catalog()
    stage = stage_of(params)
    with recorded_run(f"train_{stage}", params, catalog) as rec:
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
    """What ``run_all`` and ``train_all`` return: each stage's summary and its checkpoint."""
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


def run_all(params: TrainAllParams, catalog: Catalog | None = None, callbacks=None) -> dict:
    """base -> sync (from the new base) -> upsampler; ``callbacks(stage) -> list``."""
    cbs = callbacks or (lambda stage: [])
    base = run_stage(params.base(), cbs("base"), catalog)
    sync = run_stage(params.sync_params(base["final_checkpoint_id"]), cbs("sync"), catalog)
    up_params = params.upsampler()
    up = run_stage(up_params, cbs("upsampler"), catalog) if up_params else None
    return chain_summary(base, sync, up)


@task(name="train-stage", cache_policy=NO_CACHE)
def train_stage_task(params) -> dict:
    """Check inputs, train, register checkpoints (progress and loss-curve artifacts)."""
    stage = stage_of(params)
    return run_stage(params, [PrefectArtifacts(f"train-{stage}")])


@flow(name="train_base", log_prints=True)
def train_base(params: TrainBaseParams) -> dict:
    """Stage 1: the base video model on clips (both modes, random masking)."""
    return train_stage_task(params)


@flow(name="train_sync", log_prints=True)
def train_sync(params: TrainSyncParams) -> dict:
    """Stage 2: sync layers on a frozen base, pseudo-4D then Objaverse grids."""
    return train_stage_task(params)


@flow(name="train_upsampler", log_prints=True)
def train_upsampler(params: TrainUpsamplerParams) -> dict:
    """Stage 3: the upsampler on high-resolution clips."""
    return train_stage_task(params)


@flow(name="train_all", log_prints=True)
def train_all(params: TrainAllParams) -> dict:
    """The three stages in a row; the sync stage starts from the base this run trained."""
    base = train_base(params.base())
    sync = train_sync(params.sync_params(base["final_checkpoint_id"]))
    up_params = params.upsampler()
    up = train_upsampler(up_params) if up_params else None
    return chain_summary(base, sync, up)
