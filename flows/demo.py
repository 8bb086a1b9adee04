"""Flow ``demo``: the whole pipeline on embedded defaults, at the ``tiny`` preset.

sources -> grids -> datasets -> base -> sync -> upsampler -> generated grid,
with no Prefect server (ephemeral API), a local Ray and the DuckDB view file.
Each stage is the same flow a user deploys; the demo only chains them with
small sizes. ``make demo`` runs it; rerunning skips the data already built
and resumes training runs that already finished.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from pydantic import Field

from catalog.datasets import dataset_samples
from catalog.store import Catalog
from flows.build_objaverse import BuildObjaverseParams, build_objaverse_grids
from flows.build_pseudo4d import ClipParams, Pseudo4DParams, build_clips, build_pseudo4d
from flows.common import recorded_run
from flows.dataset import SnapshotParams, snapshot_dataset
from flows.generate import GenerateParams, generate
from flows.train import train_all
from fourreal.core.params import FlowParams, Seed
from fourreal.core.paths import data_root
from synthetic.objects import write_demo_objects
from synthetic.videos import make_demo_corpus
from tasks.train.params import TrainAllParams


class DemoParams(FlowParams):
    objects: int = Field(6, ge=2, le=64, description="Procedural animated GLBs to render")
    views: int = Field(4, ge=2, le=16, description="V of every grid")
    times: int = Field(4, ge=2, le=16, description="T of every grid")
    height: int = Field(64, ge=16, le=512, description="Height of built grids and clips")
    width: int = Field(128, ge=32, le=1024, description="Width of built grids and clips")
    base_steps: int = Field(200, ge=1, le=100_000, description="Base training steps")
    sync_steps: int = Field(60, ge=1, le=100_000, description="Steps of each sync phase")
    upsampler_steps: int = Field(100, ge=1, le=100_000, description="Upsampler steps")
    generate_steps: int = Field(8, ge=1, le=1000, description="Euler steps when generating")
    seed: Seed = 0


@flow(name="demo", log_prints=True)
def demo(params: DemoParams = DemoParams()) -> dict:
    """Run every stage once on a small synthetic corpus; return the output paths."""
    log = get_run_logger()
    root = data_root()
    catalog = Catalog()
    catalog.init()
    with recorded_run("demo", params, catalog) as rec:
        objects = root / "corpus" / "demo_objects"
        videos = root / "corpus" / "demo_videos"
        write_demo_objects(objects, count=params.objects, seed=params.seed)
        make_demo_corpus(videos, seed=params.seed)
        grid = dict(views=params.views, times=params.times, height=params.height,
                    width=params.width, seed=params.seed)  # fmt: skip

        rendered = build_objaverse_grids(
            BuildObjaverseParams(source=str(objects), **grid, min_motion=0.0, num_workers=2)
        )
        pseudo = build_pseudo4d(Pseudo4DParams(source=str(videos), **grid, clips_per_video=2))
        clips = build_clips(
            ClipParams(source=str(videos), times=params.times, height=params.height,
                       width=params.width, seed=params.seed, clips_per_video=2)
        )  # fmt: skip
        log.info("built %d rendered grids, %d pseudo-4D grids, %d clips",
                 len(rendered["sample_ids"]), len(pseudo["sample_ids"]), len(clips["sample_ids"]))  # fmt: skip

        datasets = {
            "demo-base": "kind IN ('clip', 'grid_objaverse', 'grid_pseudo4d')",
            "demo-pseudo4d": "kind = 'grid_pseudo4d'",
            "demo-objaverse": "kind = 'grid_objaverse'",
        }
        ids = {
            name: snapshot_dataset(SnapshotParams(name=name, where=where, split="train"))
            for name, where in datasets.items()
        }
        trained = train_all(
            TrainAllParams(
                preset="tiny",
                clips_dataset=ids["demo-base"]["dataset_id"],
                pseudo4d_dataset=ids["demo-pseudo4d"]["dataset_id"],
                objaverse_dataset=ids["demo-objaverse"]["dataset_id"],
                base_steps=params.base_steps,
                pseudo4d_steps=params.sync_steps,
                objaverse_steps=params.sync_steps,
                upsampler_steps=params.upsampler_steps,
                frames=params.times,
                batch_size=2,
                lr=1e-3,
                seed=params.seed,
                loader_workers=0,
                checkpoint_every=max(params.base_steps, params.sync_steps),
                log_every=5,
            )
        )
        ckpt = trained["checkpoint_ids"]
        # The grid to generate: the first of the objaverse snapshot (a rerun that rendered
        # nothing new still has it). The demo trains on it: this shows the pipeline works,
        # it is not a held-out result.
        objaverse_ids = [
            r["sample_id"] for r in dataset_samples(catalog, ids["demo-objaverse"]["dataset_id"])
        ]
        held_out = sorted(objaverse_ids)[0]
        result = generate(
            GenerateParams(
                checkpoint=ckpt["sync"],
                upsampler=ckpt["upsampler"],
                sample_id=held_out,
                steps=params.generate_steps,
                seed=params.seed,
            )
        )
        rec.add_input("checkpoints", ckpt["sync"])
        for row in ids.values():
            rec.add_output("datasets", row["dataset_id"])
    attach = catalog.write_attach_script()
    return {"checkpoints": ckpt, "datasets": {k: v["dataset_id"] for k, v in ids.items()},
            "generated": result, "catalog": str(attach)}  # fmt: skip
