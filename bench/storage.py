"""Bytes and cost of storing rendered grids: raw npz against the sample sample_store.

    .venv/bin/python -m bench.storage                    # 8x8 at 288x512, Khronos + procedural
    .venv/bin/python -m bench.storage --size 72x128 --repeats 1

For each object, in one process with one warmed renderer, it measures:

* render: ``renderers.job.render_object`` (load, pose, GL render);
* store write: ``core.sample_store.write_rendered`` (rgb to H.264, alpha and
  depth to zstd, the zip, the atomic write), and the same for the old
  ``np.savez`` npz;
* quality: rgb PSNR of the grid read back against the raw render, depth's
  largest relative error, alpha exactness; and read times (whole grid, one
  view, one time step).

Ratios (targets from the issue): stored bytes <= 1/20 of the raw npz (3.8 MB at
8x8 x 288x512), rgb PSNR >= 50 dB, and (render + encode + write) / render <=
1.3, measured two ways: serially, and as a render actor runs it (two objects
in flight, the write of one overlapping the render of the next under the GL
lock; renderers.pool).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

# bench/ holds scripts named like packages (catalog.py...): keep it off the import path
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from core.env import configure_environment  # noqa: E402

configure_environment()

KHRONOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gltf"


def objects(folder: Path, count: int) -> list[Path]:
    from synthetic.objects import write_demo_objects

    paths = write_demo_objects(folder, count=count, seed=1)
    for name in ("BoxAnimated.glb", "RiggedSimple.glb", "BrainStem.glb"):
        if (KHRONOS / name).exists():
            paths.append(Path(shutil.copy(KHRONOS / name, folder / name)))
    return paths


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def best(fn, repeats: int):
    """(best seconds, last result) of ``repeats`` calls."""
    out, secs = None, np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        secs = min(secs, time.perf_counter() - t0)
    return secs, out


def measure_one(path: Path, spec, renderer, work: Path, repeats: int) -> dict:
    from core import sample_store
    from core.io import save_npz_atomic
    from renderers.job import render_object

    render_s, grid = best(lambda: render_object(path, spec, renderer), repeats)
    arrays = grid.arrays()
    raw = sum(a.nbytes for a in arrays.values())
    npz_s, _ = best(lambda: save_npz_atomic(work / "legacy.npz", **arrays), repeats)
    store_s, st = best(lambda: sample_store.write_rendered(work / "s.zip", **arrays), repeats)
    with sample_store.open_sample(st.path) as s:
        members = {
            k: sum(i.file_size for i in s._zip.infolist() if i.filename.startswith(k))
            for k in ("rgb/", "alpha", "depth")
        }
    read_s, back = best(lambda: sample_store.open_sample(st.path, whole=True).export(), repeats)
    with sample_store.open_sample(st.path) as s:
        view_s, _ = best(lambda: s.view(spec.views // 2), repeats)
        time_s, _ = best(lambda: s.time(spec.times - 1), repeats)
    fg = arrays["depth"] > 0
    rel = np.abs(back["depth"][fg] - arrays["depth"][fg]) / arrays["depth"][fg]
    return {
        "name": path.name,
        "render_s": render_s,
        "raw": raw,
        "npz": (work / "legacy.npz").stat().st_size,
        "npz_s": npz_s,
        "stored": st.bytes,
        "store_s": store_s,
        "members": members,
        "psnr": psnr(back["rgb"], arrays["rgb"]),
        "depth_rel": float(rel.max()) if rel.size else 0.0,
        "alpha_exact": bool(np.array_equal(back["alpha"], arrays["alpha"])),
        "read_s": read_s,
        "view_s": view_s,
        "time_s": time_s,
    }


def pipelined(paths, spec, renderer, work: Path, write: bool) -> float:
    """Seconds to render (and write) every object with two in flight, as a render actor does."""
    from renderers.job import render_job

    lock = threading.Lock()
    jobs = [
        {"key": i, "path": str(p), "out": str(work / f"p{i}.zip"), "spec": spec.params()}
        for i, p in enumerate(paths)
    ]

    def render_only(job):
        from renderers.job import render_object

        render_object(job["path"], spec, renderer, lock)

    fn = (lambda j: render_job(j, renderer, lock)) if write else render_only
    t0 = time.perf_counter()
    with ThreadPoolExecutor(2) as ex:
        list(ex.map(fn, jobs))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", default="288x512", help="HxW")
    ap.add_argument("--views", type=int, default=8)
    ap.add_argument("--times", type=int, default=8)
    ap.add_argument("--objects", type=int, default=3, help="procedural objects (+3 Khronos)")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    from renderers.job import RenderSpec, render_object
    from renderers.render import GridRenderer

    h, w = (int(x) for x in args.size.lower().split("x"))
    spec = RenderSpec(views=args.views, times=args.times, height=h, width=w)
    work = Path(tempfile.mkdtemp(prefix="fourreal-bench-storage-"))
    try:
        paths = objects(work / "objects", args.objects)
        renderer = GridRenderer()
        render_object(paths[0], spec, renderer)  # warm up: context, shaders
        print(f"{len(paths)} objects, V={args.views} T={args.times} {h}x{w}")
        print(
            f"{'object':>22} {'raw MB':>7} {'store MB':>8} {'rgb/alpha/depth MB':>19} "
            f"{'PSNR':>5} {'depth rel':>9} {'render s':>8} {'write s':>7} {'npz s':>6} "
            f"{'read s':>6} {'view s':>6} {'time s':>6}"
        )
        rows = [measure_one(p, spec, renderer, work, args.repeats) for p in paths]
        for r in rows:
            m = r["members"]
            parts = "/".join(f"{m[k] / 1e6:.2f}" for k in ("rgb/", "alpha", "depth"))
            print(
                f"{r['name'][:22]:>22} {r['raw'] / 1e6:7.1f} {r['stored'] / 1e6:8.2f} "
                f"{parts:>19} {r['psnr']:5.1f} {r['depth_rel']:9.1e} {r['render_s']:8.2f} "
                f"{r['store_s']:7.2f} {r['npz_s']:6.2f} {r['read_s']:6.2f} {r['view_s']:6.3f} "
                f"{r['time_s']:6.3f}"
            )
        render = sum(r["render_s"] for r in rows)
        write = sum(r["store_s"] for r in rows)
        stored = np.mean([r["stored"] for r in rows])
        raw = np.mean([r["raw"] for r in rows])
        serial = (render + write) / render
        alone = pipelined(paths, spec, renderer, work, write=False)
        both = pipelined(paths, spec, renderer, work, write=True)
        print(f"mean bytes/sample: raw {raw / 1e6:.1f} MB, stored {stored / 1e6:.2f} MB")
        print(f"  stored / raw                        = 1/{raw / stored:.0f}  (target <= 1/20)")
        print(f"  min rgb PSNR                        = {min(r['psnr'] for r in rows):.1f} dB"
              "  (target >= 50)")  # fmt: skip
        print(f"  alpha exact                         = {all(r['alpha_exact'] for r in rows)}")
        print(f"  encode+write / render               = {write / render:.2f}")
        print(f"  (render + encode + write) / render  = {serial:.2f} serial  (target <= 1.3)")
        print(f"  same, two in flight (render actor)  = {both / alone:.2f}  (target <= 1.3)")
        print(
            f"  legacy npz write / render           = {sum(r['npz_s'] for r in rows) / render:.2f}"
        )
        renderer.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
