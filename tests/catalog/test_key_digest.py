"""The key digest of large keyed tables: written on every insert, used to find the rows an
upsert replaces, and filled in when a lake made before it is opened."""

from __future__ import annotations

import hashlib
import uuid

import pyarrow as pa

from catalog import store
from catalog.schema import DIGESTED, KEY_DIGEST, PRIMARY_KEYS, SAMPLES
from catalog.store import INLINE_ROWS, Catalog


def rows(ids: list[int], status: str = "ok") -> pa.Table:
    return pa.Table.from_pylist(
        [
            dict(sample_id=f"s{i:05d}", kind="clip", source_id=f"src{i % 7}", status=status)
            | dict(supersedes=False)
            for i in ids
        ],
        schema=SAMPLES,
    )


def digest(key: str) -> uuid.UUID:
    """The first 128 bits of the key's SHA-256 (as ``catalog.schema.key_digest_sql``)."""
    return uuid.UUID(bytes=hashlib.sha256(key.encode()).digest()[:16])


def assert_digests_match_keys(cat: Catalog) -> None:
    got = cat.connect().execute(f"SELECT sample_id, {KEY_DIGEST} FROM samples").fetchall()
    assert got and all(d == digest(k) for k, d in got), got[:3]


def state(cat: Catalog) -> list[tuple]:
    return (
        cat.connect()
        .execute("SELECT sample_id, status, supersedes FROM samples ORDER BY sample_id")
        .fetchall()
    )


def test_every_write_path_stores_the_key_digest(catalog):
    assert DIGESTED <= set(PRIMARY_KEYS)
    catalog.append("samples", rows(range(40)), keys_are_new=True)  # bulk load
    catalog.append("samples", rows([3, 1000]))  # inlined upsert
    catalog.append("samples", rows(range(30, 30 + 3 * INLINE_ROWS)))  # large upsert
    assert_digests_match_keys(catalog)
    assert KEY_DIGEST not in catalog.read("samples").column_names  # not part of the schema


def test_upserts_replace_by_key_whatever_the_batch_size(catalog):
    catalog.append("samples", rows(range(50), status="failed"), keys_are_new=True)
    big = list(range(45, 45 + 2 * INLINE_ROWS))  # 5 known keys, the rest new
    catalog.append("samples", rows(big))
    catalog.append("samples", rows([0, 999]))  # one known, one new: inlined
    got = {k: (s, sup) for k, s, sup in state(catalog)}
    assert len(got) == 50 + len(big) - 5 + 1  # no key twice
    for i in range(50):
        replaced = i >= 45 or i == 0
        assert got[f"s{i:05d}"] == (("ok", True) if replaced else ("failed", False)), i
    for i in [*big[5:], 999]:
        assert got[f"s{i:05d}"] == ("ok", False), i


def test_a_lake_made_before_the_digest_gains_it_on_open(catalog):
    """Older lakes: the column is added and every row's digest filled in, in one commit;
    upserts then replace the older rows (none is duplicated)."""
    cur = catalog.connect()
    cur.execute(f"ALTER TABLE samples DROP COLUMN {KEY_DIGEST}")
    names = ", ".join(SAMPLES.names)
    cur.register("old_rows", rows(range(20), status="failed"))
    cur.execute(f"INSERT INTO samples ({names}) SELECT {names} FROM old_rows")
    store._INSTANCES.clear()  # the next open is a new process's

    again = Catalog(catalog.dir)
    assert_digests_match_keys(again)
    again.append("samples", rows(range(15, 15 + 2 * INLINE_ROWS)))
    got = state(again)
    assert len(got) == 15 + 2 * INLINE_ROWS
    assert [(s, sup) for k, s, sup in got if k in {"s00014", "s00015"}] == [
        ("failed", False),
        ("ok", True),
    ]


def test_rows_handed_out_do_not_carry_the_digest(catalog):
    """Sample rows of lineage and ``fourreal dataset show`` keep their columns exactly."""
    from catalog.datasets import create_dataset, dataset_samples
    from catalog.lineage import Lineage

    catalog.append("samples", rows(range(3)))
    kind, row = Lineage(catalog).resolve("s00001")
    assert kind == "sample" and list(row) == SAMPLES.names
    create_dataset(catalog, "all", "true")
    assert [list(r) for r in dataset_samples(catalog, "all")] == [SAMPLES.names] * 3
