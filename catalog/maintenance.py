"""``fourreal catalog compact``: merge small files, expire unpinned snapshots, delete garbage.

Small appends are inlined in the metadata database or land as small Parquet
files, and upserts leave delete files; reads slow down as they pile up.
Compaction, in order (each step a DuckLake maintenance call, retried when it
conflicts with a writer):

1. flush inlined rows into Parquet files (sorted: see ``CLUSTER_BY``);
2. rewrite every data file that carries deletes (rows an upsert replaced):
   its live rows move, sorted, to a new file and the old file leaves the
   current snapshot, so no query after compaction reads a delete file or a
   replaced row (DuckLake's merge never takes a file with deletes);
3. merge adjacent small files, sorted by the table's clustering columns, so
   rows appended or upserted since the last compaction join a clustered file;
4. rewrite the write-guard table without its deleted rows: every keyed commit
   updates it, so each flush would otherwise leave it one more data file and
   one more delete file, which no merge ever takes;
5. expire snapshots older than the retention window, except those a dataset
   pins (and the current one): time travel to a pinned snapshot keeps working;
6. delete files no remaining snapshot needs, and orphans left by killed
   writers (only old ones: a live writer's files are not committed yet).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import asdict, dataclass

import duckdb

from catalog import retry
from catalog.lake import LAKE, METADATA
from catalog.schema import WRITE_GUARD_TABLE
from catalog.store import Catalog, rollback, utcnow

DEFAULT_KEEP_DAYS = 7.0
ORPHAN_AGE = dt.timedelta(hours=1)
PINNED = "SELECT DISTINCT snapshot_id FROM datasets WHERE snapshot_id IS NOT NULL"


@dataclass
class CompactReport:
    files_before: int
    files_after: int
    snapshots_before: int
    snapshots_after: int
    expired: list[int]
    pinned: list[int]
    files_rewritten: int  # data files rewritten because they carried deletes

    def as_dict(self) -> dict:
        return asdict(self)


def data_file_count(cur: duckdb.DuckDBPyConnection) -> int:
    """Live data files plus delete files over every table of the lake."""
    tables = [
        r[0]
        for r in cur.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [LAKE]
        ).fetchall()
    ]
    total = 0
    for table in tables:
        total += cur.execute(
            f"SELECT count(*) + count(delete_file) FROM ducklake_list_files('{LAKE}', ?)",
            [table],
        ).fetchone()[0]
    return total


def _call(cur: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> None:
    retry.with_backoff(lambda: cur.execute(sql, params).fetchall(), what="catalog compact")


def files_with_deletes(cur: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[int, int]]]:
    """Per table, the row-id range [first, last] of each live data file that has a
    live delete file (the write guard's are left to its own rewrite)."""
    rows = cur.execute(
        f"SELECT t.table_name, f.row_id_start, f.row_id_start + f.record_count - 1 "
        f"FROM {METADATA}.ducklake_data_file f JOIN {METADATA}.ducklake_table t USING (table_id) "
        "WHERE t.end_snapshot IS NULL AND f.end_snapshot IS NULL AND t.table_name <> ? "
        f"AND EXISTS (SELECT 1 FROM {METADATA}.ducklake_delete_file d "
        "WHERE d.data_file_id = f.data_file_id AND d.end_snapshot IS NULL) "
        "ORDER BY t.table_name, f.row_id_start",
        [WRITE_GUARD_TABLE],
    ).fetchall()
    out: dict[str, list[tuple[int, int]]] = {}
    for table, first, last in rows:
        out.setdefault(table, []).append((first, last))
    return out


def move_file_rows(cur: duckdb.DuckDBPyConnection, table: str, first: int, last: int) -> None:
    """Inside an open transaction: move the live rows of one data file (row ids
    ``first..last``) to a new, sorted file.

    A plain DELETE + INSERT, not ``ducklake_rewrite_data_files`` (whose output,
    with DuckLake 1.5.5, breaks time travel once snapshots expire): a file whose
    rows are all deleted leaves the snapshot, and snapshots that still need it
    (pinned ones) keep it until they expire. An upsert that replaces one of
    these rows and commits first deletes from the same file, so DuckLake fails
    this commit as a conflict (and compaction retries) instead of bringing the
    moved copy of the replaced row back.
    """
    in_file = f"rowid BETWEEN {first} AND {last}"
    cur.execute(
        f'CREATE OR REPLACE TEMP TABLE _fourreal_moved AS SELECT * FROM "{table}" WHERE {in_file}'
    )
    cur.execute(f'DELETE FROM "{table}" WHERE {in_file}')
    cur.execute(f'INSERT INTO "{table}" SELECT * FROM temp._fourreal_moved')
    cur.execute("DROP TABLE temp._fourreal_moved")


def _rewrite_file(cur: duckdb.DuckDBPyConnection, table: str, first: int, last: int) -> None:
    """``move_file_rows`` as one transaction: readers see the same rows before and after."""
    cur.execute("BEGIN")
    try:
        move_file_rows(cur, table, first, last)
        cur.execute("COMMIT")
    except BaseException:
        rollback(cur)
        raise


def rewrite_files_with_deletes(cur: duckdb.DuckDBPyConnection) -> int:
    """Rewrite every data file that carries deletes; the number of files rewritten."""
    done = 0
    for table, ranges in files_with_deletes(cur).items():
        for first, last in ranges:
            retry.with_backoff(
                functools.partial(_rewrite_file, cur, table, first, last), what="catalog compact"
            )
            done += 1
    return done


def expirable(catalog: Catalog, keep: dt.timedelta) -> tuple[list[int], list[int]]:
    """(snapshots to expire, snapshots pinned by datasets)."""
    pinned = sorted(r["snapshot_id"] for r in catalog.rows(PINNED))
    current = catalog.snapshot_id()
    cutoff = utcnow() - keep
    rows = catalog.rows(
        f"SELECT snapshot_id FROM ducklake_snapshots('{LAKE}') WHERE snapshot_time < ? "
        "ORDER BY snapshot_id",
        [cutoff],
    )
    keep_ids = set(pinned) | {current}
    return [r["snapshot_id"] for r in rows if r["snapshot_id"] not in keep_ids], pinned


def compact(catalog: Catalog, keep_days: float = DEFAULT_KEEP_DAYS) -> CompactReport:
    if keep_days < 0:
        raise ValueError(f"keep_days: {keep_days} must be >= 0")
    cur = catalog.connect()
    try:
        files_before = data_file_count(cur)
        snapshots_before = catalog.snapshots().num_rows
        _call(cur, f"CALL ducklake_flush_inlined_data('{LAKE}')")
        rewritten = rewrite_files_with_deletes(cur)
        _call(cur, f"CALL ducklake_merge_adjacent_files('{LAKE}')")
        # Safe here although rewrite_data_files is not for the data tables: nothing
        # reads the guard table as of an earlier snapshot.
        _call(
            cur,
            f"CALL ducklake_rewrite_data_files('{LAKE}', '{WRITE_GUARD_TABLE}', delete_threshold => 0)",
        )
        expired, pinned = expirable(catalog, dt.timedelta(days=keep_days))
        if expired:
            _call(cur, f"CALL ducklake_expire_snapshots('{LAKE}', versions => ?)", [expired])
        _call(cur, f"CALL ducklake_cleanup_old_files('{LAKE}', cleanup_all => true)")
        _call(
            cur,
            f"CALL ducklake_delete_orphaned_files('{LAKE}', older_than => ?)",
            [utcnow() - ORPHAN_AGE],
        )
        return CompactReport(
            files_before=files_before,
            files_after=data_file_count(cur),
            snapshots_before=snapshots_before,
            snapshots_after=catalog.snapshots().num_rows,
            expired=expired,
            pinned=pinned,
            files_rewritten=rewritten,
        )
    finally:
        cur.close()
