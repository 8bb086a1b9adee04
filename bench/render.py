"""Benchmark of the grid renderer (not a test). Prints ratios against the targets.

    .venv/bin/python bench/render.py                      # 128x128 and 288x512, 2 workers
    .venv/bin/python bench/render.py --sizes 128x128 --objects 4

1. ``flow / raw``: grids/s of the Ray path the flow uses (tasks.objects.build.render_jobs:
   actors load, pose, render and write .npz + sha256) divided by grids/s of a raw
   single-process pyrender loop over the same posed meshes (no IO, no Ray).
   Target >= 0.9 at 2 workers.
2. ``eval / render``: glTF animation-evaluation time divided by render time in the
   raw loop. Target <= 0.1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

# bench/ holds scripts named like packages (catalog.py...): keep it off the import path
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from core.env import configure_environment  # noqa: E402

configure_environment()

KHRONOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gltf"


def make_objects(folder: Path, count: int) -> list[Path]:
    from synthetic.objects import write_demo_objects

    paths = write_demo_objects(folder, count=count, seed=1)
    if KHRONOS.is_dir():  # real files, one of them a 62k-triangle character
        for name in ("BoxAnimated.glb", "RiggedSimple.glb", "BrainStem.glb"):
            if (KHRONOS / name).exists():
                paths.append(Path(shutil.copy(KHRONOS / name, folder / name)))
    return paths


def raw_loop(paths, spec) -> tuple[float, float, float]:
    """(grids/s, eval seconds, render seconds) of one process over pre-posed meshes."""
    from renderers.job import pose_object
    from renderers.render import GridRenderer

    renderer = GridRenderer()
    renderer.render(
        pose_object(paths[0], spec).poses[:1],
        pose_object(paths[0], spec).cameras,
        spec.height,
        spec.width,
    )  # warm up: context + shader compilation
    posed, eval_s = [], 0.0
    for p in paths:
        clip_obj = pose_object(p, spec)
        asset, clip = clip_obj.asset, clip_obj.asset.clip(spec.animation)
        t0 = time.perf_counter()
        for t in clip_obj.times:
            asset.pose(float(t), clip)
        eval_s += time.perf_counter() - t0
        posed.append(clip_obj)
    t0 = time.perf_counter()
    for pc in posed:
        renderer.render(pc.poses, pc.cameras, spec.height, spec.width)
    render_s = time.perf_counter() - t0
    renderer.close()
    return len(paths) / render_s, eval_s, render_s


def flow_path(paths, spec, workers: int, out: Path, slots: int) -> float:
    """grids/s of the flow's render path (renderers.pool: actors load, pose, render, write)."""
    from renderers.pool import RenderPool
    from tasks.objects.build import largest_first

    jobs = [
        {"key": i, "path": str(p), "out": str(out / f"{i}.npz"), "spec": spec.params()}
        for i, p in enumerate(paths)
    ]
    jobs = largest_first(jobs)  # as the flow orders them
    with RenderPool(workers, slots=slots) as pool:
        pool.wait_ready()  # steady state: actors up (a build amortises their start)
        pool.run(jobs[:workers])  # warm up: GL contexts and shader compilation
        t0 = time.perf_counter()
        results = pool.run(jobs)
        elapsed = time.perf_counter() - t0
    bad = [r for r in results if r["status"] != "ok"]
    if bad:
        raise RuntimeError(f"bench objects failed: {bad}")
    return len(paths) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="128x128,288x512", help="HxW list")
    ap.add_argument("--views", type=int, default=8)
    ap.add_argument("--times", type=int, default=8)
    ap.add_argument("--objects", type=int, default=12, help="procedural objects (+3 Khronos)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--slots", type=int, default=None, help="objects in flight per worker")
    args = ap.parse_args()

    from core.raycluster import ensure_ray
    from renderers.job import RenderSpec

    ensure_ray(num_cpus=args.workers)
    tmp = Path(tempfile.mkdtemp(prefix="fourreal-bench-"))
    try:
        paths = make_objects(tmp / "objects", args.objects)
        print(
            f"{len(paths)} objects, V={args.views} T={args.times}, {args.workers} workers, "
            f"{os.cpu_count()} cores, GL={os.environ.get('PYOPENGL_PLATFORM')}"
        )
        for size in args.sizes.split(","):
            h, w = (int(x) for x in size.lower().split("x"))
            spec = RenderSpec(views=args.views, times=args.times, height=h, width=w)
            raw_gps, eval_s, render_s = raw_loop(paths, spec)
            (tmp / size).mkdir()
            from renderers.pool import SLOTS_PER_WORKER

            flow_gps = flow_path(
                paths, spec, args.workers, tmp / size, args.slots or SLOTS_PER_WORKER
            )
            frames = len(paths) * args.views * args.times
            print(
                f"{h}x{w}: raw {raw_gps:.2f} grids/s ({frames / render_s:.0f} frames/s), "
                f"flow {flow_gps:.2f} grids/s"
            )
            print(f"  flow / raw     = {flow_gps / raw_gps:.2f}  (target >= 0.9)")
            print(f"  eval / render  = {eval_s / render_s:.3f}  (target <= 0.1)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
