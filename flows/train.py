"""Training flows: ``train_base``, ``train_sync``, ``train_upsampler`` and ``train_all``.

Each flow takes one pydantic parameter model (tasks.train.params) and runs the
library entry ``tasks.train.run.run_stage`` through the ``train-stage`` task
(tasks.train.tasks): its ``runs`` row (the flow run's id), every input checked
before a step runs, training here or on Ray Train workers, every checkpoint
registered with its lineage; progress, loss and validation curves and a
metrics table appear as Prefect artifacts. A run stopped by SIGTERM or SIGINT
writes a checkpoint, is recorded ``interrupted`` and raises
``TrainingInterrupted`` (the next stage does not start); rerunning resumes.

Without Prefect (the demo, tests, scripts) call ``tasks.train.run`` directly;
``run_stage`` and ``run_all`` are re-exported here for older callers.
"""

from __future__ import annotations

from prefect import flow

from flows.common import current_flow_run_id
from tasks.train.params import (
    TrainAllParams,
    TrainBaseParams,
    TrainSyncParams,
    TrainUpsamplerParams,
)
from tasks.train.preemption import TrainingInterrupted
from tasks.train.run import chain_summary, run_all, run_stage
from tasks.train.tasks import train_stage_task

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


@flow(name="train_base", log_prints=True)
def train_base(params: TrainBaseParams) -> dict:
    """Stage 1: the base video model on clips (both modes, random masking)."""
    return train_stage_task(params, current_flow_run_id())


@flow(name="train_sync", log_prints=True)
def train_sync(params: TrainSyncParams) -> dict:
    """Stage 2: sync layers on a frozen base, pseudo-4D then Objaverse grids."""
    return train_stage_task(params, current_flow_run_id())


@flow(name="train_upsampler", log_prints=True)
def train_upsampler(params: TrainUpsamplerParams) -> dict:
    """Stage 3: the upsampler on high-resolution clips."""
    return train_stage_task(params, current_flow_run_id())


@flow(name="train_all", log_prints=True)
def train_all(params: TrainAllParams) -> dict:
    """The three stages in a row; the sync stage starts from the base this run trained."""
    base = train_base(params.base())
    sync = train_sync(params.sync_params(base["final_checkpoint_id"]))
    up_params = params.upsampler()
    up = train_upsampler(up_params) if up_params else None
    return chain_summary(base, sync, up)
