"""The catalog: a DuckLake (Parquet data files + a SQLite or PostgreSQL metadata database).

Every write is a DuckLake transaction. Keyed tables hold the latest row per
key (a write of an existing key replaces it, ``supersedes`` marks the new
row; large tables find the replaced rows by a fixed-width key digest, see
``catalog.schema.DIGESTED``); older rows stay reachable by time travel to
earlier snapshots.
``with catalog.transaction():`` groups several appends into one commit.
Commits that conflict with another writer are retried with backoff.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from catalog import retry
from catalog.extensions import BY_PATH, SCANNER, extension_directory, installed_file
from catalog.lake import LAKE, METADATA, CatalogError, CatalogUnavailable, first_line, open_lake
from catalog.location import LakeLocation, resolve
from catalog.schema import (
    CLUSTER_BY,
    DIGEST_COLUMNS,
    DIGESTED,
    KEY_PREFIX,
    KEY_SUFFIX,
    LEGACY_DIGEST,
    PRIMARY_KEYS,
    TABLES,
    WRITE_GUARD,
    WRITE_GUARD_TABLE,
    key_digest_columns,
    key_digest_sql,
    key_half_sql,
)
from core.io import atomic_write_text
from core.paths import catalog_dir

ATTACH_SCRIPT = "attach.sql"
# DuckLake's default data-inlining limit: inserts of up to this many rows (small
# upserts included) are stored in the metadata database until compaction flushes
# them to Parquet.
INLINE_ROWS = 10

__all__ = ["Catalog", "CatalogError", "CatalogUnavailable", "utcnow"]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Write:
    table: str
    data: pa.Table
    keyed: bool


@dataclass
class Transaction:
    """Writes buffered by ``Catalog.transaction``; ``snapshot_id`` once committed."""

    writes: list[Write] = field(default_factory=list)
    snapshot_id: int | None = None


class _Instance:
    """One DuckDB instance per process and lake; one cursor per thread."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con, self.pid, self.local = con, os.getpid(), threading.local()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self.local, "cur", None)
        if cur is None:
            cur = self.con.cursor()
            cur.execute(f"USE {LAKE}")
            cur.execute("SET TimeZone = 'UTC'")
            self.local.cur = cur
        return cur


_INSTANCES: dict[tuple, _Instance] = {}
_INSTANCES_LOCK = threading.Lock()


