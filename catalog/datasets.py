"""Immutable dataset snapshots: a named, content-hashed list of sample ids.

A dataset also pins the lake snapshot its samples were selected at, and its
sample rows are always read as of that snapshot (DuckLake time travel): later
upserts or deletes of those samples do not change what a dataset returns.
"""

from __future__ import annotations

from catalog.ids import content_hash_of_ids, dataset_id
from catalog.readonly import ReadOnlyQueryError, check_select_only, readonly_query
from catalog.store import Catalog

SELECT_SAMPLES = (
    "SELECT sample_id FROM samples WHERE status = 'ok' AND ({where}) ORDER BY sample_id"
)
FIND_DATASET = """
SELECT * FROM datasets WHERE dataset_id = $ref OR name = $ref
ORDER BY created_at DESC LIMIT 1
"""


SAMPLES_AT = """
SELECT s.* FROM (SELECT * FROM samples AT (VERSION => $snapshot)) s
JOIN (SELECT unnest($ids) AS sample_id) USING (sample_id)
ORDER BY sample_id
"""


def select_sample_ids(catalog: Catalog, where: str, snapshot: int | None = None) -> list[str]:
    """Ids of ok samples matching a user's SQL predicate (read-only, sandboxed)."""
    if not where.strip():
        raise ValueError("where: the predicate is empty (use 'true' for all samples)")
    sql = SELECT_SAMPLES.format(where=where)
    try:
        check_select_only(sql)
    except ReadOnlyQueryError as e:
        raise ValueError(f"where: not a valid predicate: {e}") from None
    return readonly_query(catalog, sql, snapshot=snapshot).column("sample_id").to_pylist()


def create_dataset(
    catalog: Catalog,
    name: str,
    where: str,
    split: str = "all",
    run_id: str | None = None,
    allow_empty: bool = False,
) -> dict:
    """Snapshot the ok samples matching ``where`` under ``name``.

    The dataset id is a hash of the name and the sorted ids, so creating the
    same snapshot twice returns the existing row and writes nothing. The
    predicate is evaluated at one lake snapshot, which the row pins.
    """
    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"name: {name!r} must be letters, digits, '-', '_' or '.'")
    pin = catalog.snapshot_id()
    ids = select_sample_ids(catalog, where, snapshot=pin)
    if not ids and not allow_empty:
        raise ValueError(f"where: no ok samples match {where!r}; refusing an empty dataset")
    chash = content_hash_of_ids(ids)
    did = dataset_id(name, chash)
    existing = catalog.rows("SELECT * FROM datasets WHERE dataset_id = ?", [did])
    if existing:
        return existing[0]
    row = {
        "dataset_id": did,
        "name": name,
        "content_hash": chash,
        "query": where,
        "num_samples": len(ids),
        "sample_ids": ids,
        "split": split,
        "snapshot_id": pin,
        "run_id": run_id,
    }
    catalog.append("datasets", [row])
    return catalog.rows("SELECT * FROM datasets WHERE dataset_id = ?", [did])[0]


def get_dataset(catalog: Catalog, ref: str) -> dict:
    """A snapshot by id, or the latest snapshot with that name."""
    rows = catalog.rows(FIND_DATASET, {"ref": ref})
    if not rows:
        raise ValueError(f"dataset: no snapshot with id or name {ref!r}")
    return rows[0]


def dataset_samples(catalog: Catalog, ref: str) -> list[dict]:
    """The sample rows of a dataset as they were at its pinned snapshot, sorted by id."""
    ds = get_dataset(catalog, ref)
    # Datasets migrated from the Parquet-parts catalog carry no pin: read them as they are.
    snapshot = ds["snapshot_id"] if ds["snapshot_id"] is not None else catalog.snapshot_id()
    return catalog.rows(SAMPLES_AT, {"snapshot": snapshot, "ids": ds["sample_ids"]})
