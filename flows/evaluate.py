"""Flow ``evaluate``: sync checkpoints scored on a held-out snapshot of grids.

from flows.evaluate import EvaluateParams, evaluate
evaluate(EvaluateParams(checkpoints=["<id>", "<id>"], dataset="<held-out snapshot>"))
"""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from pydantic import Field

from catalog.store import Catalog
from core.flow_params import FlowParams, Seed
from flows.common import recorded_run
from flows.generate import Ema, GuidanceScale, Shift, Steps

WeightPath = Field(
    None,
    description="Local weight file or folder (default <data root>/weights/<metric>); "
    "missing = the metric is skipped, nothing is downloaded",
)


class EvaluateParams(FlowParams):
    """Sync checkpoints scored on a held-out snapshot of rendered grids."""

    checkpoints: list[str] = Field(..., min_length=1, description="Sync checkpoint ids or paths")
    dataset: str = Field(..., min_length=1, description="Held-out dataset snapshot (id or name)")
    allow_non_heldout: bool = Field(
        False, description="Accept a snapshot whose split is not heldout"
    )
    max_samples: int | None = Field(None, ge=1, description="Evaluate at most this many grids")
    steps: int = Steps
    guidance_scale: float = GuidanceScale
    shift: float = Shift
    ema: bool = Ema
    seed: Seed = 0
    detector: Literal["sift", "orb"] = Field(
        "sift", description="Features of the consistency score"
    )
    min_side: int = Field(
        256, ge=32, le=2048, description="Frames upscaled to this short side for features"
    )
    lpips_weights: str | None = WeightPath
    fid_weights: str | None = WeightPath
    fvd_weights: str | None = WeightPath
    clip_weights: str | None = WeightPath
    dust3r_weights: str | None = WeightPath
    dust3r_repo: str | None = Field(
        None,
        description="Local clone of naver/dust3r with its croco submodule "
        "(default $DUST3R_REPO, else <data root>/weights/dust3r/repo)",
    )
    dust3r_tau: float = Field(
        3.0, ge=1.0, le=1000.0, description="DUSt3R confidence threshold τ of the consistency"
    )
    clip_model: str = Field(
        "ViT-B-32", min_length=1, description="open_clip architecture of clip_weights"
    )

    def weights(self) -> dict[str, str | None]:
        return {m: getattr(self, f"{m}_weights") for m in ("lpips", "fid", "fvd", "clip", "dust3r")}


@flow(name="evaluate", log_prints=True)
def evaluate(params: EvaluateParams) -> dict:
    """Generate every held-out grid with every checkpoint; PSNR, SSIM, consistency; catalog rows.

    ``baselines`` (per checkpoint): its scores beside the trivial baselines of every
    generated frame (same time, same view, their oracle, the background; whole frames and
    the object's pixels), their text ``table`` and the ``verdict`` line.
    """
    from tasks.evaluation.evaluate import (
        comparison_table,
        evaluation_rows,
        format_table,
        reference_consistency,
    )
    from tasks.evaluation.learned import reference_dust3r
    from tasks.evaluation.tasks import (
        evaluate_checkpoint,
        load_evaluation_set,
        load_learned_networks,
        write_evaluations,
    )

    logger = get_run_logger()
    catalog = Catalog()
    networks, skipped = load_learned_networks(
        params.weights(), params.dust3r_repo, params.clip_model
    )
    for line in skipped:
        logger.warning(line)
    sampling = {
        "steps": params.steps,
        "seed": params.seed,
        "guidance_scale": params.guidance_scale,
        "shift": params.shift,
        "ema": params.ema,
        "tau": params.dust3r_tau,
    }
    with recorded_run("evaluate", params, catalog) as rec:
        ds, grids, alphas = load_evaluation_set(
            catalog, params.dataset, params.allow_non_heldout, params.max_samples
        )
        rec.add_input("datasets", ds["dataset_id"])
        logger.info(
            "evaluating %d checkpoints on %d grids of %s",
            len(params.checkpoints),
            len(grids),
            ds["name"],
        )
        fitted, written, baselines = None, [], {}
        for ref in params.checkpoints:
            ckpt, _, means, details, fitted = evaluate_checkpoint(
                catalog, ref, ds, grids, sampling, params.detector, params.min_side, networks,
                alphas,
            )  # fmt: skip
            rec.add_input("checkpoints", ckpt["checkpoint_id"])
            rows = evaluation_rows(
                ckpt["checkpoint_id"], ds["dataset_id"], means, details, rec.run_id
            )
            write_evaluations(catalog, rows)
            for row in rows:
                rec.add_output("evaluations", row["evaluation_id"])
            written.append(
                {"checkpoint_id": ckpt["checkpoint_id"], "sync": details["sync"], **means}
            )
            baselines[ckpt["checkpoint_id"]] = {
                **details["baselines"],
                "table": details["baseline_table"],
                "verdict": details["verdict"],
            }
            logger.info(
                "checkpoint %s beside the trivial baselines (generated frames of %d grids):\n%s",
                ckpt["checkpoint_id"][:12],
                details["baselines"]["grids"],
                details["baseline_table"],
            )
        reference = reference_consistency(fitted, params.detector, params.min_side)
        reference.update(reference_dust3r([g for _, g in fitted], networks, params.dust3r_tau))
    table = comparison_table(catalog, ds["dataset_id"], reference)
    create_table_artifact(
        key="evaluation-comparison",
        table=table,
        description=f"Checkpoints on held-out snapshot {ds['name']} ({ds['dataset_id'][:12]}); "
        + "; ".join(skipped),
    )
    logger.info("comparison on %s:\n%s", ds["name"], format_table(table))
    return {
        "dataset_id": ds["dataset_id"],
        "results": written,
        "reference": reference,
        "table": table,
        "baselines": baselines,
        "skipped": skipped,
        "run_id": rec.run_id,
    }
