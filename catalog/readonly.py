"""Read-only SQL for people: ``fourreal catalog query`` and dataset predicates.

Three independent guards:

1. the text must be ONE plain SELECT. DuckDB's own parser decides: the
   statement's type, and for ``EXPLAIN [ANALYZE]`` (which runs what it
   explains) the statement inside it must serialize as a SELECT too; table
   and scalar functions that reach the metadata database or maintain the lake
   (``sqlite_*``, ``postgres_*``, ``ducklake_*`` but its read-only listings,
   ``query``) are refused wherever they appear in the parse tree, and so are
   the lake's metadata tables (``__ducklake_metadata_<lake>.*``);
2. the lake is attached ``READ_ONLY`` in a connection of its own;
3. that connection may only read the lake's data files
   (``enable_external_access = false`` + ``allowed_directories`` = the data
   path), and its configuration is locked so the query cannot turn them back
   on. DuckDB adds its temp directory to the allowed ones (by default
   ``<cwd>/.tmp``, outside the data root): it is set to ``.tmp`` in the
   catalog folder first, which holds nothing but DuckDB's own spill files.
"""

from __future__ import annotations

import json
import re

import duckdb
import pyarrow as pa

from catalog.lake import LAKE, CatalogError, first_line, open_lake
from catalog.store import Catalog

FORBIDDEN_PREFIXES = ("sqlite_", "postgres_", "ducklake_")
READ_ONLY_LAKE_FUNCTIONS = {
    "ducklake_snapshots",
    "ducklake_current_snapshot",
    "ducklake_last_committed_snapshot",
    "ducklake_table_info",
    "ducklake_list_files",
    "ducklake_table_changes",
    "ducklake_table_insertions",
    "ducklake_table_deletions",
    "ducklake_options",
    "ducklake_settings",
}
FORBIDDEN_FUNCTIONS = {"query", "query_table", "checkpoint", "force_checkpoint"}
METADATA_PREFIX = "__ducklake_metadata"  # DuckLake attaches its metadata database by this name
TEMP_DIR = ".tmp"  # DuckDB's spill files, inside the catalog folder
LEADING_COMMENTS = re.compile(r"^(\s*(--[^\n]*(\n|$)|/\*.*?\*/))*\s*", re.S)
EXPLAIN_PREFIX = re.compile(r"^EXPLAIN\s+(ANALYZE\s+)?", re.I)


class ReadOnlyQueryError(CatalogError):
    """The query would write, attach, install or read outside the catalog."""


def _refuse(what: str) -> ReadOnlyQueryError:
    return ReadOnlyQueryError(
        f"the catalog is read-only here: {what} (only one plain SELECT query is allowed)"
    )


def _function_names(tree) -> set[str]:
    names: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("function_name"), str):
                names.add(node["function_name"].lower())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return names


def _table_names(tree) -> set[str]:
    """Every catalog, schema and table name of the base tables a parse tree reads."""
    names: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE":
                for key in ("catalog_name", "schema_name", "table_name"):
                    if isinstance(node.get(key), str):
                        names.add(node[key].lower())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return names


def _select_tree(sql: str) -> dict:
    """DuckDB's parse tree of a SELECT; refuses anything that is not one."""
    con = duckdb.connect(":memory:")
    try:
        out = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    finally:
        con.close()
    if out.get("error"):
        raise _refuse("the statement is not a SELECT")
    return out


def check_select_only(sql: str) -> None:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as e:
        raise ReadOnlyQueryError(f"cannot parse query: {first_line(e)}") from None
    if len(statements) != 1:
        raise ReadOnlyQueryError(f"exactly one statement is allowed, got {len(statements)}")
    kind = statements[0].type
    text = LEADING_COMMENTS.sub("", statements[0].query, count=1)
    if kind == duckdb.StatementType.EXPLAIN:
        # EXPLAIN ANALYZE runs the statement it explains: that one must be a SELECT.
        inner = EXPLAIN_PREFIX.sub("", text, count=1)
        if inner == text:
            raise _refuse("this EXPLAIN form is refused")
        text = inner
    elif kind != duckdb.StatementType.SELECT:
        raise _refuse(f"{kind.name} statements are refused")
    tree = _select_tree(text)
    for name in sorted(_function_names(tree)):
        if name in FORBIDDEN_FUNCTIONS or (
            name.startswith(FORBIDDEN_PREFIXES) and name not in READ_ONLY_LAKE_FUNCTIONS
        ):
            raise _refuse(f"function {name}() is refused")
    for name in sorted(_table_names(tree)):
        if name.startswith(METADATA_PREFIX):
            raise _refuse(f"the lake's metadata database {name} is refused")


def _data_path(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute(
        f"SELECT value FROM ducklake_options('{LAKE}') WHERE option_name = 'data_path'"
    ).fetchone()[0]


def confine(
    con: duckdb.DuckDBPyConnection, temp_directory: str, allowed_directories: list[str] = ()
) -> None:
    """Let ``con`` read files only under ``allowed_directories`` and lock its configuration.

    The temp directory is set first: DuckDB allows it whatever
    ``allowed_directories`` says (``""``: no spilling, so no directory at all).
    After the lock no query can turn external access back on.
    """
    con.execute("SET temp_directory = ?", [temp_directory])
    if allowed_directories:
        con.execute("SET allowed_directories = ?", [list(allowed_directories)])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def sandbox_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that may read no file at all (not even spill files)."""
    con = duckdb.connect(":memory:")
    try:
        confine(con, "")
    except BaseException:
        con.close()
        raise
    return con


def readonly_connection(catalog: Catalog, snapshot: int | None = None) -> duckdb.DuckDBPyConnection:
    """A connection of its own: lake attached read-only, files confined, config locked."""
    catalog.snapshot_id()  # creates the lake (writable handle) when it does not exist yet
    snapshot = catalog.snapshot if snapshot is None else snapshot
    con = open_lake(catalog.location, read_only=True, snapshot=snapshot)
    try:
        con.execute(f"USE {LAKE}")
        confine(con, str(catalog.dir / TEMP_DIR), [_data_path(con)])
    except BaseException:
        con.close()
        raise
    return con


def readonly_query(
    catalog: Catalog, sql: str, params: list | None = None, snapshot: int | None = None
) -> pa.Table:
    """Run a user's SELECT over the lake (optionally as of ``snapshot``); refuse anything else.

    DuckDB errors (a typo, an unknown table) raise ``CatalogError`` with
    DuckDB's one-line message.
    """
    check_select_only(sql)
    con = readonly_connection(catalog, snapshot)
    try:
        return con.sql(sql, params=params or None).to_arrow_table()
    except duckdb.PermissionException as e:
        raise ReadOnlyQueryError(f"refused: {first_line(e)}") from None
    except duckdb.Error as e:
        raise CatalogError(first_line(e)) from None
    finally:
        con.close()
