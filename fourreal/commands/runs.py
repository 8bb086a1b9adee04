"""``fourreal runs show RUN``: a training run's curves and checkpoints, from the catalog.

Prints the run's row, its checkpoints (the best by validation loss marked), a
table of logged steps (training loss, validation loss, held-out PSNR against
the best trivial baseline) and a one-line curve of each series. ``--json``
prints one JSON object instead. Unknown runs are one line and exit code 2.
"""

from __future__ import annotations

import json
import math

import typer
from rich.console import Console
from rich.table import Table

console = Console()
runs_app = typer.Typer(help="Flow runs recorded in the catalog: training curves, checkpoints.")

SPARK = "▁▂▃▄▅▆▇█"
FIND_RUN = "SELECT * FROM runs WHERE run_id = $ref OR starts_with(run_id, $ref) ORDER BY run_id"
METRICS = """
SELECT step, coalesce(split, 'train') AS split, name, value, checkpoint_id
FROM metrics WHERE run_id = $run ORDER BY step, created_at
"""
CHECKPOINTS = "SELECT * FROM checkpoints WHERE run_id = $run ORDER BY step"
MIN_PREFIX = 8


def find_run(catalog, ref: str) -> dict:
    """A run by id, or by a unique prefix of at least 8 characters."""
    rows = catalog.rows(FIND_RUN, {"ref": ref})
    exact = [r for r in rows if r["run_id"] == ref]
    if exact:
        return exact[0]
    if not rows or len(ref) < MIN_PREFIX:
        raise ValueError(f"run: no run with id {ref!r} (a prefix needs {MIN_PREFIX}+ characters)")
    if len(rows) > 1:
        raise ValueError(f"run: {ref!r} matches {len(rows)} runs; give more of the id")
    return rows[0]


def series(rows: list[dict]) -> dict[str, list[dict]]:
    """``{"train": [...], "val": [...]}``: one dict per step, ``{"step", name: value, ...}``."""
    out: dict[str, dict[int, dict]] = {"train": {}, "val": {}}
    for r in rows:
        point = out.setdefault(r["split"], {}).setdefault(r["step"], {"step": r["step"]})
        point[r["name"]] = r["value"]
        if r["checkpoint_id"]:
            point["checkpoint_id"] = r["checkpoint_id"]
    return {split: [by_step[s] for s in sorted(by_step)] for split, by_step in out.items()}


def best_checkpoint(checkpoints: list[dict]) -> dict | None:
    """The checkpoint with the lowest validation loss (recorded in its metrics)."""
    scored = [c for c in checkpoints if c["metrics"].get("val_loss") is not None]
    return min(scored, key=lambda c: (c["metrics"]["val_loss"], c["step"])) if scored else None


def run_report(catalog, ref: str) -> dict:
    """Everything ``runs show`` prints, as plain data."""
    from tasks.train.callbacks import val_table

    run = find_run(catalog, ref)
    rid = run["run_id"]
    curves = series(catalog.rows(METRICS, {"run": rid}))
    checkpoints = [
        {
            "checkpoint_id": c["checkpoint_id"],
            "stage": c["stage"],
            "step": c["step"],
            "path": c["path"],
            "metrics": json.loads(c["metrics_json"] or "{}"),
        }
        for c in catalog.rows(CHECKPOINTS, {"run": rid})
    ]
    best = best_checkpoint(checkpoints)
    for c in checkpoints:
        c["best"] = best is not None and c["checkpoint_id"] == best["checkpoint_id"]
    keep = ("run_id", "flow", "status", "error", "started_at", "ended_at", "git_commit")
    return {
        "run": {k: run[k] for k in keep},
        "checkpoints": checkpoints,
        "best_checkpoint_id": best["checkpoint_id"] if best else None,
        "train": curves["train"],
        "val": val_table(curves["val"]),
    }


