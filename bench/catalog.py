"""Catalog benchmark on the DuckLake (SQLite metadata), at 1M and 10M sample rows.

For each size: a 10k-row upsert into a lake of that size (half the keys
exist, half are new) next to a raw ``pyarrow.parquet.write_table`` of the same
10k rows; a typical filtered query of the samples table next to the same
query by DuckDB straight over one Parquet file of the same rows. Then, on a
fresh lake: a query after many single-row appends, before and after
``compact``; and the throughput of 4 concurrent writer processes. Ratios are
measured against baselines of the same run.

    python -m bench.catalog [--rows 1000000,10000000] [--small-appends 10000]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the ``catalog`` package; drop bench/ from sys.path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import os
import statistics
import subprocess
import tempfile
import time

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from catalog.maintenance import compact
from catalog.schema import SAMPLES
from catalog.store import Catalog

REPO = Path(__file__).resolve().parents[1]
BATCH = 10_000
LOAD_CHUNK = 1_000_000
QUERY = (
    "SELECT count(*) AS n, avg(h) AS h FROM {src} "
    "WHERE kind = 'grid_pseudo4d' AND status = 'ok' AND v = 8 AND source_id = 'src00042'"
)
WRITER = """
import sys, time
from catalog.store import Catalog
cat = Catalog(sys.argv[1]); cat.snapshot_id()
print("ready", flush=True); sys.stdin.readline()
for i in range(int(sys.argv[3])):
    cat.append("samples", [dict(sample_id=f"w{sys.argv[2]}-{i}", kind="clip", status="ok")])
print("done", flush=True)
"""


def make_rows(n: int, offset: int = 0) -> pa.Table:
    rng = np.random.default_rng(offset)
    kinds = np.array(["clip", "grid_pseudo4d", "grid_objaverse"])
    idx = np.arange(offset, offset + n)
    ids = pa.array(np.char.mod("%064x", idx))
    return pa.table(
        {
            "sample_id": ids,
            "kind": kinds[rng.integers(0, 3, n)],
            "source_id": pa.array(np.char.mod("src%05d", idx % 20000)),
            "recipe": np.full(n, "pseudo4d_affine"),
            "recipe_version": np.full(n, "1"),
            "params_json": np.full(n, '{"seed":0,"zoom":[1.1,1.3]}'),
            "mode": np.full(n, "dynamic"),
            "v": rng.choice([4, 8], n).astype(np.int32),
            "t": np.full(n, 8, np.int32),
            "h": np.full(n, 72, np.int32),
            "w": np.full(n, 128, np.int32),
            "path": pa.array(np.char.mod("grids/%d.npz", idx)),
            "sha256": ids,
            "status": np.where(rng.random(n) < 0.97, "ok", "failed"),
            "error": pa.nulls(n, pa.string()),
            "run_id": np.full(n, "run-0"),
            "created_at": pa.array(
                np.full(n, np.datetime64("2026-11-25T00:00:00")), pa.timestamp("us", tz="UTC")
            ),
            "supersedes": np.zeros(n, bool),
        },
        schema=SAMPLES,
    )


def timed(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def at_size(rows: int, tmp: Path) -> None:
    cat = Catalog(tmp / f"lake-{rows}")
    t0 = time.perf_counter()
    for start in range(0, rows, LOAD_CHUNK):
        cat.append("samples", make_rows(min(LOAD_CHUNK, rows - start), start), keys_are_new=True)
    load = time.perf_counter() - t0
    print(f"\n== {rows:,} rows (bulk load {load:.1f} s)")

    # 10k-row upsert: half the keys exist (replaced), half are new.
    batches = [make_rows(BATCH, rows - BATCH // 2 + k * BATCH) for k in range(3)]
    raw_file = tmp / "raw-batch.parquet"
    raw = timed(lambda: pq.write_table(batches[0], raw_file, compression="zstd"))
    it = iter(batches)
    upsert = timed(lambda: cat.append("samples", next(it)))
    print(
        f"upsert 10k   catalog {upsert:7.3f} s | raw pyarrow write {raw:7.3f} s "
        f"| ratio {upsert / raw:6.1f}x (target: upsert <= 0.5 s at 10M)"
    )

    full_file = tmp / "raw-full.parquet"
    pq.write_table(cat.read("samples"), full_file, compression="zstd")
    con = duckdb.connect()
    raw_q = timed(lambda: con.execute(QUERY.format(src=f"read_parquet('{full_file}')")).fetchall())
    cur = cat.connect()
    cat_q = timed(lambda: cur.execute(QUERY.format(src="samples")).fetchall(), repeat=5)
    assert (
        cur.execute(QUERY.format(src="samples")).fetchall()
        == con.execute(QUERY.format(src=f"read_parquet('{full_file}')")).fetchall()
    )
    print(
        f"query        catalog {cat_q:7.3f} s | duckdb on parquet {raw_q:7.3f} s "
        f"| ratio {cat_q / raw_q:6.1f}x (target: catalog < 0.2 s at 10M)"
    )
    full_file.unlink()


def small_appends(n: int, tmp: Path) -> None:
    cat = Catalog(tmp / "lake-small")
    cat.append("samples", make_rows(100_000), keys_are_new=True)
    t0 = time.perf_counter()
    for i in range(n):
        cat.append("samples", make_rows(1, 10_000_000 + i))
    spent = time.perf_counter() - t0
    cur = cat.connect()
    query = QUERY.format(src="samples")
    before = timed(lambda: cur.execute(query).fetchall(), repeat=5)
    result = cur.execute(query).fetchall()
    t0 = time.perf_counter()
    report = compact(cat, keep_days=0)
    spent_compact = time.perf_counter() - t0
    after = timed(lambda: cur.execute(query).fetchall(), repeat=5)
    assert cur.execute(query).fetchall() == result
    print(f"\n== {n:,} single-row appends ({spent / n * 1000:.0f} ms each)")
    print(
        f"query        before compact {before:7.3f} s | after {after:7.3f} s "
        f"| ratio {before / after:6.2f}x (target < 2x); compact {spent_compact:.1f} s, "
        f"files {report.files_before} -> {report.files_after}"
    )


def concurrent_writers(writers: int, appends: int, tmp: Path) -> None:
    cat = Catalog(tmp / "lake-concurrent")
    cat.init()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-c", WRITER, str(cat.dir)]

    def run(k: int) -> float:
        procs = [
            subprocess.Popen(
                [*cmd, str(w + 100 * k), str(appends)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for w in range(k)
        ]
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        t0 = time.perf_counter()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            p.communicate()
            assert p.returncode == 0
        return time.perf_counter() - t0

    one = run(1)
    many = run(writers)
    print(f"\n== concurrent writers ({appends} single-row upserts each)")
    print(
        f"1 writer  {appends / one:6.1f} commits/s | {writers} writers {writers * appends / many:6.1f} "
        f"commits/s | ratio {(writers * appends / many) / (appends / one):5.2f}x"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="1000000,10000000", help="comma-separated lake sizes")
    ap.add_argument("--small-appends", type=int, default=10_000)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--writer-appends", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for rows in (int(r) for r in args.rows.split(",") if r.strip()):
            at_size(rows, tmp)
        if args.small_appends:
            small_appends(args.small_appends, tmp)
        if args.writer_appends:
            concurrent_writers(args.writers, args.writer_appends, tmp)


if __name__ == "__main__":
    main()
