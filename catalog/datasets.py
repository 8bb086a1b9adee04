"""Immutable dataset snapshots: a named, content-hashed list of sample ids.

A dataset also pins the lake snapshot its samples were selected at, and its
sample rows are always read as of that snapshot (DuckLake time travel): later
upserts or deletes of those samples do not change what a dataset returns.

A snapshot may carry a held-out part, split **by source** (an object, a video:
every sample of one source lands on the same side, so no frame or clip of a
held-out object is ever trained on). A source is held out when
``hash(split_seed, source_id) < heldout_fraction``: reproducible from the two
numbers, and stable as the corpus grows (adding sources never moves an old one).
``sample_ids`` is then the train part, ``heldout_sample_ids`` the held-out part;
the reference ``NAME:heldout`` (or ``ID:heldout``) reads the held-out part as a
snapshot of its own (split ``heldout``, id ``<dataset_id>:heldout``), and
``NAME:train`` the train part.
"""

from __future__ import annotations

import hashlib

from catalog.ids import content_hash_of_ids, dataset_id
from catalog.readonly import ReadOnlyQueryError, check_select_only, readonly_query
from catalog.schema import SAMPLE_COLUMNS
from catalog.store import Catalog

SELECT_SAMPLES = (
    "SELECT sample_id FROM samples WHERE status = 'ok' AND ({where}) ORDER BY sample_id"
)
FIND_DATASET = """
SELECT * FROM datasets WHERE dataset_id = $ref OR name = $ref
ORDER BY created_at DESC LIMIT 1
"""


