"""Where training metrics go: hooks the engine calls, each a small callback.

The engine knows only :class:`Callback`. This module provides the sinks:

* :class:`TensorBoardLogger`  scalars under ``<run>/tensorboard`` (``tensorboard --logdir``);
* :class:`CatalogMetrics`     the catalog ``metrics`` table, flushed in batches;
* :class:`CatalogCheckpoints` a ``checkpoints`` row (sha256, lineage) per checkpoint;
* :class:`PrefectArtifacts`   a progress artifact while training, then a loss-curve
  PNG (saved under the run folder, shown in a markdown artifact) and a table.
  Prefect is imported lazily inside it, so the engine stays Prefect-free.

The full history (across resumes) is ``<run>/metrics.jsonl``, written by the engine.
"""

from __future__ import annotations

import json
from pathlib import Path

from fourreal.core.io import atomic_path


class Callback:
    """Engine hooks; every method is optional."""

    def on_start(self, info: dict) -> None:
        """``info``: stage, run_dir, start_step, total_steps."""

    def on_log(self, step: int, metrics: dict[str, float]) -> None:
        """Scalars of one logged step."""

    def on_checkpoint(self, step: int, path: Path, meta: dict) -> dict | None:
        """A checkpoint was written; may return a catalog row (collected in the summary)."""
        return None

    def on_end(self, summary: dict) -> None:
        """Training finished (not called on failure)."""


class TensorBoardLogger(Callback):
    def __init__(self, log_dir: Path, prefix: str):
        self.log_dir, self.prefix, self.writer = Path(log_dir), prefix, None

    def on_start(self, info: dict) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step drops events a killed run logged after its last checkpoint.
        self.writer = SummaryWriter(str(self.log_dir), purge_step=info["start_step"] or None)

    def on_log(self, step: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(f"{self.prefix}/{name}", value, step)

    def on_checkpoint(self, step: int, path: Path, meta: dict) -> None:
        self.writer.flush()

    def on_end(self, summary: dict) -> None:
        self.writer.close()


class CatalogMetrics(Callback):
    """Rows ``(run_id, stage, step, name, value)``; one Parquet part per flush."""

    def __init__(self, catalog, run_id: str, stage: str):
        self.catalog, self.run_id, self.stage = catalog, run_id, stage
        self.pending: list[dict] = []

    def on_log(self, step: int, metrics: dict[str, float]) -> None:
        self.pending += [
            {"run_id": self.run_id, "stage": self.stage, "step": step, "name": k, "value": float(v)}
            for k, v in metrics.items()
        ]

    def flush(self) -> None:
        if self.pending:
            self.catalog.append("metrics", self.pending)
            self.pending = []

    def on_checkpoint(self, step: int, path: Path, meta: dict) -> None:
        self.flush()

    def on_end(self, summary: dict) -> None:
        self.flush()


class CatalogCheckpoints(Callback):
    """Registers every checkpoint with its lineage (dataset, parent checkpoint, run)."""

    def __init__(self, catalog, *, stage: str, run_id: str, parent_checkpoint_id: str | None):
        self.catalog, self.stage, self.run_id = catalog, stage, run_id
        self.parent = parent_checkpoint_id

    def on_checkpoint(self, step: int, path: Path, meta: dict) -> dict:
        from catalog.checkpoints import register_checkpoint

        return register_checkpoint(
            self.catalog,
            stage=self.stage,
            path=path,
            step=step,
            run_id=self.run_id,
            dataset_id=meta["dataset_id"],
            parent_checkpoint_id=self.parent,
            config=meta["config"],
            metrics=meta["metrics"],
        )


def read_history(run_dir: Path) -> list[dict]:
    """The logged steps of a run (``metrics.jsonl``), oldest first."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_loss_curve(history: list[dict], path: Path, title: str) -> Path:
    """Loss (and EMA-smoothed loss) against step, written atomically as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    loss = [h["loss"] for h in history]
    smooth, acc = [], None
    for v in loss:
        acc = v if acc is None else 0.9 * acc + 0.1 * v
        smooth.append(acc)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(steps, loss, lw=0.8, alpha=0.5, label="loss")
    ax.plot(steps, smooth, lw=1.6, label="smoothed")
    for h in history:
        if h.get("phase_start"):
            ax.axvline(h["step"], color="gray", ls="--", lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("flow-matching loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
