"""Evaluation of sync checkpoints on a held-out snapshot of rendered grids.

For every ground-truth grid of the snapshot the checkpoint generates the grid
from its ``grid[0, :]`` and ``grid[:, 0]`` (same steps and seed for every
checkpoint), then

* against ground truth, over the generated frames only (not the conditioning
  ones): PSNR and SSIM (tasks.metrics);
* without ground truth: the consistency score and RANSAC inlier ratio of the
  freeze-time and fixed-view slices of the generated grid; the same scores of
  the ground-truth grids are the reference row of the table;
* FID / KID / FVD / LPIPS / CLIP score / DUSt3R τ-consistency
  (tasks.evaluation.learned) only from local weights, else a skipped line.

Sampling: ``steps``, ``seed``, classifier-free ``guidance_scale`` and the
schedule ``shift`` are the same for every checkpoint; EMA weights by default.

Results are ``evaluations`` rows (checkpoint, dataset, metric, value,
details), and the comparison table is built from the catalog, so it holds
every checkpoint ever evaluated on that snapshot.
"""

from __future__ import annotations

import json
import math

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from catalog.datasets import dataset_samples, get_dataset
from catalog.ids import evaluation_id
from catalog.store import Catalog
from tasks.generate import (
    GenerationInputs,
    read_grid_npz,
    resize_frames,
    sample_grid,
    sample_grid_path,
)
from tasks.metrics import frame_metrics, grid_consistency

GT_METRICS = ("psnr", "ssim")
CONSISTENCY_METRICS = (
    "consistency",
    "consistency_freeze_time",
    "consistency_fixed_view",
    "inlier_ratio_freeze_time",
    "inlier_ratio_fixed_view",
)
REFERENCE = "ground truth (reference)"

LATEST_EVALUATIONS = """
SELECT checkpoint_id, metric, arg_max(value, created_at) AS value, max(created_at) AS at
FROM evaluations WHERE dataset_id = ? GROUP BY checkpoint_id, metric
"""


def fit_grid(
    rgb: np.ndarray, max_frames: int, height: int, width: int
) -> tuple[np.ndarray, list[str]]:
    """Ground truth fitted to a model: at most ``max_frames`` views and times, ``height x width``."""
    V, T, H, W, _ = rgb.shape
    warnings = []
    vi = np.round(np.linspace(0, V - 1, min(V, max_frames))).astype(int)
    ti = np.round(np.linspace(0, T - 1, min(T, max_frames))).astype(int)
    if len(vi) < V or len(ti) < T:
        warnings.append(
            f"grid {V}x{T} exceeds the model's {max_frames} frames: using {len(vi)}x{len(ti)}"
        )
        rgb = rgb[vi][:, ti]
    if (H, W) != (height, width):
        warnings.append(f"grid frames {H}x{W} resized to {height}x{width}")
        v, t = rgb.shape[:2]
        rgb = resize_frames(rgb.reshape(v * t, H, W, 3), height, width).reshape(
            v, t, height, width, 3
        )
    return np.ascontiguousarray(rgb), warnings


def load_heldout(catalog: Catalog, ref: str, allow_non_heldout: bool, max_samples: int | None):
    """``(dataset row, [(sample_id, rgb uint8 grid)])`` of an evaluation snapshot."""
    ds = get_dataset(catalog, ref)
    if ds["split"] != "heldout" and not allow_non_heldout:
        raise ValueError(
            f"dataset: snapshot {ds['name']!r} has split {ds['split']!r}, not 'heldout' "
            "(set allow_non_heldout to evaluate on it anyway)"
        )
    rows = [r for r in dataset_samples(catalog, ds["dataset_id"]) if r["v"] and r["t"]]
    if not rows:
        raise ValueError(f"dataset: snapshot {ds['name']!r} holds no grid samples")
    rows = rows[:max_samples] if max_samples else rows
    grids = []
    for row in rows:
        path, _ = sample_grid_path(catalog, row["sample_id"])
        grids.append((row["sample_id"], read_grid_npz(path)[0]))
    return ds, grids


