"""Prefect tasks of evaluation: thin wrappers over ``tasks.evaluation.evaluate``."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from catalog.store import Catalog
from tasks.evaluation.evaluate import (
    baseline_summary,
    baseline_table,
    check_not_trained_on,
    evaluate_model,
    fit_alpha,
    fit_grid,
    load_alphas,
    load_heldout,
    no_nan,
)


@task(cache_policy=NO_CACHE)
def load_evaluation_set(catalog: Catalog, dataset: str, allow_non_heldout: bool, max_samples):
    """The held-out snapshot row, its ground-truth grids and their alphas (None without)."""
    ds, grids = load_heldout(catalog, dataset, allow_non_heldout, max_samples)
    return ds, grids, load_alphas(catalog, [sid for sid, _ in grids])


@task(cache_policy=NO_CACHE)
def load_learned_networks(weights: dict, dust3r_repo: str | None, clip_model: str):
    """The learned-metric networks the local weights allow, and a skipped line for the others."""
    from tasks.evaluation.learned import load_networks

    return load_networks(weights, dust3r_repo, clip_model)


@task(cache_policy=NO_CACHE)
def evaluate_checkpoint(
    catalog: Catalog,
    ref: str,
    ds: dict,
    grids,
    sampling: dict,
    detector,
    min_side,
    networks,
    alphas: dict | None = None,
):
    """Load one sync checkpoint, generate every grid, score it beside the trivial baselines;
    returns (row, config, means, details, fitted grids). ``details``: ``baselines`` (the
    summary of :func:`tasks.evaluation.evaluate.baseline_summary`, NaN as None),
    ``baseline_table`` (its rows as text) and ``verdict`` (one line: does the model beat the best
    baseline on the object's pixels).

    ``sampling``: ``steps``, ``seed``, ``guidance_scale``, ``shift``, ``ema``, ``tau``.
    ``alphas``: ``{sample_id: alpha or None}`` of the grids (their objects' pixels).
    """
    from tasks.baselines import verdict
    from tasks.checkpoint_loading import load_sync_checkpoint
    from tasks.evaluation.learned import learned_metrics

    logger = get_run_logger()
    model, cfg, ckpt = load_sync_checkpoint(catalog, ref, sampling["ema"])
    for w in ckpt["warnings"]:
        logger.warning(w)
    check_not_trained_on(catalog, ckpt, ds)
    fitted, fitted_alphas, notes = [], {}, []
    for sid, rgb in grids:
        g, w = fit_grid(rgb, cfg.base.max_frames, cfg.base.height, cfg.base.width)
        fitted.append((sid, g))
        notes += [f"{sid[:12]}: {x}" for x in w]
        if (alphas or {}).get(sid) is not None:
            fitted_alphas[sid] = fit_alpha(
                alphas[sid], cfg.base.max_frames, cfg.base.height, cfg.base.width
            )
    for n in notes:
        logger.warning(n)
    means, per, preds = evaluate_model(
        model, fitted, sampling["steps"], sampling["seed"], detector, min_side,
        guidance_scale=sampling["guidance_scale"], shift=sampling["shift"],
    )  # fmt: skip
    means.update(learned_metrics([g for _, g in fitted], preds, networks, sampling["tau"]))
    baselines = baseline_summary(fitted, preds, fitted_alphas)
    details = {
        "sync": cfg.sync,
        **sampling,
        "weights": ckpt["weights"],
        "detector": detector,
        "samples": len(fitted),
        "per_sample": {m: {sid: v[m] for sid, v in per.items()} for m in per[fitted[0][0]]},
        "baselines": no_nan(baselines),  # NaN: no object pixel in these grids
        "baseline_table": baseline_table(baselines),
        "verdict": verdict(baselines),
    }
    logger.info("checkpoint %s (%s): %s", ckpt["checkpoint_id"][:12], cfg.sync, means)
    return ckpt, cfg, means, details, fitted


@task(cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[2, 5, 15])
def write_evaluations(catalog: Catalog, rows: list[dict]) -> int:
    """Append the ``evaluations`` rows."""
    catalog.append("evaluations", rows)
    return len(rows)
