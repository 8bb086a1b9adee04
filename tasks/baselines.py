"""The trivial baselines every generated grid is scored beside (docs/model.md#validation).

A model that generates ``grid[v, t]`` from ``grid[0, :]`` and ``grid[:, 0]``
has learned something only if it beats what needs no model at all:

* ``same_time``:  copy ``grid[0, t]`` (the fixed-view conditioning video) into every view;
* ``same_view``:  copy ``grid[v, 0]`` (the freeze-time conditioning video) into every time;
* ``oracle``:     per grid and per score, the better of those two (it peeks at the truth
  to choose, so no real method can match it without learning);
* ``background``: every pixel the plain background colour (the median colour of the
  conditioning frames).

Scores are over the generated frames only (never the conditioning ones), on whole
frames and on the object's pixels (rendered grids are mostly background: whole-frame
PSNR alone rewards a blank guess). The object's pixels come from the grid's alpha
where it has one, else from the pixels that differ from the background colour.

All inputs are uint8 ``[V, T, H, W, 3]`` (core.grid). Pure numpy; no Prefect.
"""

from __future__ import annotations

import math

import numpy as np

from tasks.metrics import psnr, ssim

BASELINES = ("same_time", "same_view", "oracle", "background")
ROWS = ("model", *BASELINES)
SCORES = ("psnr", "psnr_object", "ssim")
# A pixel is the object's when it differs from the background by more than this (sum of
# the three uint8 channels): above the codec's and the resize's noise on a plain background.
OBJECT_THRESHOLD = 30
# Identical frames have an infinite PSNR; means over grids cap it here.
PSNR_CAP = 100.0


def generated_frames(V: int, T: int) -> np.ndarray:
    """bool ``[V, T]``: the frames generation makes (not ``grid[0, :]`` nor ``grid[:, 0]``)."""
    unknown = np.ones((V, T), bool)
    unknown[0, :] = unknown[:, 0] = False
    return unknown


def background_colour(gt: np.ndarray) -> np.ndarray:
    """uint8 ``[3]``: the median colour of the conditioning frames (what a blank guess knows)."""
    known = ~generated_frames(*gt.shape[:2])
    return np.median(gt[known].reshape(-1, 3), axis=0).round().astype(np.uint8)