SAMPLES_AT = f"""
SELECT {SAMPLE_COLUMNS} FROM (SELECT * FROM samples AT (VERSION => $snapshot)) s
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


SPLITS = ("train", "heldout", "all")
PARTS = ("train", "heldout")  # the suffixes of a reference: NAME:train, NAME:heldout
SOURCES_AT = """
SELECT sample_id, source_id FROM (SELECT * FROM samples AT (VERSION => $snapshot))
WHERE sample_id IN (SELECT unnest($ids))
"""


def heldout_source(source_id: str, fraction: float, seed: int) -> bool:
    """Is ``source_id`` held out? ``hash(seed, source) < fraction``, uniform in [0, 1)."""
    digest = hashlib.sha256(f"heldout/{seed}/{source_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split_by_source(
    sources: dict[str, str | None], fraction: float, seed: int
) -> tuple[list[str], list[str]]:
    """``(train ids, held-out ids)``, sorted, from ``{sample_id: source_id}``.

    A sample without a source stands for itself (its own id is its source).
    """
    train, heldout = [], []
    for sid in sorted(sources):
        side = heldout if heldout_source(sources[sid] or sid, fraction, seed) else train
        side.append(sid)
    return train, heldout


def _split_hash(train: list[str], heldout: list[str]) -> str:
    """Content hash of a split snapshot: both parts (same ids, another split = another id)."""
    return content_hash_of_ids(train + [f"heldout:{i}" for i in heldout])


def _check_split(split: str, fraction: float) -> None:
    if split not in SPLITS:
        raise ValueError(f"split: {split!r} is not one of {SPLITS}")
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"heldout_fraction: {fraction} must be in [0, 1)")
    if fraction and split == "heldout":
        raise ValueError("heldout_fraction: a snapshot whose split is 'heldout' has no train part")


def _parts(catalog: Catalog, ids: list[str], pin: int, fraction: float, seed: int):
    """The train and held-out ids of ``ids`` (sources read at the pinned lake snapshot)."""
    if not fraction:
        return ids, []
    rows = catalog.rows(SOURCES_AT, {"snapshot": pin, "ids": ids})
    train, heldout = split_by_source({r["sample_id"]: r["source_id"] for r in rows}, fraction, seed)
    n_sources = len({r["source_id"] or r["sample_id"] for r in rows})
    if ids and not (train and heldout):
        side = "train" if not train else "held-out"
        raise ValueError(
            f"heldout_fraction: {fraction} of {n_sources} sources leaves the {side} part empty "
            "(split_seed decides which); change heldout_fraction or split_seed"
        )
    return train, heldout


def create_dataset(
    catalog: Catalog,
    name: str,
    where: str,
    split: str = "all",
    run_id: str | None = None,
    allow_empty: bool = False,
    heldout_fraction: float = 0.0,
    split_seed: int = 0,
) -> dict:
    """Snapshot the ok samples matching ``where`` under ``name``.

    The dataset id is a hash of the name and the sorted ids, so creating the
    same snapshot twice returns the existing row and writes nothing. The
    predicate is evaluated at one lake snapshot, which the row pins. With
    ``heldout_fraction > 0`` the samples are split by source (module docstring):
    ``sample_ids`` is the train part (split ``train``), ``heldout_sample_ids``
    the rest.
    """
    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"name: {name!r} must be letters, digits, '-', '_' or '.'")
    _check_split(split, heldout_fraction)
    pin = catalog.snapshot_id()
    ids = select_sample_ids(catalog, where, snapshot=pin)
    if not ids and not allow_empty:
        raise ValueError(f"where: no ok samples match {where!r}; refusing an empty dataset")
    train, heldout = _parts(catalog, ids, pin, heldout_fraction, split_seed)
    chash = _split_hash(train, heldout) if heldout_fraction else content_hash_of_ids(ids)
    did = dataset_id(name, chash)
    existing = catalog.rows("SELECT * FROM datasets WHERE dataset_id = ?", [did])
    if existing:
        return existing[0]
    row = {
        "dataset_id": did,
        "name": name,
        "content_hash": chash,
        "query": where,
        "num_samples": len(train),
        "sample_ids": train,
        "split": "train" if heldout_fraction else split,
        "snapshot_id": pin,
        "run_id": run_id,
        "heldout_sample_ids": heldout if heldout_fraction else None,
        "heldout_fraction": heldout_fraction if heldout_fraction else None,
        "split_seed": split_seed if heldout_fraction else None,
    }
    catalog.append("datasets", [row])
    return catalog.rows("SELECT * FROM datasets WHERE dataset_id = ?", [did])[0]


def get_dataset(catalog: Catalog, ref: str) -> dict:
    """A snapshot by id, or the latest snapshot with that name; ``REF:heldout``, ``REF:train``
    for one part of a split snapshot."""
    base, _, part = (
        ref.rpartition(":") if ref.endswith(tuple(f":{p}" for p in PARTS)) else (ref, "", "")
    )
    rows = catalog.rows(FIND_DATASET, {"ref": base})
    if not rows:
        raise ValueError(f"dataset: no snapshot with id or name {base!r}")
    return dataset_part(rows[0], part) if part else rows[0]


def dataset_part(row: dict, part: str) -> dict:
    """The ``train`` or ``heldout`` part of a split snapshot, shaped as a snapshot row."""
    if not row.get("heldout_fraction"):
        raise ValueError(f"dataset: snapshot {row['name']!r} has no held-out split (part {part!r})")
    if part == "train":
        return row
    ids = list(row["heldout_sample_ids"] or [])
    return {
        **row,
        "dataset_id": f"{row['dataset_id']}:heldout",
        "sample_ids": ids,
        "num_samples": len(ids),
        "split": "heldout",
        "heldout_sample_ids": [],
    }


def dataset_samples(catalog: Catalog, ref: str) -> list[dict]:
    """The sample rows of a dataset as they were at its pinned snapshot, sorted by id."""
    ds = get_dataset(catalog, ref)
    # Datasets migrated from the Parquet-parts catalog carry no pin: read them as they are.
    snapshot = ds["snapshot_id"] if ds["snapshot_id"] is not None else catalog.snapshot_id()
    return catalog.rows(SAMPLES_AT, {"snapshot": snapshot, "ids": ds["sample_ids"]})
