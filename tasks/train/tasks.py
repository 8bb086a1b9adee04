"""Prefect pieces of training: the stage ``@task`` and its artifact callback.

``train_stage_task`` runs ``tasks.train.run.run_stage`` (the library entry) inside a
flow run, with the artifacts (progress, loss curve, metrics table) as a callback.
"""

from __future__ import annotations

import base64
from pathlib import Path

from prefect import task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from tasks.train.callbacks import Callback, plot_loss_curve, read_history, validation_markdown
from tasks.train.run import run_stage
from tasks.train.stages import stage_of


class PrefectArtifacts(Callback):
    """Progress while training; loss curve + table at the end (inside a Prefect run)."""

    def __init__(self, key: str, every: int = 1):
        self.key = key.lower().replace("_", "-")
        self.every, self.progress_id, self.total, self.run_dir = every, None, 1, None

    def on_start(self, info: dict) -> None:

        self.total, self.run_dir = max(1, info["total_steps"]), Path(info["run_dir"])
        self.progress_id = create_progress_artifact(
            progress=100.0 * info["start_step"] / self.total,
            key=f"{self.key}-progress",
            description=f"{info['stage']} training: steps done / {info['total_steps']}",
        )

    def on_log(self, step: int, metrics: dict[str, float]) -> None:

        if self.progress_id is not None:
            update_progress_artifact(self.progress_id, progress=100.0 * step / self.total)

    def on_end(self, summary: dict) -> None:

        if self.progress_id is not None:
            update_progress_artifact(self.progress_id, progress=100.0)
        history = read_history(self.run_dir)
        if not history:
            return
        everything = read_history(self.run_dir, split=None)
        png = plot_loss_curve(everything, self.run_dir / "loss_curve.png", summary["stage"])
        b64 = base64.b64encode(png.read_bytes()).decode()
        create_markdown_artifact(
            key=f"{self.key}-loss",
            markdown=f"## {summary['stage']} loss\n\n![loss curve](data:image/png;base64,{b64})\n\n"
            f"PNG: `{png}`\n\nfinal checkpoint: `{summary.get('final_checkpoint_id')}`"
            f"{validation_markdown(summary, read_history(self.run_dir, split='val'))}",
            description=f"{summary['stage']} loss and validation curves",
        )
        stride = max(1, len(history) // 50)
        rows = [
            {k: (round(v, 6) if isinstance(v, float) else v) for k, v in h.items()}
            for h in history[::stride] + ([history[-1]] if (len(history) - 1) % stride else [])
        ]
        create_table_artifact(
            key=f"{self.key}-metrics", table=rows, description=f"{summary['stage']} metrics"
        )


@task(name="train-stage", cache_policy=NO_CACHE)
def train_stage_task(params, flow_run_id: str | None = None) -> dict:
    """Check inputs, train, register checkpoints (progress and loss-curve artifacts).

    ``flow_run_id``: the calling flow run's id, which the ``runs`` row takes.
    """
    stage = stage_of(params)
    return run_stage(params, [PrefectArtifacts(f"train-{stage}")], flow_run_id=flow_run_id)