def object_mask(gt: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    """bool ``[V, T, H, W]``: the object's pixels, from ``alpha`` (> 0.5 of its range) if given."""
    if alpha is not None:
        a = np.asarray(alpha)
        a = a[..., 0] if a.ndim == 5 else a
        if a.shape != gt.shape[:4]:
            raise ValueError(f"alpha {a.shape} does not match the grid's frames {gt.shape[:4]}")
        top = 255.0 if a.dtype == np.uint8 else 1.0
        return a.astype(np.float32) > 0.5 * top
    diff = np.abs(gt.astype(np.int16) - background_colour(gt).astype(np.int16)).sum(-1)
    return diff > OBJECT_THRESHOLD


def baseline_grids(gt: np.ndarray) -> dict[str, np.ndarray]:
    """uint8 ``[V, T, H, W, 3]`` guesses of ``gt`` that need no model (oracle excepted)."""
    return {
        "same_time": np.broadcast_to(gt[:1], gt.shape),  # grid[0, t] in every view
        "same_view": np.broadcast_to(gt[:, :1], gt.shape),  # grid[v, 0] at every time
        "background": np.broadcast_to(background_colour(gt), gt.shape),
    }


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    if a.size == 0:
        return float("nan")
    return min(psnr(a, b), PSNR_CAP)


def _scores(pred: np.ndarray, gt: np.ndarray, frames: np.ndarray, obj: np.ndarray, with_ssim):
    """PSNR over the generated frames (pooled), on the object's pixels, and mean SSIM."""
    out = {
        "psnr": _psnr(pred[frames], gt[frames]),
        "psnr_object": _psnr(pred[obj], gt[obj]),
    }
    if with_ssim:
        idx = np.argwhere(frames)
        out["ssim"] = float(np.mean([ssim(pred[v, t], gt[v, t]) for v, t in idx]))
    return out


def grid_scores(
    pred: np.ndarray, gt: np.ndarray, alpha: np.ndarray | None = None, with_ssim: bool = True
) -> dict[str, dict[str, float]]:
    """Scores of ``pred`` and of every baseline against ``gt``, over the generated frames.

    Returns ``{row: {"psnr", "psnr_object", "ssim"}}`` for the rows ``ROWS``
    (``model`` is ``pred``). ``psnr_object`` is NaN when no generated frame shows the object.
    """
    if pred.shape != gt.shape or gt.ndim != 5 or gt.shape[-1] != 3:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must both be [V, T, H, W, 3]")
    V, T = gt.shape[:2]
    if V < 2 or T < 2:
        raise ValueError(f"a grid to score needs V >= 2 and T >= 2, got V={V} T={T}")
    frames = generated_frames(V, T)
    obj = object_mask(gt, alpha) & frames[:, :, None, None]
    out = {"model": _scores(pred, gt, frames, obj, with_ssim)}
    for name, guess in baseline_grids(gt).items():
        out[name] = _scores(guess, gt, frames, obj, with_ssim)
    out["oracle"] = {
        k: float(np.nanmax([out["same_time"][k], out["same_view"][k]]))
        if not (math.isnan(out["same_time"][k]) and math.isnan(out["same_view"][k]))
        else float("nan")
        for k in out["same_time"]
    }
    return {row: out[row] for row in ROWS}


# ------------------------------------------------------------------ over many grids
def paired_interval(
    diffs: np.ndarray, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of per-grid differences and its paired bootstrap 95% interval (percentile)."""
    from scipy.stats import bootstrap

    diffs = np.asarray(diffs, np.float64)
    diffs = diffs[~np.isnan(diffs)]
    if len(diffs) == 0:
        return float("nan"), float("nan"), float("nan")
    if len(diffs) == 1 or np.all(diffs == diffs[0]):
        return float(diffs[0]), float(diffs[0]), float(diffs[0])
    res = bootstrap(
        (diffs,),
        np.mean,
        n_resamples=resamples,
        confidence_level=0.95,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = res.confidence_interval
    return float(diffs.mean()), float(ci.low), float(ci.high)


def best_baseline(table: dict[str, dict[str, float]], score: str) -> str:
    """The baseline row with the highest mean ``score`` (the bar a model must clear)."""
    values = {b: table[b][score] for b in BASELINES if not math.isnan(table[b][score])}
    return max(values, key=values.get) if values else "oracle"


def summarise(
    per_grid: list[dict[str, dict[str, float]]], resamples: int = 10_000
) -> dict[str, dict]:
    """Means over grids of every row and score, and per score the paired interval of
    ``model - best baseline`` (per grid).

    Returns ``{"rows": {row: {score: mean}}, "vs_best": {score: {"baseline", "mean",
    "low", "high", "beats"}}, "grids": n}``; ``beats`` is True only when the whole 95%
    interval is above 0, and never for one grid (no interval: low = high = the difference).
    """
    if not per_grid:
        raise ValueError("summarise needs at least one scored grid")
    scores = [s for s in SCORES if s in per_grid[0]["model"]]
    rows = {
        row: {s: float(np.nanmean([g[row][s] for g in per_grid])) for s in scores} for row in ROWS
    }
    vs_best = {}
    for s in scores:
        best = best_baseline(rows, s)
        diffs = np.array([g["model"][s] - g[best][s] for g in per_grid])
        mean, low, high = paired_interval(diffs, resamples)
        vs_best[s] = {"baseline": best, "mean": mean, "low": low, "high": high,
                      "beats": bool(low > 0 and len(per_grid) > 1)}  # fmt: skip
    return {"rows": rows, "vs_best": vs_best, "grids": len(per_grid)}


def verdict(summary: dict, score: str = "psnr_object") -> str:
    """One line: does the model beat the best baseline on ``score`` (interval excluding 0)?"""
    d = summary["vs_best"].get(score)
    if d is None or math.isnan(d["mean"]):
        return f"{score}: not scored (no such pixels in these grids)"
    what = f"{score}: model {summary['rows']['model'][score]:.2f} vs best baseline " \
           f"{d['baseline']} {summary['rows'][d['baseline']][score]:.2f}"  # fmt: skip
    interval = f"difference {d['mean']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]"
    if summary.get("grids") == 1:
        side = "above" if d["mean"] > 0 else "below"
        return f"{what}: {side} it on this one grid, difference {d['mean']:+.2f} (one grid: " \
               "no interval, nothing decided)"  # fmt: skip
    if d["beats"]:
        return f"{what}: the model BEATS it, {interval}"
    if d["high"] < 0:
        return f"{what}: the model does NOT beat it (it is worse), {interval}"
    return f"{what}: the model does NOT beat it (no clear difference), {interval}"


def format_table(summary: dict) -> str:
    """The rows as a text table: one line per row, one column per score, plus the verdicts."""
    scores = list(next(iter(summary["rows"].values())))
    lines = [f"{'':12s}" + "".join(f"{s:>14s}" for s in scores)]
    for row, values in summary["rows"].items():
        lines.append(f"{row:12s}" + "".join(f"{values[s]:14.3f}" for s in scores))
    lines += [verdict(summary, s) for s in scores]
    return "\n".join(lines)