class Catalog:
    """Handle on one catalog. Cheap to create; connections are shared per process."""

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        *,
        metadata: str | None = None,
        data_path: str | None = None,
        snapshot: int | None = None,
    ):
        self.dir = (Path(root) if root is not None else catalog_dir()).resolve()
        self.location: LakeLocation = resolve(self.dir, metadata, data_path)
        self.snapshot = None if snapshot is None else int(snapshot)
        self._tx = threading.local()

    def __getstate__(self) -> dict:  # picklable for Ray tasks: drop thread state
        return {k: v for k, v in self.__dict__.items() if k != "_tx"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._tx = threading.local()

    def __repr__(self) -> str:
        at = f" @ snapshot {self.snapshot}" if self.snapshot is not None else ""
        return f"Catalog({self.location.metadata_setting}{at})"

    # ---- connections ---------------------------------------------------
    def _cursor(self) -> duckdb.DuckDBPyConnection:
        key = (self.location, self.snapshot)
        with _INSTANCES_LOCK:
            inst = _INSTANCES.get(key)
            if inst is None or inst.pid != os.getpid():
                read_only = self.snapshot is not None
                con = retry.with_backoff(
                    lambda: open_lake(self.location, read_only=read_only, snapshot=self.snapshot),
                    what="catalog open",
                )
                inst = _Instance(con)
                if not read_only:
                    _ensure_tables(inst.cursor())
                _INSTANCES[key] = inst
        return inst.cursor()

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A new DuckDB cursor on the lake (``USE lake`` done) for trusted callers."""
        cur = self._cursor().cursor()
        cur.execute(f"USE {LAKE}")
        cur.execute("SET TimeZone = 'UTC'")
        return cur

    def as_of(self, snapshot: int) -> Catalog:
        """A read-only view of the lake as it was at ``snapshot`` (time travel)."""
        return Catalog(
            self.dir,
            metadata=self.location.metadata,
            data_path=self.location.data_path,
            snapshot=snapshot,
        )

    def init(self) -> None:
        """Create the lake and its tables (safe to repeat; adds new columns)."""
        if self.snapshot is not None:
            raise CatalogError("a time-travel view of the catalog is read-only")
        self._cursor()
        if self.location.kind == "sqlite":
            self.write_attach_script()

    # ---- writing --------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Group appends into one commit: all of them or none.

        Appends inside the block are validated at once and written on exit.
        Reads inside the block see the lake as committed, not the pending rows.
        A nested block joins the outer one.
        """
        outer = getattr(self._tx, "current", None)
        if outer is not None:
            yield outer
            return
        tx = self._tx.current = Transaction()
        try:
            yield tx
        finally:
            self._tx.current = None
        if tx.writes:
            tx.snapshot_id = self._commit(tx.writes)

    def append(
        self,
        table: str,
        rows: Iterable[Mapping[str, Any]] | pa.Table,
        *,
        keys_are_new: bool = False,
    ) -> int | None:
        """Write rows; on keyed tables a row replaces the one with its key.

        Missing columns become null; ``created_at`` defaults to now. Rows are
        validated against the declared schema before anything is written.
        ``keys_are_new`` skips the key lookup (bulk loads of fresh keys).
        Returns the committed snapshot id, or None inside ``transaction()``.
        """
        if self.snapshot is not None:
            raise CatalogError("a time-travel view of the catalog is read-only")
        data = _validated(table, rows)
        keyed = table in PRIMARY_KEYS and not keys_are_new
        write = Write(table, _with_key_digest(table, data), keyed)
        tx = getattr(self._tx, "current", None)
        if tx is not None:
            tx.writes.append(write)
            return None
        return self._commit([write])

    def upsert(self, table: str, rows: Iterable[Mapping[str, Any]] | pa.Table) -> int | None:
        """``append`` on a keyed table, by its explicit name."""
        if table not in PRIMARY_KEYS:
            raise CatalogError(f"{table}: not a keyed table; keyed: {sorted(PRIMARY_KEYS)}")
        return self.append(table, rows)

    def _commit(self, writes: list[Write]) -> int:
        cur = self._cursor()
        try:
            return retry.with_backoff(lambda: _commit_once(cur, writes), what="catalog commit")
        except (duckdb.IOException, duckdb.HTTPException) as e:
            raise self._data_unreachable(e) from None

    def _data_unreachable(self, error: duckdb.Error) -> CatalogUnavailable:
        where = self.location.data_setting
        if self.location.uses_object_store:
            where += f", AWS_ENDPOINT_URL={os.environ.get('AWS_ENDPOINT_URL', '(unset)')}"
        return CatalogUnavailable(f"catalog data unreachable ({where}): {first_line(error)}")

    # ---- reading --------------------------------------------------------
    def sql(self, query: str, params: list | dict | None = None) -> pa.Table:
        """Run trusted SQL (our own constants with bound parameters)."""
        try:
            return self._cursor().sql(query, params=params or None).to_arrow_table()
        except (duckdb.IOException, duckdb.HTTPException) as e:
            raise self._data_unreachable(e) from None

    def rows(self, query: str, params: list | dict | None = None) -> list[dict]:
        return self.sql(query, params).to_pylist()

    def read(self, table: str) -> pa.Table:
        schema = _schema(table)
        return self.sql(f'SELECT * FROM "{table}"').select(schema.names).cast(schema)

    def snapshot_id(self) -> int:
        """The lake's current snapshot (or the pinned one of a time-travel view)."""
        if self.snapshot is not None:
            return self.snapshot
        return (
            self._cursor()
            .execute(f"SELECT id FROM ducklake_current_snapshot('{LAKE}')")
            .fetchone()[0]
        )

    def snapshots(self) -> pa.Table:
        return self.sql(
            f"SELECT snapshot_id, snapshot_time, changes FROM ducklake_snapshots('{LAKE}') "
            "ORDER BY snapshot_id"
        )

    # ---- for people -----------------------------------------------------
    def attach_sql(self, read_only: bool = True) -> str:
        """SQL that attaches this lake in a plain DuckDB 1.5.5 shell or Python."""
        ducklake = str(installed_file(*BY_PATH["ducklake"])).replace("'", "''")
        target = self.location.attach_target.replace("'", "''")
        lines = [
            "-- The fourreal catalog (DuckLake). Online, `INSTALL ducklake` can replace the LOADs.",
            f"LOAD '{ducklake}';",
            f"SET extension_directory = '{extension_directory()}';",
            f"LOAD {SCANNER[self.location.kind]};",
        ]
        if self.location.uses_object_store:
            httpfs = str(installed_file(*BY_PATH["httpfs"])).replace("'", "''")
            lines += [
                f"LOAD '{httpfs}';",
                "-- CREATE SECRET (TYPE s3, KEY_ID '...', SECRET '...', ENDPOINT '...', ...);",
            ]
        lines += [f"ATTACH '{target}' AS {LAKE}{' (READ_ONLY)' if read_only else ''};"]
        return "\n".join([*lines, f"USE {LAKE};", ""])

    def write_attach_script(self) -> Path:
        """``<catalog>/attach.sql``: ``duckdb -init`` it to query the lake by hand."""
        path = self.dir / ATTACH_SCRIPT
        atomic_write_text(path, self.attach_sql())
        return path


# ---- validation -------------------------------------------------------------
def _schema(table: str) -> pa.Schema:
    try:
        return TABLES[table]
    except KeyError:
        raise ValueError(f"unknown catalog table {table!r}; known: {sorted(TABLES)}") from None


def _validated(table: str, rows: Iterable[Mapping[str, Any]] | pa.Table) -> pa.Table:
    schema = _schema(table)
    if isinstance(rows, pa.Table):
        missing = [n for n in schema.names if n not in rows.column_names]
        for name in missing:
            rows = rows.append_column(name, pa.nulls(rows.num_rows, schema.field(name).type))
        data = rows.select(schema.names).cast(schema)
        if "created_at" in schema.names and data.column("created_at").null_count:
            now = pa.scalar(utcnow(), schema.field("created_at").type)
            filled = pc.fill_null(data.column("created_at"), now)
            data = data.set_column(schema.get_field_index("created_at"), "created_at", filled)
    else:
        now = utcnow()
        filled = []
        for row in rows:
            unknown = set(row) - set(schema.names)
            if unknown:
                raise ValueError(f"{table}: unknown columns {sorted(unknown)}")
            full = {name: row.get(name) for name in schema.names}
            if "created_at" in full and full["created_at"] is None:
                full["created_at"] = now
            filled.append(full)
        data = pa.Table.from_pylist(filled, schema=schema)
    if data.num_rows == 0:
        raise ValueError(f"{table}: nothing to append")
    if (key := PRIMARY_KEYS.get(table)) is not None:
        keys = data.column(key)
        if keys.null_count:
            raise ValueError(f"{table}: {key} is null in {keys.null_count} rows")
        if pc.count_distinct(keys).as_py() != data.num_rows:
            raise ValueError(f"{table}: duplicate {key} values in one append")
    return data


def _with_key_digest(table: str, data: pa.Table) -> pa.Table:
    """The rows plus their key digest's columns, on tables that keep one."""
    if table not in DIGESTED:
        return data
    for name, column in key_digest_columns(data.column(PRIMARY_KEYS[table])).items():
        data = data.append_column(name, column)
    return data


# ---- DDL ----------------------------------------------------------------------
def _duckdb_columns(schema: pa.Schema) -> list[tuple[str, str]]:
    con = duckdb.connect(":memory:")
    try:
        con.register("empty", schema.empty_table())
        return [(r[0], r[1]) for r in con.execute("DESCRIBE SELECT * FROM empty").fetchall()]
    finally:
        con.close()


def _all_tables() -> dict[str, pa.Schema]:
    return {**TABLES, WRITE_GUARD_TABLE: WRITE_GUARD}


def _missing(cur: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    have: dict[str, set[str]] = {}
    for table, column in cur.execute(
        "SELECT table_name, column_name FROM duckdb_columns() "
        "WHERE database_name = ? AND schema_name = 'main'",
        [LAKE],
    ).fetchall():
        have.setdefault(table, set()).add(column)
    out = {}
    for table, schema in _all_tables().items():
        declared = _duckdb_columns(schema)
        if table in DIGESTED:
            declared.extend(DIGEST_COLUMNS.items())
        cols = [(n, t) for n, t in declared if n not in have.get(table, set())]
        if cols:
            out[table] = cols
    return out


def _missing_guard_rows(cur: duckdb.DuckDBPyConnection) -> list[str]:
    if WRITE_GUARD_TABLE not in _existing_tables(cur):
        return sorted(PRIMARY_KEYS)
    have = {r[0] for r in cur.execute(f'SELECT table_name FROM "{WRITE_GUARD_TABLE}"').fetchall()}
    return sorted(set(PRIMARY_KEYS) - have)


def _ensure_tables(cur: duckdb.DuckDBPyConnection) -> None:
    """Create missing tables, columns and write-guard rows (older lakes gain new ones)."""

    def complete() -> bool:
        return (
            not _missing(cur)
            and not _missing_guard_rows(cur)
            and not _unclustered(cur)
            and not _undigested(cur)
            and not _legacy_digests(cur)
        )

    # another process may be creating the lake right now: even the check can race it
    if retry.with_backoff(complete, what="catalog open"):
        return

    def once() -> None:
        cur.execute("BEGIN")
        try:
            for table, cols in _missing(cur).items():
                if table not in _existing_tables(cur):
                    body = ", ".join(f'"{n}" {t}' for n, t in cols)
                    cur.execute(f'CREATE TABLE "{table}" ({body})')
                else:
                    for n, t in cols:
                        cur.execute(f'ALTER TABLE "{table}" ADD COLUMN "{n}" {t}')
            if guard_rows := _missing_guard_rows(cur):
                cur.execute(
                    f'INSERT INTO "{WRITE_GUARD_TABLE}" SELECT unnest(?), 0, now()', [guard_rows]
                )
            for table in _unclustered(cur):
                keys = ", ".join(f'"{c}" ASC NULLS LAST' for c in CLUSTER_BY[table])
                cur.execute(f'ALTER TABLE "{table}" SET SORTED BY ({keys})')
            for table in _undigested(cur):  # rows of a lake made before the digests
                key = PRIMARY_KEYS[table]
                cur.execute(
                    f'UPDATE "{table}" SET "{KEY_PREFIX}" = {key_half_sql(key, 0)}, '
                    f'"{KEY_SUFFIX}" = {key_half_sql(key, 1)} WHERE "{KEY_SUFFIX}" IS NULL'
                )
            for table in _legacy_digests(cur):
                cur.execute(f'ALTER TABLE "{table}" DROP COLUMN "{LEGACY_DIGEST}"')
            cur.execute("COMMIT")
        except BaseException:
            rollback(cur)
            raise

    retry.with_backoff(once, what="catalog init")


def sort_orders(cur: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, ...]]:
    """Each lake table's current DuckLake sort order (its columns, in order)."""
    rows = cur.execute(
        f"SELECT t.table_name, e.expression FROM {METADATA}.ducklake_sort_info i "
        f"JOIN {METADATA}.ducklake_sort_expression e USING (sort_id, table_id) "
        f"JOIN {METADATA}.ducklake_table t USING (table_id) "
        "WHERE i.end_snapshot IS NULL AND t.end_snapshot IS NULL "
        "ORDER BY t.table_name, e.sort_key_index"
    ).fetchall()
    orders: dict[str, tuple[str, ...]] = {}
    for table, expression in rows:
        orders[table] = (*orders.get(table, ()), expression.strip('"'))
    return orders


def _unclustered(cur: duckdb.DuckDBPyConnection) -> list[str]:
    """Tables of ``CLUSTER_BY`` whose lake sort order differs (new lakes, older lakes)."""
    have = sort_orders(cur)
    return sorted(t for t, keys in CLUSTER_BY.items() if have.get(t) != keys)


def _undigested(cur: duckdb.DuckDBPyConnection) -> list[str]:
    """Tables of ``DIGESTED`` with rows that lack their key digest (older lakes;
    both halves are always written together)."""
    out = []
    for table in sorted(DIGESTED & _existing_tables(cur)):
        # file statistics count nulls: a lake whose rows all have one reads no data here
        sql = f'SELECT 1 FROM "{table}" WHERE "{KEY_SUFFIX}" IS NULL LIMIT 1'
        if cur.execute(sql).fetchall():
            out.append(table)
    return out


def _legacy_digests(cur: duckdb.DuckDBPyConnection) -> list[str]:
    """Tables of ``DIGESTED`` that still have the one-column digest of older lakes."""
    return sorted(
        r[0]
        for r in cur.execute(
            "SELECT table_name FROM duckdb_columns() "
            "WHERE database_name = ? AND schema_name = 'main' AND column_name = ?",
            [LAKE, LEGACY_DIGEST],
        ).fetchall()
        if r[0] in DIGESTED
    )


def _existing_tables(cur: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        r[0]
        for r in cur.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [LAKE]
        ).fetchall()
    }


