"""``fourreal catalog query`` is strictly read-only, and its errors are one line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from catalog.lake import CatalogError
from catalog.readonly import ReadOnlyQueryError, check_select_only, readonly_query
from fourreal.cli import app


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """One lake for the module: every test here leaves it as it found it."""
    from catalog.store import Catalog

    catalog = Catalog(tmp_path_factory.mktemp("readonly") / "catalog")
    catalog.append(
        "sources",
        [dict(source_id=f"src{i}", kind="video", uri=f"v{i}.mp4", status="ok") for i in range(3)],
    )
    return catalog


@pytest.fixture
def cli(filled, monkeypatch):
    monkeypatch.setenv("FOURREAL_HOME", str(filled.dir.parent))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_select_works(filled):
    t = readonly_query(filled, "SELECT count(*) AS n FROM sources WHERE status = 'ok'")
    assert t.to_pylist() == [{"n": 3}]
    assert readonly_query(filled, "EXPLAIN ANALYZE SELECT count(*) FROM sources").num_rows
    assert readonly_query(filled, "SELECT count(*) AS n FROM ducklake_snapshots('lake')")


def _evil_copy(catalog) -> str:
    target = catalog.dir / "data" / "main" / "sources" / "part-evil.parquet"
    return f"COPY (SELECT 42 AS x) TO '{target}' (FORMAT parquet)"


@pytest.mark.parametrize(
    "sql, fragment",
    [
        ("INSERT INTO sources (source_id) VALUES ('x')", "INSERT"),
        ("UPDATE sources SET status = 'failed'", "UPDATE"),
        ("DELETE FROM sources", "DELETE"),
        ("CREATE TABLE t AS SELECT 1", "CREATE"),
        ("DROP TABLE sources", "DROP"),
        ("COPY (SELECT * FROM sources) TO '/tmp/leak.csv'", "COPY"),
        ("ATTACH '/tmp/other.duckdb' AS other", "ATTACH"),
        ("DETACH lake", "DETACH"),
        ("INSTALL httpfs", "LOAD"),  # DuckDB parses INSTALL as a LOAD statement
        ("LOAD httpfs", "LOAD"),
        ("SET enable_external_access = true", "SET"),
        ("RESET allowed_directories", "SET"),
        ("PRAGMA enable_profiling", "PRAGMA"),
        ("CALL ducklake_expire_snapshots('lake', older_than => now())", "CALL"),
        ("SELECT 1; DROP TABLE sources", "exactly one statement"),
        ("EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1", "not a SELECT"),
        ("EXPLAIN ANALYZE DELETE FROM sources", "not a SELECT"),
        ("EXPLAIN ANALYZE INSERT INTO sources (source_id) VALUES ('x')", "not a SELECT"),
        ("/* hidden */ EXPLAIN ANALYZE DELETE FROM sources", "not a SELECT"),
        ("EXPLAIN (FORMAT json) DELETE FROM sources", "read-only"),
        ("SELECT * FROM ducklake_merge_adjacent_files('lake')", "ducklake_merge_adjacent_files"),
        (
            "SELECT * FROM sqlite_query('__ducklake_metadata_lake', 'DELETE FROM x RETURNING *')",
            "sqlite_query",
        ),  # fmt: skip
        ("SELECT * FROM postgres_execute('x', 'DROP TABLE y')", "postgres_execute"),
        ("SELECT * FROM query('DELETE FROM sources')", "query"),
        ("SELECT (SELECT count(*) FROM sqlite_scan('x', 'y'))", "sqlite_scan"),
    ],
)
def test_writes_and_side_effects_are_refused(filled, sql, fragment):
    before = filled.snapshot_id()
    with pytest.raises(ReadOnlyQueryError, match=fragment):
        readonly_query(filled, sql)
    assert filled.snapshot_id() == before


def test_explain_analyze_copy_bypass_is_refused_and_writes_nothing(filled, cli):
    """The bypass of the Parquet-parts catalog: EXPLAIN ANALYZE ran a COPY into it."""
    sql = "EXPLAIN ANALYZE " + _evil_copy(filled)
    with pytest.raises(ReadOnlyQueryError, match="not a SELECT"):
        check_select_only(sql)
    out = cli("catalog", "query", sql)
    assert out.exit_code == 2, out.output
    assert out.output.count("\n") == 1 and "read-only" in out.output
    assert not list(filled.dir.rglob("part-evil*"))
    assert readonly_query(filled, "SELECT count(*) AS n FROM sources").to_pylist() == [{"n": 3}]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM read_parquet('/tmp/*.parquet')",
    ],
)
def test_reading_files_outside_the_catalog_is_refused(filled, sql):
    with pytest.raises(ReadOnlyQueryError, match="refused"):
        readonly_query(filled, sql)


def test_sql_errors_are_one_line_with_exit_code_2(filled, cli):
    with pytest.raises(CatalogError, match="nosuch"):
        readonly_query(filled, "select * from nosuch")
    for sql in ("select * from nosuch", "selec 1", "SELECT nosuchcol FROM sources"):
        out = cli("catalog", "query", sql)
        assert out.exit_code == 2, out.output
        assert out.output.startswith("error:") and out.output.count("\n") == 1, out.output
        assert "Traceback" not in out.output


def test_cli_query_prints_rows_and_json(filled, cli):
    ok = cli("catalog", "query", "SELECT source_id FROM sources ORDER BY 1")
    assert ok.exit_code == 0, ok.output
    assert "src0" in ok.output and "src2" in ok.output
    js = cli("catalog", "query", "--json", "SELECT source_id FROM sources ORDER BY 1")
    assert js.output.splitlines() == [f'{{"source_id": "src{i}"}}' for i in range(3)]
    bad = cli("catalog", "query", "DELETE FROM sources")
    assert bad.exit_code == 2 and "read-only" in bad.output


def _leak(folder) -> str:
    """A CSV in ``<folder>/.tmp``: DuckDB's default temp directory when ``folder`` is the cwd."""
    leak = folder / ".tmp" / "leak.csv"
    leak.parent.mkdir(exist_ok=True)
    leak.write_text("secret\n42\n")
    return f"SELECT * FROM read_csv('{leak}')"


