"""Catalog benchmark on the DuckLake (SQLite metadata), at 1M and 10M sample rows.

For each size, two lakes of the same rows: samples clustered by the columns
queries filter on (the catalog's layout) and, as the baseline, in insertion
order. In each: a typical filtered query of the samples table fresh, after
six 10k-row upserts (half the keys exist, half are new; the replaced rows are
the recent ones in three, drawn from the whole lake in the other three) and
after ``compact``; the upsert next to a raw ``pyarrow.parquet.write_table`` of the
same 10k rows; the query next to DuckDB straight over one Parquet file of the
same rows. Then, on fresh small lakes of both layouts: a query after many
single-row appends, before and after ``compact``; and the throughput of 4
concurrent writer processes. Ratios are measured against baselines of the
same run.

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
import pyarrow.compute as pc
import pyarrow.parquet as pq

from catalog.maintenance import compact
from catalog.schema import SAMPLES
from catalog.store import Catalog

REPO = Path(__file__).resolve().parents[1]
BATCH = 10_000
LOAD_CHUNK = 1_000_000
SOURCES = 20_000
SOURCE_IDS = pa.array([f"src{i:05d}" for i in range(SOURCES)])
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


HEX = np.frombuffer(b"0123456789abcdef", np.uint8)


def hash_ids(idx: np.ndarray) -> pa.Array:
    """64 hex digits per index, scattered like the sha256 ids of real samples (so
    file statistics cannot prune by key), the same for the same index."""
    x = idx.astype(np.uint64)[:, None] + np.arange(4, dtype=np.uint64) * np.uint64(
        0x9E3779B97F4A7C15
    )
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)  # splitmix64's mixer
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    raw = np.ascontiguousarray(x).view(np.uint8).reshape(len(idx), 32)
    text = np.empty((len(idx), 64), np.uint8)
    text[:, 0::2], text[:, 1::2] = HEX[raw >> 4], HEX[raw & 15]
    offsets = pa.py_buffer(np.arange(0, 64 * len(idx) + 1, 64, dtype=np.int32))
    return pa.Array.from_buffers(pa.string(), len(idx), [None, offsets, pa.py_buffer(text)])


def make_rows(n: int, offset: int = 0) -> pa.Table:
    """``n`` sample rows shaped like a build's: every column of ``SAMPLES`` (the
    ones without a generator here are null), so a new column cannot break the bench."""
    return rows_at(np.arange(offset, offset + n))


def rows_at(idx: np.ndarray) -> pa.Table:
    """The rows of ``make_rows`` for these indices (the same row for the same index)."""
    n = len(idx)
    rng = np.random.default_rng(int(idx[0]))
    kinds = np.array(["clip", "grid_pseudo4d", "grid_objaverse"])
    ids = hash_ids(idx)
    values = {
        "sample_id": ids,
        "kind": kinds[rng.integers(0, 3, n)],
        "source_id": SOURCE_IDS.take(idx % SOURCES),
        "recipe": np.full(n, "pseudo4d_affine"),
        "recipe_version": np.full(n, "1"),
        "params_json": np.full(n, '{"seed":0,"zoom":[1.1,1.3]}'),
        "mode": np.full(n, "dynamic"),
        "v": rng.choice([4, 8], n),
        "t": np.full(n, 8),
        "h": np.full(n, 72),
        "w": np.full(n, 128),
        "path": pc.binary_join_element_wise(
            "grids/", pc.cast(pa.array(idx), pa.string()), ".npz", ""
        ),
        "sha256": ids,
        "bytes": rng.integers(100_000, 2_000_000, n),
        "status": np.where(rng.random(n) < 0.97, "ok", "failed"),
        "run_id": np.full(n, "run-0"),
        "created_at": np.full(n, np.datetime64("2026-11-25T00:00:00", "us")),
        "supersedes": np.zeros(n, bool),
    }
    unknown = set(values) - set(SAMPLES.names)
    if unknown:
        raise KeyError(f"bench rows name columns the samples table lacks: {sorted(unknown)}")
    columns = [
        pa.array(values[f.name], f.type) if f.name in values else pa.nulls(n, f.type)
        for f in SAMPLES
    ]
    return pa.Table.from_arrays(columns, schema=SAMPLES)


def timed(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


LAYOUTS = ("insertion order", "clustered")


def new_lake(path: Path, layout: str) -> Catalog:
    """A lake whose samples are clustered (the catalog's default) or, as the
    baseline, kept in insertion order (the sort order the catalog sets, reset)."""
    cat = Catalog(path)
    cat.init()
    if layout == "insertion order":
        cat.connect().execute("ALTER TABLE samples RESET SORTED BY")
    return cat


def samples_files(cur: duckdb.DuckDBPyConnection) -> int:
    """Data plus delete files of the samples table."""
    return cur.execute(
        "SELECT count(*) + count(delete_file) FROM ducklake_list_files('lake', 'samples')"
    ).fetchone()[0]


def query_time(cur: duckdb.DuckDBPyConnection) -> float:
    return timed(lambda: cur.execute(QUERY.format(src="samples")).fetchall(), repeat=5)


def load(rows: int, tmp: Path) -> dict[str, dict]:
    """Both layouts' lakes of ``rows`` samples, built from the same chunks."""
    got = {
        layout: {"catalog": new_lake(tmp / f"lake-{rows}-{layout.replace(' ', '-')}", layout)}
        for layout in LAYOUTS
    }
    for start in range(0, rows, LOAD_CHUNK):
        chunk = make_rows(min(LOAD_CHUNK, rows - start), start)
        for out in got.values():
            t0 = time.perf_counter()
            out["catalog"].append("samples", chunk, keys_are_new=True)
            out["load"] = out.get("load", 0.0) + time.perf_counter() - t0
    return got


def upsert_and_compact(rows: int, out: dict) -> None:
    cat = out["catalog"]
    cur = cat.connect()
    # Flush the load's gigabytes to disk first: their writeback would stall the
    # commits' fsyncs while the upserts are timed.
    os.sync()
    out["query_fresh"] = query_time(cur)
    # 10k-row upserts: half the keys exist (replaced), half are new. Each batch
    # starts half a batch after the last, so it replaces the last one's new half.
    # (Made before the clock starts: making 10k rows takes ~25 ms.)
    batches = iter([make_rows(BATCH, rows - BATCH // 2 + k * (BATCH // 2)) for k in range(3)])
    out["upsert"] = timed(lambda: cat.append("samples", next(batches)))
    # The same, but the replaced half is drawn from the whole lake (a rebuild of
    # sources written long ago, after a compaction): every file holds some.
    rng = np.random.default_rng(rows)
    fresh = np.arange(2 * rows, 2 * rows + 3 * (BATCH // 2)).reshape(3, BATCH // 2)
    old = [rng.choice(rows, BATCH // 2, replace=False) for _ in fresh]
    spread = iter([rows_at(np.concatenate(pair)) for pair in zip(old, fresh, strict=True)])
    out["upsert_spread"] = timed(lambda: cat.append("samples", next(spread)))
    out["query_upserted"] = query_time(cur)
    out["result"] = cur.execute(QUERY.format(src="samples")).fetchall()
    t0 = time.perf_counter()
    report = compact(cat, keep_days=0)
    out["compact"] = time.perf_counter() - t0
    out["query_compacted"] = query_time(cur)
    assert cur.execute(QUERY.format(src="samples")).fetchall() == out["result"]
    out["files"] = (report.files_before, report.files_after)
    out["rewritten"] = report.files_rewritten
    out["samples_files"] = samples_files(cur)


def at_size(rows: int, tmp: Path) -> None:
    got = load(rows, tmp)
    for out in got.values():
        upsert_and_compact(rows, out)
    base, new = got["insertion order"], got["clustered"]
    assert base["result"] == new["result"]
    print(
        f"\n== {rows:,} rows (bulk load {base['load']:.1f} s in insertion order, "
        f"{new['load']:.1f} s clustered)"
    )
    raw_file = tmp / "raw-batch.parquet"
    first = make_rows(BATCH, rows - BATCH // 2)
    raw = timed(lambda: pq.write_table(first, raw_file, compression="zstd"))
    for label, key in (("recent rows", "upsert"), ("spread rows", "upsert_spread")):
        print(
            f"upsert 10k, half replacing {label}: clustered {new[key]:7.3f} s | insertion order "
            f"{base[key]:7.3f} s | raw pyarrow write {raw:7.3f} s | ratio to insertion order "
            f"{new[key] / base[key]:5.2f}x (target: <= 0.5 s at 10M)"
        )
    full_file = tmp / "raw-full.parquet"
    pq.write_table(new["catalog"].read("samples"), full_file, compression="zstd")
    con = duckdb.connect()
    raw_src = QUERY.format(src=f"read_parquet('{full_file}')")
    raw_q = timed(lambda: con.execute(raw_src).fetchall())
    assert con.execute(raw_src).fetchall() == new["result"]
    full_file.unlink()
    print(f"query        duckdb over one unsorted Parquet file {raw_q:7.3f} s")
    for label, key in (
        ("fresh", "query_fresh"),
        ("after upserts", "query_upserted"),
        ("compacted", "query_compacted"),
    ):
        print(
            f"query {label:14s} clustered {new[key]:7.3f} s | insertion order {base[key]:7.3f} s "
            f"| ratio {base[key] / new[key]:5.1f}x faster (target: < 0.2 s at 10M)"
        )
    for layout in LAYOUTS:
        before, after = got[layout]["files"]
        print(
            f"compact      {layout:15s} {got[layout]['compact']:6.1f} s, "
            f"files {before} -> {after} (all tables; samples now {got[layout]['samples_files']}; "
            f"{got[layout]['rewritten']} rewritten for their deletes)"
        )


def small_appends(n: int, tmp: Path) -> None:
    print(f"\n== {n:,} single-row appends to 100,000 rows, then compact")
    for layout in LAYOUTS:
        cat = new_lake(tmp / f"lake-small-{layout.replace(' ', '-')}", layout)
        cat.append("samples", make_rows(100_000), keys_are_new=True)
        cur = cat.connect()
        fresh = query_time(cur)
        t0 = time.perf_counter()
        for i in range(n):
            cat.append("samples", make_rows(1, 10_000_000 + i))
        spent = time.perf_counter() - t0
        files = samples_files(cur)
        before = query_time(cur)
        result = cur.execute(QUERY.format(src="samples")).fetchall()
        t0 = time.perf_counter()
        report = compact(cat, keep_days=0)
        spent_compact = time.perf_counter() - t0
        after = query_time(cur)
        assert cur.execute(QUERY.format(src="samples")).fetchall() == result
        print(
            f"{layout:15s} {spent / n * 1000:4.0f} ms each | query fresh {fresh:6.3f} s, "
            f"before compact {before:6.3f} s, after {after:6.3f} s "
            f"(after/before {after / before:4.2f}x) | compact {spent_compact:.1f} s, "
            f"samples files {files} -> {samples_files(cur)}, all tables "
            f"{report.files_before} -> {report.files_after}"
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
