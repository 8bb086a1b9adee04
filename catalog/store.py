"""The catalog: append-only Parquet part files (truth) + DuckDB views (queries).

Layout under ``<data root>/catalog``::

    <table>/part-<time_ns>-<rand>.parquet   one file per append, written atomically
    catalog.duckdb                           views only; delete it, ``rebuild_duckdb()``

A writer never rewrites a part file, so a killed writer leaves at most a
``.tmp-*`` file that no reader globs. Several processes (Ray workers, Prefect
tasks) may append at once without coordination.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from catalog.schema import PRIMARY_KEYS, TABLES
from fourreal.core.io import atomic_path
from fourreal.core.paths import catalog_dir

DUCKDB_FILE = "catalog.duckdb"
EMPTY_PART = "part-00000000000000000000-schema.parquet"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Catalog:
    """Handle on one catalog directory. Cheap to create; holds no open files."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.dir = Path(root) if root is not None else catalog_dir()
        self.dir = self.dir.resolve()

    # ---- writing ---------------------------------------------------------
    def init(self) -> None:
        """Create table folders, each with an empty part that carries the schema."""
        for name, schema in TABLES.items():
            table_dir = self.dir / name
            table_dir.mkdir(parents=True, exist_ok=True)
            empty = table_dir / EMPTY_PART
            if not empty.exists():
                with atomic_path(empty) as tmp:
                    pq.write_table(schema.empty_table(), tmp)
        self.rebuild_duckdb()

    def _ensure(self) -> None:
        if not all((self.dir / name / EMPTY_PART).exists() for name in TABLES):
            self.init()

    def append(
        self,
        table: str,
        rows: Iterable[Mapping[str, Any]] | pa.Table,
        *,
        keys_are_new: bool = False,
    ) -> Path:
        """Append rows as one new part file; returns its path.

        Missing columns become null; ``created_at`` defaults to now. Rows are
        validated against the declared schema before anything is written.
        Rows whose key already exists are marked ``supersedes``; a bulk loader
        that knows its keys are new may skip that lookup (``keys_are_new``).
        """
        schema = _schema(table)
        self._ensure()
        if isinstance(rows, pa.Table):
            data = rows.select(schema.names).cast(schema)
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
        if (key := PRIMARY_KEYS.get(table)) is not None and not keys_are_new:
            data = self._mark_superseding(table, key, data)
        # time_ns first so that lexical order of file names is write order.
        name = f"part-{time.time_ns():020d}-{secrets.token_hex(4)}.parquet"
        final = self.dir / table / name
        with atomic_path(final) as tmp:
            pq.write_table(data, tmp, compression="zstd")
        return final

    def _mark_superseding(self, table: str, key: str, data: pa.Table) -> pa.Table:
        """Set ``supersedes`` on rows whose key already has a row in the table."""
        keys = data.column(key)
        con = duckdb.connect(":memory:")
        try:
            con.register("batch", data.select([key]))
            (distinct,) = con.execute(f'SELECT count(DISTINCT "{key}") FROM batch').fetchall()[0]
            if distinct != data.num_rows:
                raise ValueError(f"{table}: duplicate {key} values in one append")
            existing = con.sql(
                f'SELECT b."{key}" FROM batch b SEMI JOIN '
                f"read_parquet('{self.part_glob(table)}', union_by_name = true) p "
                f'ON p."{key}" = b."{key}"'
            ).to_arrow_table()
        finally:
            con.close()
        flags = pc.is_in(keys, value_set=existing.column(0))
        idx = data.schema.get_field_index("supersedes")
        return data.set_column(idx, "supersedes", flags)

    # ---- reading ---------------------------------------------------------
    def part_glob(self, table: str) -> str:
        _schema(table)
        return str(self.dir / table / "part-*.parquet")

    def view_sql(self, table: str) -> str:
        """SQL of the view: all parts, latest row per primary key."""
        src = f"read_parquet('{self.part_glob(table)}', union_by_name = true, filename = '_part')"
        key = PRIMARY_KEYS.get(table)
        cols = ", ".join(f'cur."{c}"' for c in TABLES[table].names)
        if key is None:
            return f"SELECT {cols} FROM {src} AS cur"
        # A row is current unless a later part holds a superseding row with its
        # key. Only the (few) superseding rows are grouped, so the view costs
        # about one scan and user filters are pushed into it.
        return (
            f'WITH newest AS (SELECT "{key}", max(_part) AS last_part FROM {src} '
            f'WHERE supersedes GROUP BY "{key}") '
            f"SELECT {cols} FROM {src} AS cur "
            f'LEFT JOIN newest ON newest."{key}" = cur."{key}" '
            "WHERE newest.last_part IS NULL OR cur._part >= newest.last_part"
        )

    def _create_views(self, con: duckdb.DuckDBPyConnection) -> None:
        for table in TABLES:
            con.execute(f'CREATE OR REPLACE VIEW "{table}" AS {self.view_sql(table)}')

    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with one view per table (trusted callers)."""
        self._ensure()
        con = duckdb.connect(":memory:")
        self._create_views(con)
        return con

    def rebuild_duckdb(self) -> Path:
        """(Re)write ``catalog.duckdb``, the view file users open with DuckDB."""
        final = self.dir / DUCKDB_FILE
        with atomic_path(final, suffix=".duckdb") as tmp:
            tmp.unlink()  # DuckDB refuses to open an empty non-database file
            con = duckdb.connect(str(tmp))
            try:
                self._create_views(con)
                con.execute("CHECKPOINT")
            finally:
                con.close()
        return final

    def sql(self, query: str, params: list | dict | None = None) -> pa.Table:
        """Run trusted SQL (our own constants with bound parameters)."""
        con = self.connect()
        try:
            return con.sql(query, params=params or None).to_arrow_table()
        finally:
            con.close()

    def rows(self, query: str, params: list | dict | None = None) -> list[dict]:
        return self.sql(query, params).to_pylist()

    def read(self, table: str) -> pa.Table:
        _schema(table)
        return self.sql(f'SELECT * FROM "{table}"')


def _schema(table: str) -> pa.Schema:
    try:
        return TABLES[table]
    except KeyError:
        raise ValueError(f"unknown catalog table {table!r}; known: {sorted(TABLES)}") from None