def test_only_the_lake_data_and_its_own_temp_folder_are_allowed(filled, tmp_path, monkeypatch):
    """DuckDB allows its temp directory (``<cwd>/.tmp`` by default) whatever the sandbox says:
    the query may read neither a file there nor the metadata database's file."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ReadOnlyQueryError, match="refused: .*leak.csv"):
        readonly_query(filled, _leak(tmp_path))
    with pytest.raises(ReadOnlyQueryError, match="refused"):
        readonly_query(filled, f"SELECT * FROM read_blob('{filled.dir}/*')")
    settings = readonly_query(
        filled,
        "SELECT current_setting('allowed_directories') AS allowed, "
        "current_setting('temp_directory') AS temp",
    ).to_pylist()[0]
    data = str(filled.dir / "data") + "/"
    assert sorted(settings["allowed"]) == [str(filled.dir / ".tmp") + "/", data]
    assert settings["temp"] == str(filled.dir / ".tmp")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM __ducklake_metadata_lake.main.ducklake_snapshot",
        "SELECT * FROM __ducklake_metadata_lake.ducklake_table",
        'SELECT * FROM "__DUCKLAKE_METADATA_LAKE".main.ducklake_data_file',
        "SELECT count(*) FROM sources WHERE source_id IN "
        "(SELECT table_name FROM __ducklake_metadata_lake.ducklake_table)",
        "WITH m AS (SELECT * FROM __ducklake_metadata_lake.ducklake_schema) SELECT * FROM m",
        "EXPLAIN ANALYZE SELECT * FROM __ducklake_metadata_lake.ducklake_snapshot",
    ],
)
def test_the_lake_metadata_tables_are_refused(filled, sql):
    with pytest.raises(ReadOnlyQueryError, match="metadata database __ducklake_metadata_lake"):
        readonly_query(filled, sql)