def sparkline(values: list[float], width: int = 40) -> str:
    """The values as one line of block characters (evenly resampled to ``width``)."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return ""
    if len(values) > width:
        values = [values[round(i * (len(values) - 1) / (width - 1))] for i in range(width)]
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return "".join(SPARK[min(7, int((v - lo) / span * 8))] for v in values)


def _fmt(v) -> str:
    return "" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def print_report(report: dict, max_rows: int) -> None:
    run = report["run"]
    console.print(
        f"run {run['run_id']}  {run['flow']}  {run['status']}  "
        f"started {run['started_at']}  ended {run['ended_at']}",
        soft_wrap=True,
    )
    if run["error"]:
        console.print(f"  {run['error']}", soft_wrap=True)
    train, val = report["train"], report["val"]
    val_by_step = {v["step"]: v for v in val}
    steps = sorted({p["step"] for p in train} | set(val_by_step))
    if len(steps) > max_rows:  # evenly spaced, always the last one and every validation
        every = {steps[round(i * (len(steps) - 1) / (max_rows - 1))] for i in range(max_rows)}
        steps = sorted(every | set(val_by_step))
    train_by_step = {p["step"]: p for p in train}
    table = Table(title="steps")
    cols = ["step", "train loss", "val loss", "PSNR model", "best baseline", "margin dB"]
    for c in cols:
        table.add_column(c, justify="right")
    for s in steps:
        t, v = train_by_step.get(s, {}), val_by_step.get(s, {})
        base = f"{v['best_baseline']} {v['psnr_baseline']:.2f}" if "best_baseline" in v else ""
        table.add_row(str(s), _fmt(t.get("loss")), _fmt(v.get("val_loss")),
                      _fmt(v.get("psnr_model")), base, _fmt(v.get("margin_db")))  # fmt: skip
    console.print(table)
    _print_curves(train, val)
    _print_checkpoints(report)


def _print_curves(train: list[dict], val: list[dict]) -> None:
    if train:
        loss = [p.get("loss") for p in train]
        console.print(
            f"train loss {sparkline(loss)}  {loss[0]:.4f} -> {loss[-1]:.4f} "
            f"(min {min(loss):.4f}) over steps {train[0]['step']}..{train[-1]['step']}",
            soft_wrap=True,
        )
    if val:
        loss = [v["val_loss"] for v in val]
        low = min(val, key=lambda v: v["val_loss"])
        console.print(
            f"val loss   {sparkline(loss)}  {loss[0]:.4f} -> {loss[-1]:.4f} "
            f"(min {low['val_loss']:.4f} at step {low['step']})",
            soft_wrap=True,
        )
    else:
        console.print("no validation recorded (eval_every = 0, or no held-out data)")
    scored = [v for v in val if "psnr_model" in v]
    if scored:
        last = scored[-1]
        verdict = "beats" if last["margin_db"] > 0 else "does NOT beat"
        console.print(
            f"held-out PSNR at step {last['step']}: model {last['psnr_model']:.2f} dB "
            f"{verdict} the best baseline ({last['best_baseline']} {last['psnr_baseline']:.2f} dB)",
            soft_wrap=True,
        )


def _print_checkpoints(report: dict) -> None:
    if not report["checkpoints"]:
        console.print("no checkpoints")
        return
    table = Table(title="checkpoints")
    for c in ("step", "checkpoint_id", "val loss", "best"):
        table.add_column(c)
    for c in report["checkpoints"]:
        val = c["metrics"].get("val_loss")
        table.add_row(str(c["step"]), c["checkpoint_id"], _fmt(val), "best" if c["best"] else "")
    console.print(table)


@runs_app.command("show")
def show(
    run: str = typer.Argument(..., help="Run id (or a unique prefix of 8+ characters)"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object"),
    max_rows: int = typer.Option(30, help="Steps in the table (evenly spaced; every validation)"),
) -> None:
    """A run's training and validation curves, and its checkpoints (the best one marked)."""
    from catalog.store import Catalog
    from fourreal.commands.catalog import one_line_errors

    with one_line_errors():
        report = run_report(Catalog(), run)
    if as_json:
        print(json.dumps(report, default=str))
        return
    print_report(report, max(2, max_rows))


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
