"""The lake on a real PostgreSQL (metadata) and a real S3 store (SeaweedFS, data files)."""

from __future__ import annotations

import itertools

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from catalog.datasets import create_dataset, dataset_samples
from catalog.lake import CatalogUnavailable
from catalog.readonly import ReadOnlyQueryError, readonly_query
from catalog.store import Catalog
from fourreal.cli import app
from tests.catalog.test_store import sample

_names = itertools.count()


@pytest.fixture
def pg_catalog(postgres_server, tmp_path):
    url = postgres_server.create_database(f"lake_{next(_names)}")
    return Catalog(tmp_path / "catalog", metadata=url)


def test_postgres_metadata_round_trip_time_travel_and_read_only(pg_catalog, tmp_path):
    cat = pg_catalog
    with cat.transaction():
        cat.append("sources", [dict(source_id="src0", kind="video", status="ok")])
        cat.append("samples", [sample(i) for i in range(3)])
    ds = create_dataset(cat, "pg", "true")
    cat.append("samples", [sample(0, status="failed", error="later")])
    assert [r["status"] for r in dataset_samples(cat, "pg")] == ["ok", "ok", "ok"]
    assert cat.rows("SELECT status FROM samples WHERE sample_id = 's0000'") == [
        {"status": "failed"}
    ]
    assert not (tmp_path / "catalog" / "metadata.sqlite").exists()  # metadata is in PostgreSQL
    assert list((tmp_path / "catalog" / "data").rglob("*.parquet")) or ds  # data files local
    with pytest.raises(ReadOnlyQueryError):
        readonly_query(cat, "SELECT * FROM postgres_query('__ducklake_metadata_lake', 'SELECT 1')")
    with pytest.raises(ReadOnlyQueryError, match="refused"):
        readonly_query(cat, "SELECT * FROM read_text('/etc/hostname')")
    # a second handle (another process would do the same) sees the same lake
    other = Catalog(tmp_path / "elsewhere", metadata=cat.location.metadata)
    assert other.read("samples").num_rows == 3


def test_unreachable_postgres_is_one_line_naming_the_setting(tmp_path, monkeypatch):
    from tests.servers import free_port

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    monkeypatch.setenv("FOURREAL_CATALOG", url)
    monkeypatch.setenv("FOURREAL_HOME", str(tmp_path))
    with pytest.raises(CatalogUnavailable, match="FOURREAL_CATALOG=postgresql://"):
        Catalog().append("samples", [sample(1)])
    for args in (["catalog", "query", "SELECT 1"], ["catalog", "init"], ["dataset", "show", "x"]):
        out = CliRunner().invoke(app, args)
        assert out.exit_code == 2, out.output
        assert out.output.count("\n") == 1 and "FOURREAL_CATALOG=postgresql://" in out.output
    assert not (tmp_path / "catalog" / "data").exists()  # nothing half-written


def test_data_files_on_s3(seaweedfs, tmp_path, monkeypatch):
    for k, v in seaweedfs.env().items():
        monkeypatch.setenv(k, v)
    data = f"s3://{seaweedfs.bucket}/lake-{next(_names)}/"
    cat = Catalog(tmp_path / "catalog", data_path=data)
    rows = pa.table({"sample_id": [f"k{i:05d}" for i in range(20000)], "status": ["ok"] * 20000})
    cat.append("samples", rows)
    ds = create_dataset(cat, "s3", "sample_id < 'k00010'")
    cat.append("samples", [sample(0, sample_id="k00000", status="failed")])
    files = cat.rows("SELECT data_file FROM ducklake_list_files('lake', 'samples')")
    assert files and all(f["data_file"].startswith(data) for f in files)
    assert not list((tmp_path / "catalog").rglob("*.parquet"))
    assert [r["status"] for r in dataset_samples(cat, ds["dataset_id"])] == ["ok"] * 10
    assert readonly_query(cat, "SELECT count(*) AS n FROM samples").to_pylist() == [{"n": 20000}]


def test_unreachable_s3_is_one_line_naming_the_setting(seaweedfs, tmp_path, monkeypatch):
    from tests.servers import free_port

    for k, v in seaweedfs.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    cat = Catalog(tmp_path / "catalog", data_path=f"s3://{seaweedfs.bucket}/down/")
    cat.init()
    before = cat.snapshot_id()
    with pytest.raises(CatalogUnavailable, match="FOURREAL_CATALOG_DATA=s3://.*AWS_ENDPOINT_URL"):
        cat.append("samples", pa.table({"sample_id": [f"k{i}" for i in range(5000)]}))
    assert cat.snapshot_id() == before and cat.read("samples").num_rows == 0
