"""Read-only SQL for people: ``fourreal catalog query`` and dataset predicates.

Two independent guards: only a single SELECT statement is accepted (so
``COPY ... TO``, ``ATTACH``, ``INSTALL``, DDL and DML are refused by type), and
the connection itself may only read files inside the catalog directory
(DuckDB's ``enable_external_access = false`` + ``allowed_directories``,
locked so the query cannot turn them back on).
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from catalog.store import Catalog

ALLOWED_STATEMENTS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class ReadOnlyQueryError(ValueError):
    """The query would write, attach, install or read outside the catalog."""


def check_select_only(sql: str) -> None:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as e:
        raise ReadOnlyQueryError(f"cannot parse query: {e}") from None
    if len(statements) != 1:
        raise ReadOnlyQueryError(f"exactly one statement is allowed, got {len(statements)}")
    kind = statements[0].type
    if kind not in ALLOWED_STATEMENTS:
        raise ReadOnlyQueryError(
            f"the catalog is read-only here: {kind.name} statements are refused "
            "(only SELECT queries are allowed)"
        )


def readonly_connection(catalog: Catalog) -> duckdb.DuckDBPyConnection:
    con = catalog.connect()
    root = str(catalog.dir)
    con.execute("SET allowed_directories = [?]", [root])
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return con


def readonly_query(catalog: Catalog, sql: str, params: list | None = None) -> pa.Table:
    """Run a user's SELECT over the catalog views; refuse anything else."""
    check_select_only(sql)
    con = readonly_connection(catalog)
    try:
        return con.sql(sql, params=params or None).to_arrow_table()
    except duckdb.PermissionException as e:
        raise ReadOnlyQueryError(f"refused: {e}") from None
    finally:
        con.close()
