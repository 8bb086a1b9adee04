"""``fourreal catalog query`` is strictly read-only."""

from __future__ import annotations

import pytest

from catalog.readonly import ReadOnlyQueryError, readonly_query


@pytest.fixture
def filled(catalog):
    catalog.append(
        "sources",
        [dict(source_id=f"src{i}", kind="video", uri=f"v{i}.mp4", status="ok") for i in range(3)],
    )
    return catalog


def test_select_works(filled):
    t = readonly_query(filled, "SELECT count(*) AS n FROM sources WHERE status = 'ok'")
    assert t.to_pylist() == [{"n": 3}]


@pytest.mark.parametrize(
    "sql, fragment",
    [
        ("INSERT INTO sources (source_id) VALUES ('x')", "INSERT"),
        ("CREATE TABLE t AS SELECT 1", "CREATE"),
        ("DROP VIEW sources", "DROP"),
        ("COPY (SELECT * FROM sources) TO '/tmp/leak.csv'", "COPY"),
        ("ATTACH '/tmp/other.duckdb' AS other", "ATTACH"),
        ("INSTALL httpfs", "refused"),
        ("SET enable_external_access = true", "SET"),
        ("SELECT 1; DROP VIEW sources", "exactly one statement"),
    ],
)
def test_writes_and_side_effects_are_refused(filled, sql, fragment):
    with pytest.raises(ReadOnlyQueryError, match=fragment):
        readonly_query(filled, sql)
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


def test_cli_query_refuses_and_prints(filled, monkeypatch):
    from typer.testing import CliRunner

    from fourreal.cli import app

    monkeypatch.setenv("FOURREAL_HOME", str(filled.dir.parent))
    runner = CliRunner()
    ok = runner.invoke(app, ["catalog", "query", "SELECT source_id FROM sources ORDER BY 1"])
    assert ok.exit_code == 0, ok.output
    assert "src0" in ok.output and "src2" in ok.output
    bad = runner.invoke(app, ["catalog", "query", "DELETE FROM sources"])
    assert bad.exit_code == 2
    assert "read-only" in bad.output