# ---- commits -----------------------------------------------------------------
def _insert_sql(table: str, batch: str, supersedes: str = '"supersedes"') -> str:
    """Insert a batch: its declared columns (``supersedes`` as given) plus, where
    the table keeps one, the key digest (added by ``append``, never by callers)."""
    columns = {n: f'"{n}"' for n in TABLES[table].names}
    if "supersedes" in columns:
        columns["supersedes"] = supersedes
    if table in DIGESTED:
        columns.update({n: f'"{n}"' for n in DIGEST_COLUMNS})
    names = ", ".join(f'"{n}"' for n in columns)
    return f'INSERT INTO "{table}" ({names}) SELECT {", ".join(columns.values())} FROM {batch}'


def _batch_key_sql(table: str) -> str:
    """SQL, over a batch, of the value that identifies a key in memory: the
    whole 128-bit digest where the table keeps one, else the key itself."""
    if table in DIGESTED:
        return key_digest_sql(f'"{KEY_PREFIX}"', f'"{KEY_SUFFIX}"')
    return f'"{PRIMARY_KEYS[table]}"'


def _upsert(cur: duckdb.DuckDBPyConnection, w: Write, batch: str) -> None:
    """Upsert by key as DELETE + INSERT: rows whose key the table holds replace
    them (``supersedes`` set), the rest are added.

    Not ``MERGE INTO``: DuckLake's MERGE writes its rows unsorted and always as a
    Parquet file, and measured slower; an INSERT is sorted by the table's
    clustering columns and, when small, inlined in the metadata database.
    """
    matched = f"{batch}_matched"  # (row_id, m): the rows replaced, the key that replaces each
    try:
        if w.table in DIGESTED:
            _delete_by_digest(cur, w.table, batch, matched)
        else:
            _delete_by_key(cur, w.table, batch, matched)
        replaced = f"({_batch_key_sql(w.table)} IN (SELECT m FROM {matched}))"
        cur.execute(_insert_sql(w.table, batch, supersedes=replaced))
    finally:
        with contextlib.suppress(duckdb.Error):  # an aborted transaction drops it itself
            cur.execute(f"DROP TABLE IF EXISTS {matched}")


