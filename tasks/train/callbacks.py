"""Where training metrics go: hooks the engine calls, each a small callback.

The engine knows only :class:`Callback`. This module provides the sinks:

* :class:`PrintMessages`      the engine's messages (memory estimate, validation) on stdout;
* :class:`TensorBoardLogger`  scalars under ``<run>/tensorboard`` (``tensorboard --logdir``);
* :class:`CatalogMetrics`     the catalog ``metrics`` table (split ``train`` and ``val``, the
  checkpoint id on rows of a checkpoint's step), flushed at every checkpoint;
* :class:`CatalogCheckpoints` a ``checkpoints`` row (sha256, lineage) per checkpoint;
* ``tasks.train.tasks.PrefectArtifacts`` (beside the Prefect task, so this module stays
  Prefect-free): a progress artifact while training, then a loss-curve PNG (saved under
  the run folder, shown in a markdown artifact) and a table.

The full history (across resumes) is ``<run>/metrics.jsonl``, written by the engine:
one line per logged step, and one per validation with ``"split": "val"``.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.io import atomic_path


class Callback:
    """Engine hooks; every method is optional."""

    def on_start(self, info: dict) -> None:
        """``info``: stage, run_dir, start_step, total_steps."""

    def on_log(self, step: int, metrics: dict[str, float]) -> None:
        """Scalars of one logged step."""

    def on_validate(self, step: int, metrics: dict[str, float]) -> None:
        """Held-out metrics at ``step`` (tasks.train.validation)."""

    def on_checkpoint(self, step: int, path: Path, meta: dict) -> dict | None:
        """A checkpoint was written; may return a catalog row (collected in the summary)."""
        return None

    def on_checkpoint_recorded(self, step: int, rows: list[dict]) -> None:
        """The catalog rows every ``on_checkpoint`` returned for this checkpoint."""

    def on_end(self, summary: dict) -> None:
        """Training finished (not called on failure)."""

    def on_message(self, text: str) -> None:
        """A line for whoever runs the training (memory estimate, validation losses)."""


class PrintMessages(Callback):
    """The engine's messages on stdout (a flow's ``log_prints`` turns them into logs)."""

    def on_message(self, text: str) -> None:
        print(text, flush=True)


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

    def on_validate(self, step: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(f"{self.prefix}/val/{name}", value, step)

    def on_checkpoint(self, step: int, path: Path, meta: dict) -> None:
        self.writer.flush()

    def on_end(self, summary: dict) -> None:
        self.writer.close()


class CatalogMetrics(Callback):
    """Rows ``(run_id, stage, step, split, name, value, checkpoint_id)``; one commit per flush."""

    def __init__(self, catalog, run_id: str, stage: str):
        self.catalog, self.run_id, self.stage = catalog, run_id, stage
        self.pending: list[dict] = []

    def _rows(self, step: int, split: str, metrics: dict[str, float]) -> list[dict]:
        base = {"run_id": self.run_id, "stage": self.stage, "step": step, "split": split}
        return [{**base, "name": k, "value": float(v)} for k, v in metrics.items()]

    def on_log(self, step: int, metrics: dict[str, float]) -> None:
        self.pending += self._rows(step, "train", metrics)

    def on_validate(self, step: int, metrics: dict[str, float]) -> None:
        self.pending += self._rows(step, "val", metrics)

    def flush(self) -> None:
        if self.pending:
            self.catalog.append("metrics", self.pending)
            self.pending = []

    def on_checkpoint_recorded(self, step: int, rows: list[dict]) -> None:
        """Tie this step's rows to the checkpoint written at it, then flush."""
        ids = [r["checkpoint_id"] for r in rows if r.get("checkpoint_id")]
        for row in self.pending:
            if ids and row["step"] == step:
                row["checkpoint_id"] = ids[-1]
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


def read_history(run_dir: Path, split: str | None = "train") -> list[dict]:
    """The logged steps of a run (``metrics.jsonl``), oldest first: ``split`` ``train``
    (lines without a split are training lines), ``val``, or None for every line."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [h for h in lines if split is None or h.get("split", "train") == split]


def plot_loss_curve(history: list[dict], path: Path, title: str) -> Path:
    """Training loss (raw and smoothed) and validation loss against step; with held-out
    scores, a second panel: PSNR of the generated grids against the best baseline.
    ``history``: every line of ``metrics.jsonl``. Written atomically as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [h for h in history if h.get("split", "train") == "train"]
    val = [h for h in history if h.get("split") == "val"]
    scored = [h for h in val if "psnr/model" in h]
    steps = [h["step"] for h in train]
    loss = [h["loss"] for h in train]
    smooth, acc = [], None
    for v in loss:
        acc = v if acc is None else 0.9 * acc + 0.1 * v
        smooth.append(acc)
    panels = 2 if scored else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 3.5), dpi=100, squeeze=False)
    ax = axes[0][0]
    ax.plot(steps, loss, lw=0.8, alpha=0.5, label="train loss")
    ax.plot(steps, smooth, lw=1.6, label="train (smoothed)")
    if val:
        ax.plot([h["step"] for h in val], [h["loss"] for h in val], "o-", lw=1.6,
                label="validation (held out, EMA)")  # fmt: skip
    for h in train:
        if h.get("phase_start"):
            ax.axvline(h["step"], color="gray", ls="--", lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("flow-matching loss")
    ax.set_title(title)
    ax.legend()
    if scored:
        _plot_scores(axes[0][1], scored)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def _plot_scores(ax, scored: list[dict]) -> None:
    """Held-out PSNR of the model against the best baseline at each scored step."""
    from tasks.baselines import BASELINES

    steps = [h["step"] for h in scored]
    ax.plot(steps, [h["psnr/model"] for h in scored], "o-", label="model")
    best = [max(h.get(f"psnr/{b}", float("-inf")) for b in BASELINES) for h in scored]
    ax.plot(steps, best, "s--", label="best baseline")
    ax.set_xlabel("step")
    ax.set_ylabel("held-out PSNR (dB), generated frames")
    ax.legend()


def val_table(val: list[dict]) -> list[dict]:
    """One row per validation: step, loss, and (when scored) the model's held-out PSNR, the
    best baseline's and by how much the model beats it (negative: it does not)."""
    from tasks.baselines import BASELINES

    rows = []
    for h in val:
        row = {"step": h["step"], "val_loss": h["loss"]}
        if "psnr/model" in h:
            name, best = max(
                ((b, h[f"psnr/{b}"]) for b in BASELINES if f"psnr/{b}" in h), key=lambda x: x[1]
            )
            row.update(psnr_model=h["psnr/model"], best_baseline=name, psnr_baseline=best)
            row["margin_db"] = h["psnr/model"] - best
        rows.append(row)
    return rows


def validation_markdown(summary: dict, val: list[dict]) -> str:
    """The validation curve as a markdown table (every point, or 40 evenly spaced)."""
    if not val:
        return ""
    table = val_table(val)
    stride = max(1, len(table) // 40)
    shown = table[::stride] + ([table[-1]] if (len(table) - 1) % stride else [])
    cols = list(dict.fromkeys(k for r in shown for k in r))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in shown:
        cells = [f"{r[c]:.4f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    best = (summary.get("validation") or {}).get("best_step")
    head = f"\n\n## Validation (held out, EMA weights)\n\nbest checkpoint by validation loss: step {best}\n\n"
    return head + "\n".join(lines)
