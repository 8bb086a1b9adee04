"""Training throughput per stage and preset on this machine, and whether data keeps up.

    .venv/bin/python -m bench.train                       # tiny and small, all stages
    .venv/bin/python -m bench.train --presets tiny --steps 10 --threads 1

For each (preset, stage) it trains a few real steps from catalog data
(``synthetic.training`` in a temporary data root unless ``--home``) and
reports the median samples/s of a training step (first step excluded). Then
it times the DataLoader alone over the same stream (same workers) and prints
``ratio = loader samples/s / training samples/s``; the target is >= 2 (the
step never waits for data). sync trains from the base checkpoint just made.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid


def loader_rate(plan, workers: int, batch_size: int, batches: int) -> float:
    """Samples/s of the DataLoader alone on the plan's last phase."""
    from tasks.train.data import StreamDataset, make_loader

    phase = plan.phases[-1]
    ds = StreamDataset(phase.snapshot.samples, phase.spec)
    loader = make_loader(ds, 0, batches * batch_size, batch_size=batch_size, workers=workers)
    it = iter(loader)
    next(it)  # worker start-up and the first hash checks are not throughput
    t0 = time.perf_counter()
    n = 0
    for batch in it:
        n += batch["x"].shape[0]
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["tiny", "small"])
    ap.add_argument("--stages", nargs="+", default=["base", "sync", "upsampler"])
    ap.add_argument("--steps", type=int, default=6, help="steps per measurement (tiny x2)")
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--loader-workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    ap.add_argument("--home", default=None, help="data root (default: a temporary folder)")
    args = ap.parse_args()

    os.environ["FOURREAL_HOME"] = args.home or tempfile.mkdtemp(prefix="fourreal-bench-train-")
    if args.threads:
        os.environ["FOURREAL_TORCH_THREADS"] = str(args.threads)
    from fourreal.core.env import configure_environment

    configure_environment()
    import torch

    from catalog.store import Catalog
    from synthetic.training import write_training_data
    from tasks.train.params import TrainBaseParams, TrainSyncParams, TrainUpsamplerParams
    from tasks.train.stages import execute, prepare

    if args.threads:
        torch.set_num_threads(args.threads)
    cat = Catalog()
    cat.init()
    # 144x256 frames: at least the small upsampler's output size, 9:16 like the paper
    data = write_training_data(cat, prefix="bench", clips=6, grids=4, frames=8, V=4, T=4,
                               height=144, width=256)  # fmt: skip
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"batch {args.batch_size}, loader workers {args.loader_workers}")  # fmt: skip
    print(f"{'preset':7} {'stage':10} {'params':>8} {'step s':>8} {'samples/s':>10} "
          f"{'loader/s':>9} {'ratio':>6}")  # fmt: skip
    for preset in args.presets:
        steps = args.steps * (2 if preset == "tiny" else 1)
        common = dict(preset=preset, batch_size=args.batch_size, loader_workers=args.loader_workers,
                      log_every=1, checkpoint_every=10_000, run_name=f"bench-{uuid.uuid4().hex[:8]}")  # fmt: skip
        base_ckpt = None
        for stage in ["base", *[s for s in args.stages if s != "base"]]:
            if stage == "base":
                params = TrainBaseParams(dataset=data["clips"], steps=steps, frames=8, **common)
            elif stage == "sync":
                params = TrainSyncParams(parent_checkpoint=base_ckpt, pseudo4d_dataset=data["pseudo4d"],
                                         pseudo4d_steps=steps, objaverse_steps=0, **common)  # fmt: skip
            else:
                params = TrainUpsamplerParams(
                    dataset=data["clips"], steps=steps, frames=8, **common
                )
            plan = prepare(params, cat, str(uuid.uuid4()))
            summary = execute(plan)
            base_ckpt = summary["final_checkpoint_id"] if stage == "base" else base_ckpt
            if stage not in args.stages:
                continue
            from pathlib import Path

            from tasks.train.callbacks import read_history

            hist = read_history(Path(summary["run_dir"]))[1:]
            rate = statistics.median(h["samples_per_s"] for h in hist)
            step_s = statistics.median(h["step_time_s"] for h in hist)
            feed = loader_rate(plan, args.loader_workers, args.batch_size, batches=steps * 2)
            print(f"{preset:7} {stage:10} {summary['trainable_parameters'] / 1e6:7.2f}M "
                  f"{step_s:8.3f} {rate:10.2f} {feed:9.1f} {feed / rate:6.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