def _delete_by_key(cur: duckdb.DuckDBPyConnection, table: str, batch: str, matched: str) -> None:
    """Small keyed tables: join on the key itself, delete by row id."""
    key = PRIMARY_KEYS[table]
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE {matched} AS SELECT t.rowid AS row_id, b.m "
        f'FROM (SELECT "{key}" AS m FROM {batch}) b JOIN "{table}" t ON t."{key}" = b.m'
    )
    if cur.execute(f"SELECT count(*) FROM {matched}").fetchone()[0]:
        cur.execute(f'DELETE FROM "{table}" WHERE rowid IN (SELECT row_id FROM {matched})')


def _delete_by_digest(cur: duckdb.DuckDBPyConnection, table: str, batch: str, matched: str) -> None:
    """Large keyed tables: read as little as a full match needs.

    1. The 64-bit prefix of every file finds the candidate rows (a temp table
       keeps their row id, file and the batch key's halves).
    2. The DELETE checks the suffix of each candidate and reads only the files
       that hold one, where that saves work (``_only_files``).
    3. Only where it deleted fewer rows than there were candidates (a prefix
       shared by two keys: about one 10k-row upsert in 10^8 at 10M rows) are
       the rows still there read again, to drop them from the matches; one of
       them with the batch key's suffix would be a replaced row left in place,
       and aborts the write.
    """
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE {matched} AS "
        f"SELECT t.rowid AS row_id, t.filename AS file, b.s, {key_digest_sql('b.p', 'b.s')} AS m "
        f'FROM (SELECT "{KEY_PREFIX}" AS p, "{KEY_SUFFIX}" AS s FROM {batch}) b '
        f'JOIN "{table}" t ON t."{KEY_PREFIX}" = b.p'
    )
    files, candidates = cur.execute(
        f"SELECT list(DISTINCT file), count(*) FROM {matched}"
    ).fetchone()
    if not candidates:
        return
    only, params = _only_files(cur, table, files, f'"{table}".filename')
    deleted = cur.execute(
        f'DELETE FROM "{table}" USING {matched} c WHERE c.row_id = "{table}".rowid '
        f'AND c.s = "{table}"."{KEY_SUFFIX}" {only}',
        params,
    ).fetchone()[0]
    if deleted == candidates:
        return
    kept = cur.execute(
        f'SELECT c.row_id, c.s = t."{KEY_SUFFIX}" AS same '
        f'FROM {matched} c JOIN "{table}" t ON t.rowid = c.row_id'
    ).fetchall()
    if any(same for _, same in kept):
        raise CatalogError(
            f"{table}: an upsert left {sum(s for _, s in kept)} of the rows it replaces in place; "
            "nothing written"
        )
    cur.execute(f"DELETE FROM {matched} WHERE row_id = ANY(?)", [[r for r, _ in kept]])


