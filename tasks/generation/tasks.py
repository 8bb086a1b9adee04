"""Prefect tasks of generation: thin wrappers over ``tasks.generation.pipeline``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from catalog.store import Catalog
from core.grid import DEFAULT_T, DEFAULT_V
from tasks.checkpoint_loading import load_sync_checkpoint, load_upsampler_checkpoint
from tasks.generation.pipeline import (
    GenerationOutputs,
    generation_id,
    inputs_from_sample,
    inputs_from_videos,
    register_grid,
    upsample_grid,
    write_outputs,
)
from tasks.grid_sampling import GenerationInputs, sample_grid


@task(cache_policy=NO_CACHE)
def load_checkpoints(
    catalog: Catalog, checkpoint: str, upsampler: str | None, height, width, ema: bool = True
):
    """The sync model (and upsampler), checked for stage, hash and resolution; EMA weights by default."""
    model, cfg, row = load_sync_checkpoint(catalog, checkpoint, ema)
    height = height or cfg.base.height
    width = width or cfg.base.width
    from model.config import validate_for_data

    try:
        validate_for_data(cfg, 2, 2, height, width)
    except ValueError as e:
        raise ValueError(f"height/width: {e}") from None
    up = load_upsampler_checkpoint(catalog, upsampler, height, width, ema) if upsampler else None
    logger = get_run_logger()
    for w in row["warnings"] + (up[2]["warnings"] if up else []):
        logger.warning(w)
    return model, cfg, row, up, (height, width)


@task(cache_policy=NO_CACHE, retries=0)
def load_inputs(catalog: Catalog, params: dict, height: int, width: int) -> GenerationInputs:
    """Conditioning videos from files or a catalog sample, fitted to ``height x width``."""
    if params.get("sample_id"):
        inputs = inputs_from_sample(
            catalog, params["sample_id"], params.get("views"), params.get("times"), height, width
        )
    else:
        inputs = inputs_from_videos(
            params["fixed_view_video"],
            params["freeze_time_video"],
            params.get("views") or DEFAULT_V,
            params.get("times") or DEFAULT_T,
            height,
            width,
            params["fps"],
        )
    logger = get_run_logger()
    for w in inputs.warnings:
        logger.warning(w)
    return inputs


@task(cache_policy=NO_CACHE)
def generate_grids(
    model,
    upsampler,
    inputs: GenerationInputs,
    steps: int,
    up_steps: int,
    seed: int,
    guidance_scale: float = 1.0,
    shift: float = 1.0,
):
    """Sample the grid (CFG and schedule shift as given), then upsample it when an upsampler is given."""
    from model.config import validate_for_data

    V, T = len(inputs.freeze_time), len(inputs.fixed_view)
    H, W = inputs.fixed_view.shape[1:3]
    try:
        validate_for_data(model.cfg, V, T, H, W)
    except ValueError as e:
        raise ValueError(f"views/times: {e}") from None
    grid = sample_grid(model, inputs, steps, seed, guidance_scale=guidance_scale, shift=shift)
    high = upsample_grid(upsampler, grid, up_steps, seed) if upsampler is not None else None
    return grid, high


@task(cache_policy=NO_CACHE)
def save_outputs(folder: Path, grid, times, fps: int, grid_high=None) -> GenerationOutputs:
    """Write npz, mp4s and the contact sheet."""
    return write_outputs(folder, grid, times, fps, grid_high)


@task(cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[2, 5, 15])
def register_outputs(
    catalog: Catalog,
    outputs: GenerationOutputs,
    grid: np.ndarray,
    grid_high: np.ndarray | None,
    ckpt_sha: str,
    lineage: dict,
    run_id: str | None,
) -> list[dict]:
    """``samples`` rows of the written grids (base resolution, then the upsampled one)."""
    gid = generation_id(ckpt_sha, lineage)
    rows = [register_grid(catalog, gid, outputs.grid, grid, lineage, run_id)]
    if grid_high is not None:
        high = {**lineage, "upsampled_from": gid, "resolution": list(grid_high.shape[2:4])}
        hid = generation_id(ckpt_sha, high)
        rows.append(register_grid(catalog, hid, outputs.grid_high, grid_high, high, run_id))
    return rows
