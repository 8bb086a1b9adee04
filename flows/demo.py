"""Flow ``demo``: the whole pipeline on embedded defaults, at the ``tiny`` preset.

sources -> grids -> datasets -> base -> sync -> upsampler -> generated grid,
with no Prefect server (ephemeral API), a local Ray and the DuckDB view file.
Each stage is the same flow a user deploys; the demo only chains them with
small sizes. ``make demo`` runs it; rerunning skips the data already built
and resumes training runs that already finished.

The proof that it works: the demo renders one more object that no stage trains
on (``corpus/demo_heldout``, its own snapshot ``demo-heldout`` with split
``heldout``; every training snapshot excludes it), generates that object's grid
from its ``grid[0, :]`` and ``grid[:, 0]``, writes its ground-truth grid beside
the generated one (``ground_truth.npz``, same layout: ``grid`` uint8 ``[V, T, H,
W, 3]``) and prints the scores over the generated frames beside the trivial
baselines of tasks.baselines (same time, same view, their oracle,
the background), on whole frames and on the object's own pixels, with one line
saying whether the model beats the best of them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from prefect import flow, get_run_logger
from pydantic import Field, model_validator

from catalog.datasets import dataset_samples
from catalog.store import Catalog
from core.flow_params import FlowParams, Seed
from core.paths import data_root
from flows.build_objaverse import BuildObjaverseParams, build_objaverse_grids
from flows.build_pseudo4d import ClipParams, Pseudo4DParams, build_clips, build_pseudo4d
from flows.common import recorded_run
from flows.dataset import SnapshotParams, snapshot_dataset
from flows.generate import GenerateParams, generate
from flows.train import train_all
from synthetic.objects import write_demo_objects
from synthetic.videos import make_demo_corpus
from tasks.train.params import BaseMaskProportions, TrainAllParams

DEMO_BASE_MASKS = BaseMaskProportions(none=0.1, random=0.2, interpolate=0.2, extend=0.5)


# every stage of the demo trains this model preset (CPU-sized)
PRESET = "tiny"


class DemoParams(FlowParams):
    objects: int = Field(6, ge=2, le=64, description="Procedural animated GLBs to train on")
    heldout_objects: int = Field(
        1, ge=1, le=16, description="More GLBs, never trained on: the grid generated is theirs"
    )
    views: int = Field(4, ge=2, le=16, description="V of every grid")
    times: int = Field(4, ge=2, le=16, description="T of every grid")
    height: int = Field(64, ge=16, le=512, description="Height of built grids and clips")
    width: int = Field(128, ge=32, le=1024, description="Width of built grids and clips")
    base_steps: int = Field(3000, ge=1, le=100_000, description="Base training steps")
    base_batch_size: int = Field(8, ge=1, le=256, description="Clips per base step")
    sync_steps: int = Field(300, ge=1, le=100_000, description="Steps of each sync phase")
    upsampler_steps: int = Field(
        10, ge=1, le=100_000, description="Upsampler steps (the demo only checks it runs)"
    )
    lr: float = Field(1e-3, gt=0.0, le=1.0, description="Peak learning rate of every stage")
    generate_steps: int = Field(50, ge=1, le=1000, description="Euler steps when generating")
    shift: float = Field(3.0, gt=0.0, le=100.0, description="Sampling schedule shift")
    guidance_scale: float = Field(
        1.0, ge=0.0, le=20.0, description="Classifier-free guidance when generating (1 = off)"
    )
    seed: Seed = 0

    @model_validator(mode="after")
    def _fits_the_tiny_models(self):
        """Grids and clips every tiny stage can train on, checked before any render:
        at least the upsampler's high resolution, at most the models' frames."""
        from model.config import base_preset, upsampler_preset

        base, upsampler = base_preset(PRESET), upsampler_preset(PRESET)
        height, width = max(base.height, upsampler.height), max(base.width, upsampler.width)
        if self.height < height or self.width < width:
            raise ValueError(
                f"height x width {self.height}x{self.width}: the demo trains the tiny "
                f"upsampler at {upsampler.height}x{upsampler.width}, so it needs at least "
                f"{height}x{width}"
            )
        frames = min(base.max_frames, upsampler.max_frames)
        if self.times > frames:
            raise ValueError(f"times {self.times}: the tiny models take at most {frames} frames")
        return self


@flow(name="demo", log_prints=True)
def demo(params: DemoParams = DemoParams()) -> dict:
    """Run every stage once on a small synthetic corpus; return the output paths."""
    log = get_run_logger()
    root = data_root()
    catalog = Catalog()
    catalog.init()
    with recorded_run("demo", params, catalog) as rec:
        objects = root / "corpus" / "demo_objects"
        heldout = root / "corpus" / "demo_heldout"
        videos = root / "corpus" / "demo_videos"
        write_demo_objects(objects, count=params.objects, seed=params.seed)
        # another seed: other shapes, colours and motions than any training object
        write_demo_objects(heldout, count=params.heldout_objects, seed=params.seed + 1000)
        make_demo_corpus(videos, seed=params.seed)
        grid = dict(views=params.views, times=params.times, height=params.height,
                    width=params.width, seed=params.seed)  # fmt: skip

        rendered = build_objaverse_grids(
            BuildObjaverseParams(source=str(objects), **grid, min_motion=0.0, num_workers=2)
        )
        built = build_objaverse_grids(
            BuildObjaverseParams(source=str(heldout), **grid, min_motion=0.0, num_workers=1)
        )
        unseen = built["sample_ids"] + built["skipped_ids"]  # a rerun finds them recorded
        pseudo = build_pseudo4d(Pseudo4DParams(source=str(videos), **grid, clips_per_video=2))
        clips = build_clips(
            ClipParams(source=str(videos), times=params.times, height=params.height,
                       width=params.width, seed=params.seed, clips_per_video=2)
        )  # fmt: skip
        log.info("built %d rendered grids, %d pseudo-4D grids, %d clips",
                 len(rendered["sample_ids"]), len(pseudo["sample_ids"]), len(clips["sample_ids"]))  # fmt: skip

        if not unseen:
            raise ValueError("demo: the held-out object was not rendered (see the build above)")
        unseen_ids = ", ".join(f"'{i}'" for i in sorted(unseen))
        not_unseen = f"sample_id NOT IN ({unseen_ids})"
        datasets = {
            "demo-base": f"kind IN ('clip', 'grid_objaverse', 'grid_pseudo4d') AND {not_unseen}",
            "demo-pseudo4d": "kind = 'grid_pseudo4d'",
            "demo-objaverse": f"kind = 'grid_objaverse' AND {not_unseen}",
        }
        ids = {
            name: snapshot_dataset(SnapshotParams(name=name, where=where, split="train"))
            for name, where in datasets.items()
        }
        ids["demo-heldout"] = snapshot_dataset(
            SnapshotParams(name="demo-heldout", where=f"sample_id IN ({unseen_ids})",
                           split="heldout")
        )  # fmt: skip
        started = time.perf_counter()
        trained = train_all(
            TrainAllParams(
                preset=PRESET,
                clips_dataset=ids["demo-base"]["dataset_id"],
                pseudo4d_dataset=ids["demo-pseudo4d"]["dataset_id"],
                objaverse_dataset=ids["demo-objaverse"]["dataset_id"],
                base_steps=params.base_steps,
                pseudo4d_steps=params.sync_steps,
                objaverse_steps=params.sync_steps,
                upsampler_steps=params.upsampler_steps,
                frames=params.times,
                batch_size=2,
                # A tiny model is bound by per-step overhead, not arithmetic: 8 clips per
                # step cost ~1.5x the time of 2 and learn far more per second.
                base_batch_size=params.base_batch_size,
                lr=params.lr,
                # Sampling starts at pure noise, where logit-normal training rarely looks;
                # at this size that leaves coloured static, uniform noise levels do not.
                timestep_sampler="uniform",
                # More high-noise steps: there the known frames are all a model has to go on
                # (docs/model.md#loss-weighting-and-training-noise-levels).
                timestep_shift=3.0,
                # The paper's recipe trains the base unconditionally 57% of the time; a short
                # run then learns to ignore its known frames, which is all the demo gives it
                # (object pixels 8.0 -> 9.9 dB with this mix, same steps).
                base_masks=DEMO_BASE_MASKS,
                seed=params.seed,
                loader_workers=0,
                checkpoint_every=max(params.base_steps, params.sync_steps),
                log_every=5,
            )
        )
        training_s = time.perf_counter() - started
        load = os.getloadavg()[0]
        log.info("training took %.0f s (wall; load average %.1f on %d cores)",
                 training_s, load, os.cpu_count())  # fmt: skip
        ckpt = trained["checkpoint_ids"]
        # The grid to generate: the first held-out object's, which no stage trained on.
        heldout_ids = [
            r["sample_id"] for r in dataset_samples(catalog, ids["demo-heldout"]["dataset_id"])
        ]
        target = sorted(heldout_ids)[0]
        result = generate(
            GenerateParams(
                checkpoint=ckpt["sync"],
                upsampler=ckpt["upsampler"],
                sample_id=target,
                steps=params.generate_steps,
                shift=params.shift,
                guidance_scale=params.guidance_scale,
                seed=params.seed,
            )
        )
        comparison = compare_with_ground_truth(catalog, target, result)
        rec.add_input("checkpoints", ckpt["sync"])
        for row in ids.values():
            rec.add_output("datasets", row["dataset_id"])
    attach = catalog.write_attach_script()
    return {"checkpoints": ckpt, "datasets": {k: v["dataset_id"] for k, v in ids.items()},
            "generated": result, "catalog": str(attach),
            "comparison": comparison, "training_s": training_s, "load_average": load}  # fmt: skip


def compare_with_ground_truth(catalog: Catalog, sample_id: str, generated: dict) -> dict:
    """Plain npz files of the generated grid and its ground truth (key ``grid``, uint8
    ``[V, T, H, W, 3]``) in the generation folder; PSNR over the generated frames."""
    from core.io import save_npz_atomic
    from core.sample_store import export_npz
    from tasks.generation.pipeline import fitted_ground_truth, read_grid_npz

    folder = Path(generated["folder"])
    grid, times = read_grid_npz(generated["grid"])
    V, T, H, W, _ = grid.shape
    gt = fitted_ground_truth(catalog, sample_id, V, T, H, W)
    generated_npz = folder / "generated.npz"
    export_npz(generated["grid"], generated_npz)  # grid, times, known
    truth_npz = folder / "ground_truth.npz"
    save_npz_atomic(truth_npz, grid=gt, times=np.asarray(times, np.float64))
    return {
        "sample_id": sample_id,
        "ground_truth": str(truth_npz),
        "generated": str(generated_npz),
        **grid_scores(grid, gt),
    }


def grid_scores(grid: np.ndarray, gt: np.ndarray) -> dict:
    """Scores of a generated grid against its ground truth (uint8 ``[V, T, H, W, 3]``) over
    the generated frames, beside every trivial baseline (tasks.baselines), on
    whole frames and on the object's own pixels; ``verdicts``: one line per score.

    The renders are a small object on a plain background: a frame of background alone
    scores well on whole-frame PSNR, so the object's own pixels are also scored apart.
    """
    from tasks.baselines import grid_scores as scores
    from tasks.baselines import object_mask, summarise, verdict

    table = scores(grid, gt)
    summary = summarise([table], resamples=1)
    V, T = gt.shape[:2]
    unknown = np.ones((V, T), bool)
    unknown[0, :] = unknown[:, 0] = False
    return {
        "frames": int(unknown.sum()),
        "object_pixels": float(object_mask(gt)[unknown].mean()),
        "rows": table,
        "verdicts": [verdict(summary, s) for s in ("psnr", "psnr_object", "ssim")],
    }
