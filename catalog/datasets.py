"""Immutable dataset snapshots: a named, content-hashed list of sample ids."""

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


def select_sample_ids(catalog: Catalog, where: str) -> list[str]:
    """Ids of ok samples matching a user's SQL predicate (read-only, sandboxed)."""
    if not where.strip():
        raise ValueError("where: the predicate is empty (use 'true' for all samples)")
    sql = SELECT_SAMPLES.format(where=where)
    try:
        check_select_only(sql)
    except ReadOnlyQueryError as e:
        raise ValueError(f"where: not a valid predicate: {e}") from None
    return readonly_query(catalog, sql).column("sample_id").to_pylist()


def create_dataset(
    catalog: Catalog,
    name: str,
    where: str,
    split: str = "all",
    run_id: str | None = None,
    allow_empty: bool = False,
) -> dict:
    """Snapshot the ok samples matching ``where`` under ``name``.

    The snapshot id is a hash of the name and the sorted ids, so creating the
    same snapshot twice returns the existing row and writes nothing.
    """
    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"name: {name!r} must be letters, digits, '-', '_' or '.'")
    ids = select_sample_ids(catalog, where)
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
    """The sample rows of a snapshot, in the snapshot's (sorted) order."""
    ds = get_dataset(catalog, ref)
    rows = catalog.rows(
        "SELECT s.* FROM samples s JOIN (SELECT unnest(?) AS sample_id) USING (sample_id)"
        " ORDER BY sample_id",
        [ds["sample_ids"]],
    )
    return rows
