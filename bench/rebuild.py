"""Full build vs. no-op rebuild of a pseudo-4D dataset (target: no-op <= 2% of full).

    .venv/bin/python bench/rebuild.py                 # 8 synthetic videos, 8x8 grids
    .venv/bin/python bench/rebuild.py --videos 16 --frames 192

Runs the real ``build_pseudo4d`` flow (ephemeral Prefect API, local Ray) on a
synthetic corpus in a temporary data root, three times: the full build, then
two rebuilds of the unchanged corpus. Ray is shut down after each build, so
every build pays for its own Ray start, as a deployed flow run (a fresh
process) does. The ephemeral API's start is excluded (a warm-up flow).

Prints the three wall times, the ratio no-op / full, what the rebuilds wrote
(must be nothing) and whether the target is met.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.02


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=int, default=8, help="synthetic videos in the corpus")
    ap.add_argument("--frames", type=int, default=96, help="frames per video")
    ap.add_argument("--size", default="180x320", help="video frame size HxW")
    ap.add_argument("--clips", type=int, default=4, help="clips per video")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data root")
    args = ap.parse_args()
    h, w = (int(x) for x in args.size.lower().split("x"))

    home = Path(tempfile.mkdtemp(prefix="fourreal-bench-rebuild-"))
    os.environ["FOURREAL_HOME"] = str(home)
    os.environ["PREFECT_HOME"] = str(home / "prefect")
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")
    os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fourreal.core.env import configure_environment

    configure_environment()

    import ray
    from prefect import flow

    from catalog.store import Catalog
    from flows.build_pseudo4d import Pseudo4DParams, build_pseudo4d
    from synthetic.videos import write_video

    corpus = home / "corpus"
    for k in range(args.videos):
        write_video(corpus / f"v{k:03d}.mp4", args.frames, h, w, seed=k)

    @flow(name="bench-warmup")
    def warmup() -> int:
        return 1

    t = time.perf_counter()
    warmup()
    print(f"(ephemeral Prefect API up in {time.perf_counter() - t:.1f} s, not counted)")

    params = Pseudo4DParams(
        source=str(corpus), preset="small", views=8, times=8, height=72, width=128,
        stride=2, clips_per_video=args.clips, output_dir="pseudo4d", num_cpus=2,
    )  # fmt: skip
    catalog = Catalog()

    def timed_build() -> tuple[float, dict]:
        t0 = time.perf_counter()
        out = build_pseudo4d(params)
        took = time.perf_counter() - t0
        ray.shutdown()  # the next build starts its own Ray, like a fresh flow-run process
        return took, out

    full, out_full = timed_build()
    n_samples = len(catalog.rows("SELECT sample_id FROM samples WHERE status = 'ok'"))
    first, out_first = timed_build()
    noop, out_noop = timed_build()
    n_after = len(catalog.rows("SELECT sample_id FROM samples WHERE status = 'ok'"))

    ratio = noop / full
    print(f"corpus: {args.videos} videos x {args.frames} frames at {h}x{w}; "
          f"{n_samples} grids of 8x8 at 72x128")  # fmt: skip
    print(f"full build:          {full:8.2f} s  (written {out_full['samples_written']})")
    print(f"first rebuild:       {first:8.2f} s  (written {out_first['samples_written']}, "
          f"skipped {out_first['samples_skipped']})")  # fmt: skip
    print(f"no-op rebuild:       {noop:8.2f} s  (written {out_noop['samples_written']}, "
          f"skipped {out_noop['samples_skipped']})")  # fmt: skip
    print(f"ratio no-op / full:  {ratio:8.2%}  (target <= {TARGET:.0%}: "
          f"{'met' if ratio <= TARGET else 'NOT met'})")  # fmt: skip
    ok = n_after == n_samples and out_noop["samples_written"] == 0
    print(f"rebuilds wrote nothing: {ok}")
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
