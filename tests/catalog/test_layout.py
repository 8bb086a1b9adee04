"""Rows clustered by the columns queries filter on: on write, on upsert, after compaction."""

from __future__ import annotations

import pyarrow as pa

from catalog.maintenance import compact
from catalog.schema import CLUSTER_BY, SAMPLES
from catalog.store import Catalog, sort_orders

KINDS = ["clip", "grid_pseudo4d", "grid_objaverse"]
QUERY = "SELECT count(*) AS n FROM samples WHERE kind = 'clip' AND source_id = 'src007'"


def rows(start: int, n: int) -> pa.Table:
    """Samples in an order unrelated to (kind, source_id): index-major, kinds interleaved."""
    idx = range(start, start + n)
    return pa.Table.from_pylist(
        [
            dict(
                sample_id=f"s{i:06d}",
                kind=KINDS[(i * 7) % 3],
                source_id=f"src{(i * 37) % 50:03d}",
                status="ok",
                v=1,
                h=8,
            )  # fmt: skip
            for i in idx
        ],
        schema=SAMPLES,
    )


def data_files(cat: Catalog, table: str = "samples") -> list[str]:
    return [
        r["data_file"]
        for r in cat.rows(f"SELECT data_file FROM ducklake_list_files('lake', '{table}')")
    ]


def row_groups(cat: Catalog, path: str) -> list[dict]:
    """{column: (min, max)} for kind and source_id, per row group of one data file."""
    stats = cat.rows(
        f"SELECT row_group_id, path_in_schema AS col, stats_min_value AS lo, stats_max_value AS hi "
        f"FROM parquet_metadata('{path}') WHERE path_in_schema IN ('kind', 'source_id') "
        "ORDER BY row_group_id"
    )
    groups: dict[int, dict] = {}
    for s in stats:
        groups.setdefault(s["row_group_id"], {})[s["col"]] = (s["lo"], s["hi"])
    return [g for _, g in sorted(groups.items())]


def may_hold(group: dict, kind: str, source_id: str) -> bool:
    """Whether a row group's statistics let a reader skip it for this filter (False)."""
    return (
        group["kind"][0] <= kind <= group["kind"][1]
        and group["source_id"][0] <= source_id <= group["source_id"][1]
    )


def is_clustered(cat: Catalog, path: str) -> bool:
    keys = cat.rows(f"SELECT kind, source_id FROM read_parquet('{path}')")
    order = [(k["kind"], k["source_id"]) for k in keys]
    return order == sorted(order)


def small_row_groups(cat: Catalog) -> None:
    """Row groups of ~2k rows (DuckDB rounds up), so a few thousand rows show pruning."""
    cat.connect().execute("CALL ducklake_set_option('lake', 'parquet_row_group_size', 2048)")


def test_a_new_catalog_clusters_its_tables_and_an_older_lake_gains_it(catalog, tmp_path):
    assert sort_orders(catalog.connect()) == dict(CLUSTER_BY)
    catalog.connect().execute("ALTER TABLE samples RESET SORTED BY")  # a lake made before
    assert "samples" not in sort_orders(catalog.connect())
    from catalog import store

    store._INSTANCES.clear()  # the next open is a new process's
    again = Catalog(catalog.dir)
    assert sort_orders(again.connect()) == dict(CLUSTER_BY)


def test_bulk_writes_land_clustered_so_a_filter_skips_row_groups(catalog):
    small_row_groups(catalog)
    catalog.append("samples", rows(0, 8000), keys_are_new=True)
    (bulk,) = data_files(catalog)
    assert is_clustered(catalog, bulk)
    groups = row_groups(catalog, bulk)
    assert len(groups) >= 3, groups
    # the filter skips all row groups but the one or two holding its rows (unsorted: none)
    for kind in KINDS:
        assert sum(may_hold(g, kind, "src007") for g in groups) <= 2 < len(groups), groups


def groups_to_read(cat: Catalog) -> int:
    """Row groups, over the samples table's live files, that QUERY cannot skip."""
    return sum(may_hold(g, "clip", "src007") for f in data_files(cat) for g in row_groups(cat, f))


def delete_files(cat: Catalog) -> int:
    return cat.rows("SELECT count(delete_file) AS n FROM ducklake_list_files('lake', 'samples')")[
        0
    ]["n"]


def test_compaction_reclusters_and_never_leaves_more_files(catalog):
    small_row_groups(catalog)
    catalog.append("samples", rows(0, 3000), keys_are_new=True)
    for k in range(3):  # upserts: half existing keys
        catalog.append("samples", rows(2800 + 200 * k, 400))
    for i in range(5):  # single-row appends, inlined until compaction
        catalog.append("samples", rows(9000 + i, 1))
    expected = catalog.rows(QUERY)
    to_read_before = groups_to_read(catalog)
    assert delete_files(catalog) >= 2  # the upserts' replaced rows
    samples_before = catalog.rows(
        "SELECT count(*) + count(delete_file) AS n FROM ducklake_list_files('lake', 'samples')"
    )[0]["n"]

    report = compact(catalog, keep_days=0)

    assert catalog.rows(QUERY) == expected
    samples_after = catalog.rows(
        "SELECT count(*) + count(delete_file) AS n FROM ducklake_list_files('lake', 'samples')"
    )[0]["n"]
    assert samples_after <= samples_before
    assert all(is_clustered(catalog, f) for f in data_files(catalog))
    # files carrying deletes were rewritten: a query reads no replaced row, and
    # no more row groups than before (the flushed single-row appends included)
    assert delete_files(catalog) == 0
    assert report.files_rewritten >= 2, report
    assert groups_to_read(catalog) <= to_read_before

    # every further round of keyed writes + compaction: the file count does not grow
    counts = [report.files_after]
    for r in range(3):
        catalog.append("samples", rows(20_000 + 10 * r, 1))
        catalog.append("samples", rows(3 * r, 1))  # an existing key: a delete
        counts.append(compact(catalog, keep_days=0).files_after)
        assert delete_files(catalog) == 0
    assert counts[-1] <= counts[1], counts
    assert len(data_files(catalog, "table_versions")) == 1


def test_an_upsert_lands_clustered_before_any_compaction(catalog):
    """Upserts are a DELETE + a sorted INSERT (a MERGE would write its rows unsorted)."""
    catalog.append("samples", rows(0, 3000), keys_are_new=True)
    catalog.append("samples", rows(2500, 1000))  # half replace existing keys
    files = data_files(catalog)
    assert len(files) == 2, files
    assert all(is_clustered(catalog, f) for f in files)
