"""Prefect tasks of evaluation: thin wrappers over ``tasks.evaluation.evaluate``."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from catalog.store import Catalog
from tasks.evaluation.evaluate import (
    check_not_trained_on,
    evaluate_model,
    fit_grid,
    load_heldout,
)


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
    from tasks.generation.generate import load_sync_checkpoint

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
