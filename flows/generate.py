"""Flow ``generate``: a grid from a sync checkpoint and two videos (or a grid sample).

from flows.generate import GenerateParams, generate
out = generate(GenerateParams(checkpoint="<sync checkpoint id>", sample_id="<grid sample>"))
out["mosaic"], out["contact_sheet"]   # paths of the mp4 mosaic and the PNG

The sampling fields (``Steps``, ``GuidanceScale``, ``Shift``, ``Ema``) are shared
with flows/evaluate.py, which generates every held-out grid the same way.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import Field, model_validator

from catalog.store import Catalog
from core.flow_params import FlowParams, Seed, output_path
from flows.common import recorded_run

Steps = Field(25, ge=1, le=1000, description="Euler sampling steps of the grid")
GuidanceScale = Field(
    1.0,
    ge=0.0,
    le=50.0,
    description="Classifier-free guidance scale (1 = off; > 1 pushes away from the "
    "unconditional prediction, one extra model pass per step)",
)
Shift = Field(
    1.0,
    gt=0.0,
    le=100.0,
    description="Sampling schedule shift (SD3): 1 = uniform steps, > 1 spends more steps "
    "at high noise",
)
Ema = Field(True, description="Use the checkpoint's EMA weights (raw weights when off or absent)")


class GenerateParams(FlowParams):
    """One grid from a sync checkpoint, conditioned on grid[0, :] and grid[:, 0]."""

    checkpoint: str = Field(..., min_length=1, description="Sync checkpoint: catalog id or path")
    upsampler: str | None = Field(
        None, description="Upsampler checkpoint (id or path); its low resolution must match"
    )
    sample_id: str | None = Field(
        None, description="Catalog grid sample: its grid[0, :] and grid[:, 0] condition"
    )
    fixed_view_video: str | None = Field(None, description="Video file that becomes grid[0, :]")
    freeze_time_video: str | None = Field(None, description="Video file that becomes grid[:, 0]")
    views: int | None = Field(None, ge=2, le=64, description="V (default: the sample's, else 8)")
    times: int | None = Field(None, ge=2, le=256, description="T (default: the sample's, else 8)")
    height: int | None = Field(None, gt=0, le=4096, description="Height (default: checkpoint's)")
    width: int | None = Field(None, gt=0, le=4096, description="Width (default: checkpoint's)")
    steps: int = Steps
    guidance_scale: float = GuidanceScale
    shift: float = Shift
    ema: bool = Ema
    upsampler_steps: int = Field(20, ge=1, le=1000, description="Euler steps of the upsampler")
    seed: Seed = 0
    fps: int = Field(8, ge=1, le=120, description="Frame rate of the mp4s (and of video times)")
    out_dir: str | None = Field(
        None, description="Output folder inside the data root (default generated/<id>)"
    )

    @model_validator(mode="after")
    def _one_source(self):
        videos = (self.fixed_view_video, self.freeze_time_video)
        if self.sample_id and any(videos):
            raise ValueError("sample_id: give a sample id or the two video files, not both")
        if not self.sample_id:
            for name, value in zip(("fixed_view_video", "freeze_time_video"), videos, strict=True):
                if not value:
                    raise ValueError(f"{name}: required when no sample_id is given")
                if not Path(value).expanduser().is_file():
                    raise ValueError(f"{name}: no file at {value!r}")
        if self.out_dir is not None:
            output_path(self.out_dir, "out_dir")
        return self


@flow(name="generate", log_prints=True)
def generate(params: GenerateParams) -> dict:
    """Generate a grid, write npz / mp4 / PNG outputs, record them in the catalog."""
    from tasks.generation.pipeline import generation_id, input_digest
    from tasks.generation.tasks import (
        generate_grids,
        load_checkpoints,
        load_inputs,
        register_outputs,
        save_outputs,
    )

    logger = get_run_logger()
    catalog = Catalog()
    with recorded_run("generate", params, catalog) as rec:
        model, cfg, ckpt, up, (h, w) = load_checkpoints(
            catalog, params.checkpoint, params.upsampler, params.height, params.width, params.ema
        )
        rec.add_input("checkpoints", ckpt["checkpoint_id"])
        if up is not None:
            rec.add_input("checkpoints", up[2]["checkpoint_id"])
        inputs = load_inputs(catalog, params.model_dump(), h, w)
        if params.sample_id:
            rec.add_input("samples", params.sample_id)
        V, T = len(inputs.freeze_time), len(inputs.fixed_view)
        lineage = {
            "checkpoint_id": ckpt["checkpoint_id"],
            "upsampler_checkpoint_id": up[2]["checkpoint_id"] if up else None,
            "inputs": inputs.ids,
            "input_sha256": input_digest(inputs),
            "steps": params.steps,
            "guidance_scale": params.guidance_scale,
            "shift": params.shift,
            "weights": ckpt["weights"],
            "upsampler_weights": up[2]["weights"] if up else None,
            "upsampler_steps": params.upsampler_steps if up else None,
            "seed": params.seed,
            "shape": [V, T, h, w],
        }
        gid = generation_id(ckpt["sha256"], lineage)
        folder = output_path(params.out_dir or f"generated/{gid[:16]}", "out_dir")
        logger.info(
            "generating a %dx%d grid at %dx%d (sync=%s) into %s", V, T, h, w, cfg.sync, folder
        )
        grid, high = generate_grids(
            model, up[0] if up else None, inputs, params.steps, params.upsampler_steps,
            params.seed, params.guidance_scale, params.shift,
        )  # fmt: skip
        outs = save_outputs(folder, grid, inputs.times, params.fps, high)
        rows = register_outputs(catalog, outs, grid, high, ckpt["sha256"], lineage, rec.run_id)
        for row in rows:
            rec.add_output("samples", row["sample_id"])
    result = {
        "sample_ids": [r["sample_id"] for r in rows],
        "folder": str(outs.folder),
        "grid": str(outs.grid),
        "grid_high": str(outs.grid_high) if outs.grid_high else None,
        "mosaic": str(outs.mosaic),
        "views": [str(p) for p in outs.views],
        "contact_sheet": str(outs.contact_sheet),
        "mosaic_high": str(outs.mosaic_high) if outs.mosaic_high else None,
        "contact_sheet_high": str(outs.contact_sheet_high) if outs.contact_sheet_high else None,
        "warnings": ckpt["warnings"] + (up[2]["warnings"] if up else []) + inputs.warnings,
        "weights": ckpt["weights"],
        "run_id": rec.run_id,
    }
    create_markdown_artifact(
        key="generated-grid",
        markdown=_generate_markdown(result, lineage),
        description=f"Generated grid {result['sample_ids'][0][:16]}",
    )
    logger.info("mosaic: %s", result["mosaic"])
    logger.info("contact sheet: %s", result["contact_sheet"])
    return result


def _generate_markdown(result: dict, lineage: dict) -> str:
    V, T, h, w = lineage["shape"]
    lines = [
        f"# Generated grid {result['sample_ids'][0][:16]}",
        "",
        f"V x T = {V} x {T} at {h}x{w}; checkpoint `{lineage['checkpoint_id']}`; "
        f"steps {lineage['steps']}, guidance scale {lineage['guidance_scale']}, "
        f"shift {lineage['shift']}, {lineage['weights']} weights, seed {lineage['seed']}",
        "",
        "| output | path |",
        "|---|---|",
        f"| grid npz | `{result['grid']}` |",
    ]
    if result["grid_high"]:
        lines.append(f"| upsampled grid npz | `{result['grid_high']}` |")
    lines += [
        f"| mosaic mp4 | `{result['mosaic']}` |",
        f"| fixed-view mp4s | `{Path(result['views'][0]).parent}` ({len(result['views'])}) |",
        f"| contact sheet | `{result['contact_sheet']}` |",
    ]
    lines += ["", "View in 3D and time (Rerun):"]
    lines += [f"- view: `fourreal view {sid}`" for sid in result["sample_ids"]]
    if result["warnings"]:
        lines += ["", "Warnings:", *(f"- {w}" for w in result["warnings"])]
    return "\n".join(lines)
