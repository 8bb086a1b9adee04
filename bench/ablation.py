"""Ablation: sequential vs hard vs soft synchronisation on a toy 4D benchmark.

    .venv/bin/python bench/ablation.py                      # defaults, measured time: see the closing note of issue 7
    .venv/bin/python bench/ablation.py --base-steps 200 --sync-steps 100 --objects 6   # quick

What runs, in order (everything in a fresh data root, ``--home``):

1. data: procedural animated GLBs (synthetic.objects: jointed arms,
   skinned tubes, morphing blobs, random colours and motions) rendered by the
   real renderer (renderers.job.render_object, pyrender) into V x T grids at
   the tiny resolution; the first objects form the ``train`` snapshot, the
   rest the ``heldout`` snapshot (other objects, never trained on).
2. a tiny base model trained by the training engine (flows.train.run_stage,
   stage ``base``) on clips sliced from the train grids;
3. ``sequential``, ``hard`` and ``soft`` 4D models from that same base,
   trained with the same steps, batch, learning rate and seed (stage
   ``sync``; ``sequential`` has no sync parameters, so it is the base run
   in the interleaved two-axis pattern, untrained by construction);
4. every model generates every held-out grid from its ``grid[0, :]`` and
   ``grid[:, 0]`` (same steps and seed) and is scored by tasks.evaluation.evaluate:
   PSNR / SSIM on the generated frames, consistency scores of the
   freeze-time and fixed-view slices; the ground-truth grids' consistency
   is the reference row. Rows go to the catalog ``evaluations`` table.

The paper's ordering is soft > hard > sequential. At this scale the numbers
are noisy; the table reports whatever comes out, and ``--seeds`` repeats the
sync training and sampling with other seeds to show the spread.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SYNCS = ("sequential", "hard", "soft")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--home", default=None, help="Data root (default: a new temporary folder)")
    p.add_argument("--objects", type=int, default=12, help="Procedural objects in all")
    p.add_argument("--heldout", type=int, default=4, help="Objects kept for evaluation")
    p.add_argument("--views", type=int, default=8, help="V")
    p.add_argument("--times", type=int, default=8, help="T")
    p.add_argument("--base-steps", type=int, default=1000, help="Base model training steps")
    p.add_argument("--sync-steps", type=int, default=400, help="Sync training steps (each kind)")
    p.add_argument("--batch-size", type=int, default=4, help="Batch size of both stages")
    p.add_argument("--lr", type=float, default=1e-3, help="Peak learning rate of both stages")
    p.add_argument("--sample-steps", type=int, default=25, help="Euler steps at evaluation")
    p.add_argument("--min-side", type=int, default=128, help="Frame upscale for features")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="Seeds of sync training")
    p.add_argument("--data-seed", type=int, default=0, help="Seed of the procedural objects")
    args = p.parse_args(argv)
    if not 0 < args.heldout < args.objects:
        p.error("--heldout must be between 1 and --objects - 1")
    return args


def setup_home(home: str | None) -> Path:
    root = Path(home or tempfile.mkdtemp(prefix="fourreal-ablation-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    os.environ["FOURREAL_HOME"] = str(root)
    os.environ.setdefault("PREFECT_HOME", str(root / "prefect"))
    from fourreal.core.env import configure_environment

    configure_environment()
    return root


# ------------------------------------------------------------------ data
def render_grids(args, catalog) -> tuple[dict, dict]:
    """Render the procedural objects; returns the (train, heldout) snapshot rows."""
    from catalog.datasets import create_dataset
    from catalog.ids import sample_id
    from fourreal.core.io import save_npz_atomic, sha256_file
    from fourreal.core.paths import data_root, relative_to_root
    from model.config import base_preset
    from renderers.job import RenderSpec, render_object
    from renderers.render import GridRenderer
    from synthetic.objects import write_demo_objects

    cfg = base_preset("tiny")
    spec = RenderSpec(views=args.views, times=args.times, height=cfg.height, width=cfg.width)
    glbs = write_demo_objects(data_root() / "objects", count=args.objects, seed=args.data_seed)
    renderer = GridRenderer()
    rows = []
    try:
        for i, glb in enumerate(glbs):
            grid = render_object(glb, spec, renderer)
            split = "heldout" if i >= args.objects - args.heldout else "train"
            path = data_root() / "grids" / f"{glb.stem}.npz"
            save_npz_atomic(path, **grid.arrays())
            digest = sha256_file(path)
            rows.append(
                {
                    "sample_id": sample_id(sha256_file(glb), "bench_render", "1", spec.params()),
                    "kind": "grid_objaverse",
                    "source_id": None,
                    "recipe": "bench_render",
                    "recipe_version": "1",
                    "params_json": f'{{"object": "{glb.name}", "split": "{split}"}}',
                    "v": args.views,
                    "t": args.times,
                    "h": spec.height,
                    "w": spec.width,
                    "path": relative_to_root(path),
                    "sha256": digest,
                    "status": "ok",
                }
            )
    finally:
        renderer.close()
    catalog.append("samples", rows)
    train = create_dataset(catalog, "bench-train", "params_json LIKE '%\"train\"%'", split="train")
    held = create_dataset(catalog, "bench-heldout", "params_json LIKE '%\"heldout\"%'", "heldout")
    return train, held


# ------------------------------------------------------------------ training
def train_models(args, catalog, train: dict, seed: int, base_id: str | None) -> tuple[str, dict]:
    """The base (once) and one sync checkpoint per kind, all with the training engine."""
    from flows.train import run_stage
    from tasks.train.params import TrainBaseParams, TrainSyncParams

    common = dict(
        preset="tiny", batch_size=args.batch_size, lr=args.lr, warmup_steps=20,
        loader_workers=0, checkpoint_every=10_000, log_every=100, ema_decay=0.99,
    )  # fmt: skip
    if base_id is None:
        t0 = time.perf_counter()
        base = run_stage(
            TrainBaseParams(
                dataset=train["dataset_id"],
                steps=args.base_steps,
                frames=args.times,
                seed=0,
                **common,
            ),  # fmt: skip
            catalog=catalog,
        )
        base_id = base["final_checkpoint_id"]
        print(f"  base: {args.base_steps} steps in {time.perf_counter() - t0:.0f}s", flush=True)
    syncs = {}
    for kind in SYNCS:
        t0 = time.perf_counter()
        out = run_stage(
            TrainSyncParams(parent_checkpoint=base_id, sync=kind, objaverse_dataset=train["dataset_id"],
                            objaverse_steps=args.sync_steps, pseudo4d_steps=0, seed=seed, **common),
            catalog=catalog,
        )  # fmt: skip
        syncs[kind] = out["final_checkpoint_id"]
        note = out.get("note", f"{args.sync_steps} steps")
        print(f"  sync {kind} (seed {seed}): {note} in {time.perf_counter() - t0:.0f}s", flush=True)
    return base_id, syncs


# ------------------------------------------------------------------ evaluation
def evaluate_models(args, catalog, held: dict, syncs: dict, seed: int) -> tuple[dict, dict]:
    """Metrics of every sync checkpoint on the held-out grids (and the reference)."""
    import uuid

    from tasks.evaluation.evaluate import (
        evaluate_model,
        evaluation_rows,
        fit_grid,
        load_heldout,
        reference_consistency,
    )
    from tasks.generation.generate import load_sync_checkpoint

    ds, grids = load_heldout(catalog, held["dataset_id"], False, None)
    run_id = f"bench-ablation-{uuid.uuid4()}"
    results, fitted = {}, None
    for kind, ref in syncs.items():
        model, cfg, ckpt = load_sync_checkpoint(catalog, ref)
        fitted = [(sid, fit_grid(g, cfg.base.max_frames, cfg.base.height, cfg.base.width)[0])
                  for sid, g in grids]  # fmt: skip
        means, per, _ = evaluate_model(
            model, fitted, args.sample_steps, seed, "sift", args.min_side
        )
        details = {"sync": kind, "seed": seed, "bench": "ablation", "samples": len(fitted)}
        catalog.append(
            "evaluations", evaluation_rows(ref, ds["dataset_id"], means, details, run_id)
        )
        results[kind] = means
    return results, reference_consistency(fitted, "sift", args.min_side)


def print_table(results: dict[int, dict], reference: dict) -> None:
    """Mean (and spread over seeds) per sync kind."""
    import numpy as np

    metrics = ("psnr", "ssim", "consistency_freeze_time", "consistency_fixed_view")
    head = f"{'sync':<12}" + "".join(f"{m:>26}" for m in metrics)
    print(head)
    print("-" * len(head))
    for kind in SYNCS:
        cells = []
        for m in metrics:
            vals = np.array([results[s][kind][m] for s in results])
            cells.append(f"{vals.mean():.4f}" + (f" ± {vals.std():.4f}" if len(vals) > 1 else ""))
        print(f"{kind:<12}" + "".join(f"{c:>26}" for c in cells))
    ref = [f"{reference[m]:.4f}" if m in reference else "-" for m in metrics]
    print(f"{'ground truth':<12}" + "".join(f"{c:>26}" for c in ref))


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    home = setup_home(args.home)
    from catalog.store import Catalog

    catalog = Catalog()
    catalog.init()
    print(f"data root {home}")
    print("1. rendering procedural animated objects with renderers.job.render_object (pyrender)")
    train, held = render_grids(args, catalog)
    print(f"   train {train['num_samples']} grids, held-out {held['num_samples']} grids "
          f"({args.views}x{args.times} at tiny resolution)")  # fmt: skip
    print("2-3. training with the training engine (flows.train.run_stage): base, then each sync")
    results, reference, base_id = {}, {}, None
    for seed in args.seeds:
        base_id, syncs = train_models(args, catalog, train, seed, base_id)
        print(f"4. evaluating on the held-out snapshot (seed {seed})", flush=True)
        results[seed], reference = evaluate_models(args, catalog, held, syncs, seed)
    print()
    print(f"held-out grids: {held['num_samples']}; base steps {args.base_steps}; sync steps "
          f"{args.sync_steps}; batch {args.batch_size}; seeds {args.seeds}; "
          f"sampling steps {args.sample_steps}")  # fmt: skip
    print_table(results, reference)
    print(f"\ntotal {time.perf_counter() - start:.0f}s; evaluations in {catalog.dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
