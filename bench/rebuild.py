"""No-op rebuild over 10,000 recorded samples (target: <= 3 s, no Ray started, nothing decoded).

    .venv/bin/python -m bench.rebuild                      # 10,000 objects, local data root
    .venv/bin/python -m bench.rebuild --s3                 # data root on a SeaweedFS bucket
    .venv/bin/python -m bench.rebuild --objects 2000 --profile 25

What it builds, honestly but cheaply. The object builder is used: its sample
ids come from the source's bytes and the render spec alone, so a rebuild can
skip without opening a source, and a procedural GLB (``synthetic/objects.py``)
costs ~3 ms to write, against a probe and a full decode per video for the
video builders (whose ids depend on the decoded frames' shots). Then:

1. ``--objects`` procedural GLBs are written to a corpus folder (distinct bytes:
   one random generator runs across all of them).
2. A real build (``fourreal build objects``: Prefect flow, Ray actors, the
   renderer, ``StreamRecorder``) renders the first ``--rendered`` of them.
3. The rest are recorded without rendering: ``plan_jobs`` gives their sample
   ids and paths, ``core.sample_store.write_rendered`` writes a real (tiny,
   blank) sample file at each path, and the rows come from the build's own row
   builders (``tasks.objects.build.result_rows``) under a ``runs`` row, appended
   in one catalog transaction (the recorder's batches of 16 would only add
   commits to the setup).

The rebuild is then timed as a user runs it: ``fourreal build objects CORPUS
--json`` in this process (typer's runner, so the option parsing, the data root
check and the flow itself), after Ray was shut down and with the Prefect
ephemeral API already up (its start is printed apart). Twice: the first
rebuild hashes every source (the source-hash cache is cold); the second finds
every hash in the cache. Checked after each: the JSON line says 0 made and
N skipped, no sample file or catalog row appeared, Ray is not initialised.

Baselines printed in the same run: the real build's cost per object scaled to
the corpus (what a rebuild that skipped nothing would cost), the cold rebuild,
and what re-hashing every source costs against the cache. Before the changes
that came with this benchmark, the same no-op rebuild of 10,000 samples took
6.2 s at best in a warm process against 2.1 s after (same data root, runs
alternated, 2 cores, load average 2.7-4.9): Prefect walked the 10,000 sources
in every task's arguments, discovery resolved every path four times, planning
built a spec per object and checked every sample file on its own (on S3, a
HEAD request each).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TARGET_S = 3.0
SIZE = ["--views", "2", "--times", "2", "--height", "32", "--width", "32", "--min-motion", "0"]


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objects", type=int, default=10_000, help="recorded samples (sources)")
    ap.add_argument("--rendered", type=int, default=8, help="of them really rendered")
    ap.add_argument("--s3", action="store_true", help="data root on a local SeaweedFS bucket")
    ap.add_argument("--profile", type=int, default=0, help="print the top N of a cProfile")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = ap.parse_args()
    if not 1 <= args.rendered < args.objects:
        ap.error("--rendered: must be at least 1 and below --objects")
    return args


def set_environment(home: Path, s3_env: dict | None) -> None:
    """A fresh data root (local folder or bucket prefix) and Prefect home, before imports."""
    os.environ["PREFECT_HOME"] = str(home / "prefect")
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")
    os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    if s3_env is None:
        os.environ["FOURREAL_HOME"] = str(home)
    else:
        os.environ.update(s3_env)
        os.environ["FOURREAL_HOME"] = "s3://fourreal/bench-rebuild"
        os.environ["FOURREAL_LOCAL"] = str(home)  # catalog, Prefect, caches stay local


def write_corpus(corpus: Path, n: int, rendered: int) -> tuple[Path, Path]:
    from synthetic.objects import write_demo_objects

    built, recorded = corpus / "rendered", corpus / "recorded"
    write_demo_objects(built, count=rendered, seed=0)
    write_demo_objects(recorded, count=n - rendered, seed=1)
    return built, recorded


def cli(*argv: str) -> dict:
    """``fourreal ARGV`` in this process; the ``--json`` line it printed."""
    from typer.testing import CliRunner

    from fourreal.cli import app

    res = CliRunner().invoke(app, list(argv))
    if res.exit_code != 0:
        raise SystemExit(
            f"fourreal {' '.join(argv)} failed ({res.exit_code}): {res.output[-2000:]}"
        )
    return json.loads(res.stdout.strip().splitlines()[-1])


def record_without_rendering(folder: Path) -> int:
    """Catalog rows and real sample files for every object of ``folder`` (see the docstring)."""
    import numpy as np

    from catalog.runs import start_run
    from catalog.store import Catalog
    from core import sample_store
    from flows.build_objaverse import FLOW_NAME, BuildObjaverseParams
    from tasks.objects.build import OK, discover_sources, hash_sources, plan_jobs, result_rows

    # the options of SIZE: the same spec, so the same sample ids as the real build
    params = BuildObjaverseParams(
        source=str(folder), views=2, times=2, height=32, width=32, min_motion=0.0
    )
    cfg = params.build_config()
    catalog = Catalog()
    items = hash_sources(discover_sources(str(folder)))
    jobs, _ = plan_jobs(items, cfg, catalog)
    run = start_run(catalog, FLOW_NAME, params.model_dump(mode="json"), None)
    v, t, h, w = 2, 2, 32, 32
    blank = np.zeros((v, t, h, w, 3), np.uint8)
    cams = np.repeat(np.eye(4)[None], v, 0)
    intr = np.repeat(np.eye(3)[None], v, 0)

    def write(job: dict) -> dict:
        stored = sample_store.write_rendered(
            job["out"], rgb=blank, alpha=blank[..., 0], depth=blank[..., 0].astype(np.float32),
            K=intr, w2c=cams, times=np.zeros(t), sample_id=job["sample_id"],
        )  # fmt: skip
        return {"key": job["key"], "status": OK, "out": job["out"], "sha256": stored.sha256,
                "bytes": stored.bytes, "error": None, "meta": {}}  # fmt: skip

    with ThreadPoolExecutor(8) as pool:  # encoding and fsync release the GIL
        results = list(pool.map(write, jobs))
    rows_of = result_rows(items, jobs, cfg, run.run_id)
    tables: dict[str, list[dict]] = {"sources": [], "samples": []}
    for res in results:
        for table, rows in rows_of(res).items():
            tables[table] += rows
    with catalog.transaction():
        for table in ("sources", "samples"):
            catalog.append(table, tables[table])
    run.finish("completed")
    return len(jobs)


def store_state() -> tuple[int, int, int]:
    """(sample files, samples rows, sources rows): what a no-op rebuild must not change."""
    from catalog.store import Catalog
    from core import fs

    files = len(fs.listing("grids"))
    catalog = Catalog()
    n_samples = catalog.rows("SELECT count(*) AS n FROM samples")[0]["n"]
    n_sources = catalog.rows("SELECT count(*) AS n FROM sources")[0]["n"]
    return files, n_samples, n_sources


def forget_source_hashes() -> None:
    from core.hashcache import cache_path

    for suffix in ("", "-wal", "-shm"):  # SQLite's write-ahead log and its index
        Path(f"{cache_path()}{suffix}").unlink(missing_ok=True)


def hashing_costs(corpus: Path) -> tuple[float, float, float]:
    """(seconds to sha256 every source, seconds to look them all up in the cache, MB)."""
    from core.hashcache import sha256_files
    from core.io import sha256_file
    from renderers.sources import local_sources

    files = local_sources(corpus)
    t = time.perf_counter()
    for f in files:
        sha256_file(f)
    rehash = time.perf_counter() - t
    t = time.perf_counter()
    sha256_files(files)
    lookup = time.perf_counter() - t
    return rehash, lookup, sum(f.stat().st_size for f in files) / 1e6


def timed_rebuild(corpus: Path, profile: int) -> tuple[float, dict]:
    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    line = cli("build", "objects", str(corpus), *SIZE, "--json")
    if prof:
        prof.disable()
    took = time.perf_counter() - t0
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(profile)
    return took, line


def run(args: argparse.Namespace, home: Path, corpus: Path) -> bool:
    import ray
    from prefect import flow

    from core import fs

    t = time.perf_counter()
    built, recorded = write_corpus(corpus, args.objects, args.rendered)
    print(f"corpus: {args.objects} GLBs written in {time.perf_counter() - t:.1f} s")

    @flow(name="bench-warmup")
    def warmup() -> int:
        return 1

    t = time.perf_counter()
    warmup()
    print(f"(ephemeral Prefect API up in {time.perf_counter() - t:.1f} s, not counted)")

    t = time.perf_counter()
    full = cli("build", "objects", str(built), *SIZE, "--workers", "2", "--json")
    render_s = time.perf_counter() - t
    ray.shutdown()  # the rebuild runs as a fresh `fourreal build` would: no Ray up
    if full["ok"] != args.rendered:
        raise SystemExit(f"the real build made {full['ok']} of {args.rendered}: {full}")
    t = time.perf_counter()
    n_recorded = record_without_rendering(recorded)
    print(f"real build of {args.rendered} objects: {render_s:.1f} s (Ray start included); "
          f"{n_recorded} more recorded in {time.perf_counter() - t:.1f} s")  # fmt: skip

    before = store_state()
    n = before[1]
    print(f"recorded: {n} samples, data root {fs.home().uri}")
    ok = True
    times = {}
    for label in ("cold", "warm"):
        if label == "cold":  # the setup hashed every source: forget that
            forget_source_hashes()
        took, line = timed_rebuild(corpus, args.profile if label == "warm" else 0)
        times[label] = took
        after = store_state()
        clean = line["ok"] == 0 and line["failed"] == 0 and line["skipped"] == n and after == before
        ok &= clean and not ray.is_initialized()
        print(f"no-op rebuild ({label} source-hash cache): {took:6.2f} s   "
              f"made {line['ok']}, skipped {line['skipped']}, nothing written: {after == before}, "
              f"Ray started: {ray.is_initialized()}")  # fmt: skip
    rehash_s, lookup_s, mb = hashing_costs(corpus)
    print(f"sources: {mb:.0f} MB; re-hashing them all {rehash_s:.2f} s, cached look-up "
          f"{lookup_s:.2f} s (the cache pays off with real, larger sources)")  # fmt: skip
    estimate = render_s / args.rendered * n
    warm = times["warm"]
    print(f"baseline: a build that skipped nothing ~{estimate:.0f} s "
          f"({render_s / args.rendered:.2f} s/object x {n}); warm / that = {warm / estimate:.3%}; "
          f"warm / cold = {warm / times['cold']:.2f}")  # fmt: skip
    print(f"per recorded sample: {warm / n * 1e6:.0f} us")
    print(f"target <= {TARGET_S:.0f} s for {n} samples: "
          f"{'met' if warm <= TARGET_S else 'NOT met'} ({warm:.2f} s, "
          f"load average {os.getloadavg()[0]:.2f})")  # fmt: skip
    return ok


def main() -> int:
    args = parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    home = Path(tempfile.mkdtemp(prefix="fourreal-bench-rebuild-"))
    server = proc = None
    if args.s3:
        from tests.servers import start_seaweedfs

        server, proc = start_seaweedfs(home / "seaweedfs")
    try:
        set_environment(home, server.env() if server else None)
        from core.env import configure_environment

        configure_environment()
        ok = run(args, home, home / "corpus")
    finally:
        if proc is not None:
            from tests.servers import stop

            stop(proc)  # by its pid
        if args.keep:
            print(f"kept: {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    print(f"checks (0 made, all skipped, nothing written, no Ray): {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