def check_not_trained_on(catalog: Catalog, ckpt: dict, ds: dict) -> None:
    """``ValueError`` if the checkpoint's training snapshot shares samples with ``ds``."""
    seen, cid = set(), ckpt
    while cid is not None:  # walk the parent chain: base and sync training data both count
        if cid.get("dataset_id"):
            if cid["dataset_id"] == ds["dataset_id"]:
                raise ValueError(f"dataset: checkpoint {ckpt['checkpoint_id']} was trained on it")
            train = catalog.rows(
                "SELECT sample_ids FROM datasets WHERE dataset_id = ?", [cid["dataset_id"]]
            )
            overlap = set(train[0]["sample_ids"]) & set(ds["sample_ids"]) if train else set()
            if overlap:
                raise ValueError(
                    f"dataset: {len(overlap)} samples of {ds['name']!r} are in the training "
                    f"snapshot {cid['dataset_id']} of checkpoint {ckpt['checkpoint_id']}"
                )
        parent = cid.get("parent_checkpoint_id")
        if not parent or parent in seen:
            break
        seen.add(parent)
        rows = catalog.rows("SELECT * FROM checkpoints WHERE checkpoint_id = ?", [parent])
        cid = rows[0] if rows else None


def evaluate_grid(
    model,
    gt: np.ndarray,
    steps: int,
    seed: int,
    detector: str,
    min_side: int,
    *,
    guidance_scale: float = 1.0,
    shift: float = 1.0,
) -> tuple[dict, np.ndarray]:
    """``(metrics, generated grid)`` of one ground truth ``gt`` (already fitted)."""
    inputs = GenerationInputs(gt[0, :], gt[:, 0], np.arange(gt.shape[1]), {})
    pred = sample_grid(
        model, inputs, steps, seed, guidance_scale=guidance_scale, shift=shift
    )  # (V, T, H, W, 3)
    unknown = np.ones(gt.shape[:2], bool)
    unknown[0, :] = unknown[:, 0] = False
    out = frame_metrics(pred, gt, unknown)
    out.pop("frames")
    out.update(grid_consistency(pred, detector, min_side))
    return out, pred


def evaluate_model(
    model,
    grids: list[tuple[str, np.ndarray]],
    steps: int,
    seed: int,
    detector: str,
    min_side: int,
    *,
    guidance_scale: float = 1.0,
    shift: float = 1.0,
) -> tuple[dict, dict, list[np.ndarray]]:
    """``(mean metrics, per-sample metrics, generated grids)`` of one model over fitted grids."""
    per, preds = {}, []
    for sid, gt in grids:
        per[sid], pred = evaluate_grid(
            model, gt, steps, seed, detector, min_side, guidance_scale=guidance_scale, shift=shift
        )
        preds.append(pred)
    names = GT_METRICS + CONSISTENCY_METRICS
    means = {m: float(np.mean([v[m] for v in per.values()])) for m in names}
    return means, per, preds


def reference_consistency(
    grids: list[tuple[str, np.ndarray]], detector: str, min_side: int
) -> dict:
    """Consistency of the ground-truth grids themselves (what a perfect model would score)."""
    per = [grid_consistency(gt, detector, min_side) for _, gt in grids]
    return {m: float(np.mean([p[m] for p in per])) for m in CONSISTENCY_METRICS}


def evaluation_rows(
    ckpt_id: str, dataset_id: str, means: dict, details: dict, run_id: str
) -> list[dict]:
    """One ``evaluations`` row per metric."""
    return [
        {
            "evaluation_id": evaluation_id(ckpt_id, dataset_id, metric, run_id),
            "checkpoint_id": ckpt_id,
            "dataset_id": dataset_id,
            "metric": metric,
            "value": value,
            "details_json": json.dumps(
                {**details, "per_sample": details.get("per_sample", {}).get(metric)}, default=str
            ),
            "run_id": run_id,
        }
        for metric, value in means.items()
    ]


