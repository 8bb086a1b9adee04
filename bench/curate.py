"""Curation throughput against decoding alone, and its share of a build_pseudo4d.

    .venv/bin/python -m bench.curate                    # 3 edited videos at 360x640
    .venv/bin/python -m bench.curate --videos 2 --shot-frames 60 --repeats 2

On the same generated H.264 videos (each: a pan | hard cut | moving shapes |
10-frame fade | a held frame, ``synthetic.curation_videos``), in one process:

* decode only: every frame, once (``decode_all``: what the curated build does);
* curation only: ``curate_frames`` on those decoded frames (shot cuts with
  PySceneDetect, borders, blanks, flow, tracks + RANSAC, hashes);
* the curated build path, serial: ``tasks.videos.build.process_source`` with
  curation on (what each Ray task of ``build_pseudo4d`` runs: hash, probe,
  decode every frame, curate, contact sheet, crop + resize, V-view warp, npz
  write), and the same job with curation off (sparse decode of clip frames).

Prints frames per second, the ratio curation / decode (target >= 0.5), and
the share of the curated build spent curating. Each figure is the best of
``--repeats`` alternating passes.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from core.paths import data_root
from core.video import probe_video
from synthetic.curation_videos import write_edited_video
from tasks.videos.build import SourceSpec, VideoJob, process_source
from tasks.videos.curate import CurationParams, curate_frames, decode_all


def make_videos(folder: Path, count: int, height: int, width: int, shot: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(count):
        p = folder / f"edited_{width}x{height}_{shot}f_{k}.mp4"
        if not p.exists():
            write_edited_video(p, height, width, shot_frames=shot)
        paths.append(p)
    return paths


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def build_path(paths: list[Path], job: VideoJob) -> float:
    t0 = time.perf_counter()
    for p in paths:
        res = process_source(SourceSpec(str(p)), job)
        assert res.source_row["status"] == "ok", res.source_row["error"]
        assert res.sample_rows and all(r["status"] == "ok" for r in res.sample_rows)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=int, default=3)
    ap.add_argument("--shot-frames", type=int, default=80, help="frames per shot (3 shots)")
    ap.add_argument("--source-size", default="360x640", help="HxW of the source videos")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--views", type=int, default=8)
    ap.add_argument("--times", type=int, default=8)
    ap.add_argument("--stride", type=int, default=2)
    ap.add_argument("--clips-per-video", type=int, default=2)
    args = ap.parse_args()

    h, w = (int(x) for x in args.source_size.split("x"))
    paths = make_videos(
        data_root() / "bench" / "curate_videos", args.videos, h, w, args.shot_frames
    )
    metas = {p: probe_video(p) for p in paths}
    n_frames = sum(m.frames for m in metas.values())
    params = CurationParams()
    work = Path(tempfile.mkdtemp(prefix="fourreal-bench-curate-"))
    job = VideoJob(
        kind="grid_pseudo4d",
        times=args.times,
        height=72,
        width=128,
        out_dir=str(work / "curated"),
        views=args.views,
        stride=args.stride,
        clips_per_video=args.clips_per_video,
        curation=params.model_dump(),
    )
    plain = dataclasses.replace(job, curation=None, out_dir=str(work / "plain"))
    curate_frames(decode_all(paths[0], metas[paths[0]])[:4], 30.0, params)  # imports, warm-up
    best = dict.fromkeys(("decode", "curate", "build", "build_plain"), np.inf)
    shots = 0
    try:
        for r in range(args.repeats):
            dec = cur = 0.0
            for p in paths:
                t, frames = timed(lambda p=p: decode_all(p, metas[p]))
                dec += t
                t, found = timed(lambda f=frames, p=p: curate_frames(f, metas[p].fps, params))
                cur += t
                shots = len(found) if p == paths[0] else shots
                del frames
            best["decode"] = min(best["decode"], dec)
            best["curate"] = min(best["curate"], cur)
            run = dataclasses.replace(job, out_dir=f"{job.out_dir}_{r}")
            best["build"] = min(best["build"], build_path(paths, run))
            run = dataclasses.replace(plain, out_dir=f"{plain.out_dir}_{r}")
            best["build_plain"] = min(best["build_plain"], build_path(paths, run))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    fps = {k: n_frames / v for k, v in best.items()}
    print(
        f"{args.videos} videos x {n_frames // args.videos} frames at {w}x{h} "
        f"({shots} shots each); V={args.views} T={args.times} stride={args.stride}, "
        f"{args.clips_per_video} clips/video, best of {args.repeats}"
    )
    print(f"decode only      {fps['decode']:8.1f} frames/s")
    print(f"curation only    {fps['curate']:8.1f} frames/s")
    print(f"curation / decode ratio {fps['curate'] / fps['decode']:.2f} (target >= 0.5)")
    print(f"build_pseudo4d path, curated   {best['build']:.2f} s")
    print(f"build_pseudo4d path, uncurated {best['build_plain']:.2f} s (sparse decode)")
    print(f"curation share of the curated build: {100 * best['curate'] / best['build']:.0f}%")


if __name__ == "__main__":
    main()
