"""The key digest of large keyed tables (two 64-bit halves): written on every insert, used
to find the rows an upsert replaces, and filled in when a lake made before it is opened."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest

from catalog import store
from catalog.schema import (
    DIGESTED,
    KEY_PREFIX,
    KEY_SUFFIX,
    LEGACY_DIGEST,
    PRIMARY_KEYS,
    SAMPLES,
)
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


def digest(key: str) -> tuple[int, int]:
    """The first two 64-bit words of the key's SHA-256 (``catalog.schema.key_half_sql``)."""
    raw = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:16], "big")


def assert_digests_match_keys(cat: Catalog) -> None:
    got = (
        cat.connect()
        .execute(f"SELECT sample_id, {KEY_PREFIX}, {KEY_SUFFIX} FROM samples")
        .fetchall()
    )
    assert got and all((p, s) == digest(k) for k, p, s in got), got[:3]


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
    names = catalog.read("samples").column_names  # not part of the schema
    assert KEY_PREFIX not in names and KEY_SUFFIX not in names


def test_upserts_replace_by_key_whatever_the_batch_size(catalog):
    for part in range(0, 50, 17):  # three data files of about one size (over the inline limit)
        catalog.append(
            "samples", rows(range(part, min(part + 17, 50)), "failed"), keys_are_new=True
        )
    cur = catalog.connect()
    files = [r[0] for r in cur.execute("SELECT DISTINCT filename FROM samples").fetchall()]
    assert len(files) == 3
    assert store._only_files(cur, "samples", files[:1], "filename")[0]  # the filter is used
    assert not store._only_files(cur, "samples", files[:2], "filename")[0]  # and not
    big = list(range(45, 45 + 2 * INLINE_ROWS))  # 5 known keys, the rest new
    catalog.append("samples", rows(big))
    catalog.append("samples", rows([0, 999]))  # one known, one new: inlined
    # rows of the first file, of the big upsert's file and of inlined data at once
    catalog.append("samples", rows([1, 46, 999], status="again"))
    got = {k: (s, sup) for k, s, sup in state(catalog)}
    assert len(got) == 50 + len(big) - 5 + 1  # no key twice
    assert got["s00001"] == got["s00046"] == got["s00999"] == ("again", True)
    for i in set(range(50)) - {1, 46}:
        replaced = i >= 45 or i == 0
        assert got[f"s{i:05d}"] == (("ok", True) if replaced else ("failed", False)), i
    for i in set(big[5:]) - {46}:
        assert got[f"s{i:05d}"] == ("ok", False), i


def test_an_upsert_keeps_a_row_that_only_shares_the_key_prefix(catalog):
    """The prefix only picks candidates: a row with the same 64-bit prefix as a new key
    of the batch (a collision, made here by hand) is not replaced, and the new key's row
    is not reported as replacing anything."""
    catalog.append("samples", rows(range(3 * INLINE_ROWS), status="failed"), keys_are_new=True)
    prefix, _ = digest("s05000")
    _, suffix = digest("other")
    cur = catalog.connect()
    cur.execute(
        f"INSERT INTO samples (sample_id, kind, status, supersedes, {KEY_PREFIX}, {KEY_SUFFIX}) "
        "VALUES ('other', 'clip', 'kept', false, ?, ?)",
        [prefix, suffix],
    )
    catalog.append("samples", rows([1, 2, 5000]))
    got = {k: (s, sup) for k, s, sup in state(catalog)}
    assert got["other"] == ("kept", False)
    assert got["s00001"] == got["s00002"] == ("ok", True)
    assert got["s05000"] == ("ok", False)
    assert len(got) == 3 * INLINE_ROWS + 2


@pytest.mark.parametrize("legacy", [False, True], ids=["no digest", "one-column digest"])
def test_a_lake_made_before_the_digest_gains_it_on_open(catalog, legacy):
    """Older lakes (no digest at all, or the earlier one-column UUID digest): the halves
    are added and every row's filled in, the old column dropped, in one commit; upserts
    then replace the older rows (none is duplicated)."""
    cur = catalog.connect()
    for column in (KEY_PREFIX, KEY_SUFFIX):
        cur.execute(f"ALTER TABLE samples DROP COLUMN {column}")
    names = ", ".join(SAMPLES.names)
    cur.register("old_rows", rows(range(20), status="failed"))
    if legacy:
        cur.execute(f"ALTER TABLE samples ADD COLUMN {LEGACY_DIGEST} UUID")
        cur.execute(
            f"INSERT INTO samples ({names}, {LEGACY_DIGEST}) "
            f"SELECT {names}, CAST(substr(sha256(sample_id), 1, 32) AS UUID) FROM old_rows"
        )
    else:
        cur.execute(f"INSERT INTO samples ({names}) SELECT {names} FROM old_rows")
    store._INSTANCES.clear()  # the next open is a new process's

    again = Catalog(catalog.dir)
    assert_digests_match_keys(again)
    columns = again.connect().execute("DESCRIBE samples").fetchall()
    assert LEGACY_DIGEST not in [c[0] for c in columns]
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