def comparison_table(
    catalog: Catalog, dataset_id: str, reference: dict | None = None
) -> list[dict]:
    """One row per checkpoint evaluated on ``dataset_id`` (latest value per metric)."""
    rows = catalog.rows(LATEST_EVALUATIONS, [dataset_id])
    table: dict[str, dict] = {}
    for r in sorted(rows, key=lambda r: r["at"]):
        table.setdefault(r["checkpoint_id"], {"checkpoint": r["checkpoint_id"]})[r["metric"]] = r[
            "value"
        ]
    out = list(table.values())
    if reference:
        out.append({"checkpoint": REFERENCE, **reference})
    return out


def format_table(table: list[dict]) -> str:
    """Fixed-width text of a comparison table (metrics as columns)."""
    if not table:
        return "(no evaluations)"
    cols = ["checkpoint"] + sorted({k for row in table for k in row} - {"checkpoint"})

    def cell(v) -> str:
        if isinstance(v, float):
            return "inf" if math.isinf(v) else f"{v:.4f}"
        return "-" if v is None else str(v)

    widths = {c: max(len(c), *(len(cell(r.get(c))) for r in table)) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols)]
    lines += ["  ".join(cell(r.get(c)).ljust(widths[c]) for c in cols) for r in table]
    return "\n".join(lines)


# ------------------------------------------------------------------ Prefect tasks
@task(cache_policy=NO_CACHE)
def load_evaluation_set(catalog: Catalog, dataset: str, allow_non_heldout: bool, max_samples):
    """The held-out snapshot row and its ground-truth grids."""
    return load_heldout(catalog, dataset, allow_non_heldout, max_samples)


@task(cache_policy=NO_CACHE)
def load_learned_networks(weights: dict, dust3r_repo: str | None, clip_model: str):
    """The learned-metric networks the local weights allow, and a skipped line for the others."""
    from tasks.evaluation.learned import load_networks

    return load_networks(weights, dust3r_repo, clip_model)


@task(cache_policy=NO_CACHE)
def evaluate_checkpoint(
    catalog: Catalog, ref: str, ds: dict, grids, sampling: dict, detector, min_side, networks
):
    """Load one sync checkpoint, generate every grid, score it; returns (row, means, details).

    ``sampling``: ``steps``, ``seed``, ``guidance_scale``, ``shift``, ``ema``, ``tau``.
    """
    from tasks.evaluation.learned import learned_metrics
    from tasks.generate import load_sync_checkpoint

    logger = get_run_logger()
    model, cfg, ckpt = load_sync_checkpoint(catalog, ref, sampling["ema"])
    for w in ckpt["warnings"]:
        logger.warning(w)
    check_not_trained_on(catalog, ckpt, ds)
    fitted, notes = [], []
    for sid, rgb in grids:
        g, w = fit_grid(rgb, cfg.base.max_frames, cfg.base.height, cfg.base.width)
        fitted.append((sid, g))
        notes += [f"{sid[:12]}: {x}" for x in w]
    for n in notes:
        logger.warning(n)
    means, per, preds = evaluate_model(
        model, fitted, sampling["steps"], sampling["seed"], detector, min_side,
        guidance_scale=sampling["guidance_scale"], shift=sampling["shift"],
    )  # fmt: skip
    means.update(learned_metrics([g for _, g in fitted], preds, networks, sampling["tau"]))
    details = {
        "sync": cfg.sync,
        **sampling,
        "weights": ckpt["weights"],
        "detector": detector,
        "samples": len(fitted),
        "per_sample": {m: {sid: v[m] for sid, v in per.items()} for m in per[fitted[0][0]]},
    }
    logger.info("checkpoint %s (%s): %s", ckpt["checkpoint_id"][:12], cfg.sync, means)
    return ckpt, cfg, means, details, fitted


@task(cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[2, 5, 15])
def write_evaluations(catalog: Catalog, rows: list[dict]) -> int:
    """Append the ``evaluations`` rows."""
    catalog.append("evaluations", rows)
    return len(rows)
