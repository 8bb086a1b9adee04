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
  (tasks.evaluation.learned) only from local weights, else a skipped line;
* beside the model, the trivial baselines of every generated frame
  (tasks.baselines: copy ``grid[0, t]``, copy ``grid[v, 0]``, the
  better of the two, the plain background) on whole frames and on the object's
  pixels (from the sample's alpha where it has one), and whether the model
  beats the best of them (a paired bootstrap interval over the grids).

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

from catalog.datasets import dataset_samples, get_dataset
from catalog.ids import evaluation_id
from catalog.store import Catalog
from core import sample_store
from core.resize import crop_resize
from tasks.baselines import grid_scores, summarise
from tasks.grid_sampling import (
    GenerationInputs,
    read_grid_npz,
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


def _fit_indices(V: int, T: int, max_frames: int) -> tuple[np.ndarray, np.ndarray]:
    vi = np.round(np.linspace(0, V - 1, min(V, max_frames))).astype(int)
    ti = np.round(np.linspace(0, T - 1, min(T, max_frames))).astype(int)
    return vi, ti


def fit_alpha(alpha: np.ndarray, max_frames: int, height: int, width: int) -> np.ndarray:
    """A grid's alpha ``[V, T, H, W]`` fitted as :func:`fit_grid` fits its frames."""
    V, T, H, W = alpha.shape
    vi, ti = _fit_indices(V, T, max_frames)
    a = np.asarray(alpha, np.uint8)[vi][:, ti]
    if (H, W) != (height, width):
        v, t = a.shape[:2]
        rgb = np.repeat(a.reshape(v * t, H, W, 1), 3, axis=-1)
        a = crop_resize(rgb, height, width)[..., 0].reshape(v, t, height, width)
    return np.ascontiguousarray(a)


def fit_grid(
    rgb: np.ndarray, max_frames: int, height: int, width: int
) -> tuple[np.ndarray, list[str]]:
    """Ground truth fitted to a model: at most ``max_frames`` views and times, ``height x width``."""
    V, T, H, W, _ = rgb.shape
    warnings = []
    vi, ti = _fit_indices(V, T, max_frames)
    if len(vi) < V or len(ti) < T:
        warnings.append(
            f"grid {V}x{T} exceeds the model's {max_frames} frames: using {len(vi)}x{len(ti)}"
        )
        rgb = rgb[vi][:, ti]
    if (H, W) != (height, width):
        warnings.append(f"grid frames {H}x{W} resized to {height}x{width}")
        v, t = rgb.shape[:2]
        rgb = crop_resize(rgb.reshape(v * t, H, W, 3), height, width).reshape(
            v, t, height, width, 3
        )
    return np.ascontiguousarray(rgb), warnings


def read_alpha(path: str) -> np.ndarray | None:
    """The ``alpha [V, T, H, W]`` of a grid sample (rendered grids), or None without one."""
    try:
        with sample_store.open_sample(path, whole=True) as s:
            return s.array("alpha") if "alpha" in s.names() else None
    except sample_store.SampleError as e:
        raise ValueError(str(e)) from None


def load_alphas(catalog: Catalog, sample_ids: list[str]) -> dict[str, np.ndarray | None]:
    """``{sample_id: alpha or None}``: where each ground-truth grid shows its object
    (the files :func:`load_heldout` has just checked against their sha256)."""
    out = {}
    for sid in sample_ids:
        (row,) = catalog.rows("SELECT path FROM samples WHERE sample_id = ?", [sid])
        out[sid] = read_alpha(row["path"])
    return out


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


def baseline_summary(
    fitted: list[tuple[str, np.ndarray]],
    preds: list[np.ndarray],
    alphas: dict[str, np.ndarray | None] | None = None,
    resamples: int = 10_000,
) -> dict:
    """The model's and the trivial baselines' scores over the generated frames of every
    grid (tasks.baselines), summarised: ``{"rows", "vs_best", "grids"}``.

    ``alphas``: the fitted alpha of each grid that has one (its object's pixels; other
    grids take the pixels that differ from the background colour).
    """
    alphas = alphas or {}
    per_grid = [
        grid_scores(pred, gt, alphas.get(sid))
        for (sid, gt), pred in zip(fitted, preds, strict=True)
    ]
    return summarise(per_grid, resamples)


def baseline_table(summary: dict) -> str:
    """The rows of a baseline summary (model first) as text, one column per score."""
    scores = list(next(iter(summary["rows"].values())))

    def cell(v) -> str:
        return f"{'-':>12s}" if v is None or math.isnan(v) else f"{v:12.3f}"

    lines = [f"{'':12s}" + "".join(f"{s:>12s}" for s in scores)]
    for row, values in summary["rows"].items():
        lines.append(f"{row:12s}" + "".join(cell(values[s]) for s in scores))
    return "\n".join(lines)


def no_nan(value):
    """``value`` with every NaN float (a score with no pixels to score) as None: plain JSON."""
    if isinstance(value, dict):
        return {k: no_nan(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


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