def _only_files(
    cur: duckdb.DuckDBPyConnection, table: str, files: list[str], column: str
) -> tuple[str, dict]:
    """A filter (and its parameters) on a scan's ``filename`` column that makes
    DuckLake read only ``files``, where that saves work; else none.

    DuckLake skips the other files, but evaluates the filter on every row it
    reads (about as costly as reading the row id): worth it only while the
    files hold less than half of the table's data (the inlined rows count as
    none)."""
    sizes = dict(
        cur.execute(
            f"SELECT data_file, data_file_size_bytes FROM ducklake_list_files('{LAKE}', '{table}')"
        ).fetchall()
    )
    if 2 * sum(sizes.get(f, 0) for f in files) >= sum(sizes.values()):
        return "", {}
    return f"AND {column} = ANY($files)", {"files": files}


def rollback(cur: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):
        cur.execute("ROLLBACK")


def _commit_once(cur: duckdb.DuckDBPyConnection, writes: list[Write]) -> int:
    batches = []
    cur.execute("BEGIN")
    try:
        for i, w in enumerate(writes):
            name = f"_fourreal_batch_{i}"
            cur.register(name, w.data)
            batches.append(name)
            if w.keyed:
                _upsert(cur, w, name)
            else:
                cur.execute(_insert_sql(w.table, name))
        keyed = sorted({w.table for w in writes if w.keyed})
        if keyed:
            cur.execute(
                f'UPDATE "{WRITE_GUARD_TABLE}" SET version = version + 1, updated_at = now() '
                "WHERE list_contains(?, table_name)",
                [keyed],
            )
        cur.execute("COMMIT")
    except BaseException:
        rollback(cur)
        raise
    finally:
        for name in batches:
            with contextlib.suppress(duckdb.Error):
                cur.unregister(name)
    return cur.execute(f"SELECT id FROM ducklake_last_committed_snapshot('{LAKE}')").fetchone()[0]
