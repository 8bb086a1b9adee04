"""``fourreal catalog migrate``: import a catalog of the previous format (Parquet parts).

The previous catalog kept ``<catalog>/<table>/part-<time_ns>-<rand>.parquet``
files, one per append, in write order by name; a later row with the same key
superseded an earlier one. Every row is imported, in that order: the n-th
version of each key is upserted in the n-th commit, so the lake ends with the
latest row per key (as the old views showed) and its history keeps the
earlier ones (time travel). Lineage columns are copied as they are. Imported
part files then move to ``<catalog>/legacy-parts/``; a rerun finds nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from catalog.schema import PRIMARY_KEYS, TABLES
from catalog.store import Catalog

PART_GLOB = "part-*.parquet"
LEGACY_DIR = "legacy-parts"
OLD_VIEW_FILE = "catalog.duckdb"


def old_parts(old_dir: Path) -> dict[str, list[Path]]:
    """Part files of each table, in write order (their names start with time_ns)."""
    return {
        table: sorted(p for p in (old_dir / table).glob(PART_GLOB) if p.is_file())
        for table in TABLES
        if (old_dir / table).is_dir()
    }


def _read_parts(table: str, parts: list[Path]) -> pa.Table:
    """All rows of a table's parts, cast to today's schema, with their write order."""
    schema = TABLES[table]
    pieces = []
    for order, part in enumerate(parts):
        t = pq.read_table(part)
        unknown = set(t.column_names) - set(schema.names)
        if unknown:
            raise ValueError(f"{part}: columns {sorted(unknown)} are not in the {table} schema")
        for name in schema.names:
            if name not in t.column_names:
                t = t.append_column(name, pa.nulls(t.num_rows, schema.field(name).type))
        t = t.select(schema.names).cast(schema)
        pieces.append(t.append_column("_order", pa.array([order] * t.num_rows, pa.int64())))
    return pa.concat_tables(pieces)


def _generations(table: str, rows: pa.Table) -> list[pa.Table]:
    """Rows split by version: generation n holds the n-th row written for each key."""
    key = PRIMARY_KEYS.get(table)
    if rows.num_rows == 0:
        return []
    if key is None:
        return [rows.drop_columns(["_order"])]
    con = duckdb.connect(":memory:")
    try:
        con.register("old", rows)
        ranked = con.sql(
            f'SELECT *, row_number() OVER (PARTITION BY "{key}" ORDER BY _order) - 1 AS _gen '
            "FROM old"
        ).to_arrow_table()
    finally:
        con.close()
    out = []
    for gen in range(int(pc.max(ranked.column("_gen")).as_py()) + 1):
        part = ranked.filter(pc.equal(ranked.column("_gen"), gen))
        out.append(part.drop_columns(["_order", "_gen"]))
    return out


def migrate(catalog: Catalog, old_dir: str | Path | None = None) -> dict[str, int]:
    """Import every row of an old-format catalog; returns rows imported per table."""
    old = Path(old_dir).resolve() if old_dir is not None else catalog.dir
    parts = {t: p for t, p in old_parts(old).items() if p}
    if not parts:
        raise ValueError(f"migrate: no Parquet parts of the previous catalog under {old}")
    tables = {t: _read_parts(t, p) for t, p in parts.items()}
    by_gen: list[dict[str, pa.Table]] = []
    for table, rows in tables.items():
        for gen, chunk in enumerate(_generations(table, rows)):
            if chunk.num_rows:
                if gen == len(by_gen):
                    by_gen.append({})
                by_gen[gen][table] = chunk
    for chunks in by_gen:
        with catalog.transaction():
            for table, chunk in chunks.items():
                catalog.append(table, chunk)
    _retire(old, parts)
    return {t: rows.num_rows for t, rows in tables.items()}


def _retire(old: Path, parts: dict[str, list[Path]]) -> None:
    """Move imported parts aside (kept, not deleted) so a rerun imports nothing twice."""
    legacy = old / LEGACY_DIR
    for table, files in parts.items():
        target = legacy / table
        target.mkdir(parents=True, exist_ok=True)
        for f in [*files, *(old / table).glob(PART_GLOB)]:
            if f.exists():
                shutil.move(str(f), target / f.name)
        for leftover in (old / table).iterdir():
            shutil.move(str(leftover), target / leftover.name)  # empty-schema parts, temp files
        (old / table).rmdir()
    view_file = old / OLD_VIEW_FILE
    if view_file.exists():
        shutil.move(str(view_file), legacy / OLD_VIEW_FILE)
