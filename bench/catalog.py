"""Catalog benchmark: 1,000,000 sample rows.

Prints append time next to a raw ``pyarrow.parquet.write_table`` of the same
table, and a typical filtered query through the catalog views next to the
same query run by DuckDB straight over the Parquet file. Ratios > 1 are the
catalog's overhead. Targets: query < 0.2 s; append overhead < 1.5x.

    .venv/bin/python bench/catalog.py [--rows 1000000]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the ``catalog`` package; drop bench/ from sys.path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from catalog.schema import SAMPLES
from catalog.store import Catalog

QUERY = (
    "SELECT count(*) AS n, avg(h) AS h FROM {src} "
    "WHERE kind = 'grid_pseudo4d' AND status = 'ok' AND v = 8 AND source_id = 'src00042'"
)


def make_rows(n: int, offset: int = 0) -> pa.Table:
    rng = np.random.default_rng(0)
    kinds = np.array(["clip", "grid_pseudo4d", "grid_objaverse"])
    status = np.where(rng.random(n) < 0.97, "ok", "failed")
    ids = [f"{i:064x}" for i in range(offset, offset + n)]
    return pa.table(
        {
            "sample_id": ids,
            "kind": kinds[rng.integers(0, 3, n)],
            "source_id": [f"src{i % 20000:05d}" for i in range(n)],
            "recipe": np.full(n, "pseudo4d_affine"),
            "recipe_version": np.full(n, "1"),
            "params_json": np.full(n, '{"seed":0,"zoom":[1.1,1.3]}'),
            "mode": np.full(n, "dynamic"),
            "v": rng.choice([4, 8], n).astype(np.int32),
            "t": np.full(n, 8, np.int32),
            "h": np.full(n, 72, np.int32),
            "w": np.full(n, 128, np.int32),
            "path": [f"grids/{i % 1000:03d}/{i}.npz" for i in range(n)],
            "sha256": ids,
            "status": status,
            "error": pa.nulls(n, pa.string()),
            "run_id": np.full(n, "run-0"),
            "created_at": pa.array(
                np.full(n, np.datetime64("2026-11-25T00:00:00")), pa.timestamp("us", tz="UTC")
            ),
            "supersedes": pa.nulls(n, pa.bool_()),
        },
        schema=SAMPLES,
    )


def timed(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    rows = make_rows(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cat = Catalog(tmp / "catalog")
        cat.init()
        raw_file = tmp / "raw.parquet"
        raw_write = timed(lambda: pq.write_table(rows, raw_file, compression="zstd"), repeat=3)
        # The catalog already holds rows (earlier builds), so append pays for its
        # check of which keys already exist, as it does in real use.
        existing = cat.append("samples", make_rows(args.rows, offset=args.rows))
        parts = []
        cat_write = timed(lambda: parts.append(cat.append("samples", rows)), repeat=3)
        for extra in parts[1:]:  # keep one copy: both queries see the same rows
            extra.unlink()
        bulk = []
        bulk_write = timed(
            lambda: bulk.append(cat.append("samples", rows, keys_are_new=True)), repeat=3
        )
        for extra in bulk:
            extra.unlink()
        existing.unlink()

        con = duckdb.connect()
        raw_q = timed(
            lambda: con.execute(QUERY.format(src=f"read_parquet('{raw_file}')")).fetchall()
        )
        cat_con = cat.connect()
        cat_q = timed(lambda: cat_con.execute(QUERY.format(src="samples")).fetchall())
        one_shot = timed(lambda: cat.rows(QUERY.format(src="samples")), repeat=3)
        assert (
            cat_con.execute(QUERY.format(src="samples")).fetchall()
            == con.execute(QUERY.format(src=f"read_parquet('{raw_file}')")).fetchall()
        )

    print(f"rows: {args.rows:,}")
    print(
        f"append   catalog {cat_write:7.3f} s | raw pyarrow write {raw_write:7.3f} s "
        f"| ratio {cat_write / raw_write:5.2f}x (target < 1.5x)"
    )
    print(
        f"append   bulk    {bulk_write:7.3f} s | raw pyarrow write {raw_write:7.3f} s "
        f"| ratio {bulk_write / raw_write:5.2f}x (keys_are_new: no existing-key lookup)"
    )
    print(
        f"query    catalog {cat_q:7.3f} s | raw duckdb parquet  {raw_q:7.3f} s "
        f"| ratio {cat_q / raw_q:5.2f}x (target: catalog < 0.2 s)"
    )
    print(f"query incl. connect + views: {one_shot:.3f} s")


if __name__ == "__main__":
    main()
