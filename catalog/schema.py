"""Every catalog table's pyarrow schema, declared once.

Writers, readers, the DuckLake tables (created from these schemas) and tests
all import from here.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

SOURCES = pa.schema(
    [
        ("source_id", pa.string()),  # sha256 of the bytes (or of the uri when unreadable)
        ("kind", pa.string()),  # glb | gltf | objaverse | video
        ("uri", pa.string()),  # path relative to the data root, or absolute, or objaverse uid
        ("sha256", pa.string()),  # content hash; null when the file could not be read
        ("bytes", pa.int64()),
        ("license", pa.string()),
        ("meta_json", pa.string()),  # probed metadata (frames, fps, size, animations, faces...)
        ("status", pa.string()),  # ok | failed
        ("error", pa.string()),
        ("run_id", pa.string()),
        ("created_at", TS),
        ("supersedes", pa.bool_()),  # this row replaces an earlier one with the same key
    ]
)

SAMPLES = pa.schema(
    [
        ("sample_id", pa.string()),  # sha256(source sha256 + recipe + recipe_version + params)
        ("kind", pa.string()),  # grid_objaverse | grid_pseudo4d | clip
        ("source_id", pa.string()),
        ("recipe", pa.string()),  # e.g. render_gltf, pseudo4d_affine, clip
        ("recipe_version", pa.string()),
        ("params_json", pa.string()),
        ("mode", pa.string()),  # dynamic | freeze_time for clips; null for grids
        ("v", pa.int32()),
        ("t", pa.int32()),
        ("h", pa.int32()),
        ("w", pa.int32()),
        ("path", pa.string()),  # relative to the data root
        ("sha256", pa.string()),
        ("bytes", pa.int64()),  # stored size of the sample file (null for older rows)
        ("status", pa.string()),  # ok | failed
        ("error", pa.string()),
        ("run_id", pa.string()),
        ("created_at", TS),
        ("supersedes", pa.bool_()),  # this row replaces an earlier one with the same key
    ]
)

SHOTS = pa.schema(
    [
        ("shot_id", pa.string()),  # sha256(source sha256 + frame range + recipe version + params)
        ("source_id", pa.string()),
        ("uri", pa.string()),
        ("start_frame", pa.int64()),  # first frame of the decoded video
        ("end_frame", pa.int64()),  # exclusive
        ("frames", pa.int64()),
        ("fps", pa.float64()),
        ("mode", pa.string()),  # mined: static | freeze_time | dynamic
        ("mode_score", pa.float64()),  # the score that decided the mode
        ("mode_rule", pa.string()),  # e.g. "scene_motion 0.4 < freeze_scene_motion 5"
        ("motion", pa.float64()),  # optical flow, % of the diagonal per second
        ("camera_motion", pa.float64()),  # what one rigid camera explains, same unit
        ("scene_motion", pa.float64()),  # what it does not, same unit
        ("explained", pa.float64()),  # share of tracked motion the camera explains, 0..1
        ("blank_fraction", pa.float64()),  # near-black or near-constant frames, 0..1
        ("border_top", pa.int32()),  # letterbox/pillarbox bars in pixels, cropped for clips
        ("border_bottom", pa.int32()),
        ("border_left", pa.int32()),
        ("border_right", pa.int32()),
        ("phash", pa.list_(pa.int64())),  # 64-bit DCT hashes at 1/4, 1/2, 3/4 of the shot
        ("duplicate_of", pa.string()),  # shot_id of the earlier look-alike, null if none
        ("recipe_version", pa.string()),
        ("params_json", pa.string()),  # the curation thresholds
        ("run_id", pa.string()),
        ("created_at", TS),
        ("supersedes", pa.bool_()),  # this row replaces an earlier one with the same key
        # Added with mirrored dedup; older lakes gain it as a null column (catalog.store).
        ("phash_mirrored", pa.list_(pa.int64())),  # phash of the content flipped left-right
    ]
)

DATASETS = pa.schema(
    [
        ("dataset_id", pa.string()),  # sha256 of name + content hash
        ("name", pa.string()),
        ("content_hash", pa.string()),  # sha256 of the sorted sample ids
        ("query", pa.string()),  # the SQL predicate that selected the samples
        ("num_samples", pa.int64()),
        ("sample_ids", pa.list_(pa.string())),  # what training reads (the train part, if split)
        ("split", pa.string()),  # train | heldout | all
        ("snapshot_id", pa.int64()),  # the lake snapshot the samples were selected at
        # The held-out part, split by source (catalog.datasets.heldout_source): a source is
        # held out when hash(split_seed, source_id) < heldout_fraction. Null/0: no held-out part.
        ("heldout_sample_ids", pa.list_(pa.string())),
        ("heldout_fraction", pa.float64()),
        ("split_seed", pa.int64()),
        ("run_id", pa.string()),
        ("created_at", TS),
        ("supersedes", pa.bool_()),  # this row replaces an earlier one with the same key
    ]
)

RUNS = pa.schema(
    [
        ("run_id", pa.string()),  # the Prefect flow-run id (or a uuid outside Prefect)
        ("flow", pa.string()),
        ("parameters_json", pa.string()),
        ("git_commit", pa.string()),
        ("git_dirty", pa.bool_()),
        ("packages_json", pa.string()),
        ("host", pa.string()),
        ("started_at", TS),
        ("ended_at", TS),
        ("status", pa.string()),  # running | completed | failed | interrupted (SIGTERM/SIGINT)
        ("error", pa.string()),
        ("inputs_json", pa.string()),  # ids this run read (datasets, checkpoints, sources)
        ("outputs_json", pa.string()),  # ids this run wrote
        ("supersedes", pa.bool_()),  # this row replaces an earlier one with the same key
    ]
)

CHECKPOINTS = pa.schema(
    [
        ("checkpoint_id", pa.string()),
        ("stage", pa.string()),  # base | sync | upsampler
        ("path", pa.string()),
        ("sha256", pa.string()),
        ("step", pa.int64()),
        ("dataset_id", pa.string()),
        ("parent_checkpoint_id", pa.string()),
        ("run_id", pa.string()),
        ("config_json", pa.string()),
        ("metrics_json", pa.string()),
        ("created_at", TS),
        ("supersedes", pa.bool_()),  # this row replaces an earlier one with the same key
    ]
)

EVALUATIONS = pa.schema(
    [
        ("evaluation_id", pa.string()),
        ("checkpoint_id", pa.string()),
        ("dataset_id", pa.string()),
        ("metric", pa.string()),
        ("value", pa.float64()),
        ("details_json", pa.string()),
        ("run_id", pa.string()),
        ("created_at", TS),
        ("supersedes", pa.bool_()),  # this row replaces an earlier one with the same key
    ]
)

METRICS = pa.schema(
    [
        ("run_id", pa.string()),
        ("stage", pa.string()),  # base | sync | upsampler
        ("step", pa.int64()),
        ("name", pa.string()),  # train: loss, lr, ...; val: loss, loss@s=0.50, psnr/model, ...
        ("value", pa.float64()),
        ("created_at", TS),
        # Added with validation; older lakes gain them as null columns (catalog.store).
        ("split", pa.string()),  # train | val (null: a row written before validation existed)
        ("checkpoint_id", pa.string()),  # the checkpoint written at this step, if any
    ]
)

TABLES: dict[str, pa.Schema] = {
    "sources": SOURCES,
    "samples": SAMPLES,
    "shots": SHOTS,
    "datasets": DATASETS,
    "runs": RUNS,
    "checkpoints": CHECKPOINTS,
    "evaluations": EVALUATIONS,
    "metrics": METRICS,
}

# Keyed tables hold the latest row per key: a write of an existing key replaces
# its row (and sets ``supersedes``); earlier versions stay reachable by time
# travel (a run is written when it starts and again when it ends; a sample
# that failed may later succeed).
PRIMARY_KEYS: dict[str, str] = {
    "sources": "source_id",
    "samples": "sample_id",
    "shots": "shot_id",
    "datasets": "dataset_id",
    "runs": "run_id",
    "checkpoints": "checkpoint_id",
    "evaluations": "evaluation_id",
}

# Each table's rows are kept in this order in its data files (DuckLake's sorted
# tables: on INSERT, upserts included, on compaction and when inlined rows are
# flushed). The columns are the ones builders, dataset
# predicates and training filter on; Parquet min/max statistics then skip every
# row group but the few that hold the matching rows.
CLUSTER_BY: dict[str, tuple[str, ...]] = {
    "samples": ("kind", "source_id"),
    "shots": ("source_id",),
    "metrics": ("run_id", "step"),
}

# Keyed tables that grow to millions of rows keep the first 128 bits of the
# key's SHA-256 beside it, in two 64-bit halves written by the catalog on every
# insert (callers never pass them). An upsert scans only ``KEY_PREFIX`` of every
# file (10M samples: 80 MB instead of 680 MB of ids) to find candidate rows, and
# ``KEY_SUFFIX`` only in the files that hold a candidate to decide. Two
# different keys share both halves with probability n^2 / 2^129 (1e-21 for a
# billion rows), far below that of two samples hashing to one sample_id; a
# shared prefix only costs a file read more.
KEY_PREFIX = "key_prefix"
KEY_SUFFIX = "key_suffix"
DIGEST_COLUMNS: dict[str, str] = {KEY_PREFIX: "UBIGINT", KEY_SUFFIX: "UBIGINT"}
# The one-column 128-bit digest of lakes made before the halves: dropped when
# such a lake is opened; snapshots from before still hold it.
LEGACY_DIGEST = "key_digest"
DIGESTED: frozenset[str] = frozenset({"samples"})


def key_half_sql(column: str, half: int) -> str:
    """SQL for one 64-bit half (0: ``KEY_PREFIX``, 1: ``KEY_SUFFIX``) of a key
    column's digest: 16 hex digits of its SHA-256 (as ``key_digest_columns``)."""
    return f"CAST('0x' || substr(sha256(\"{column}\"), {1 + 16 * half}, 16) AS UBIGINT)"


def key_digest_columns(keys: pa.Array | pa.ChunkedArray) -> dict[str, pa.Array]:
    """The digest halves of a batch's keys, computed here: hashlib hashes 10k ids
    in ~5 ms, DuckDB's ``sha256`` in ~20 ms (``key_half_sql`` is the same digest,
    for rows already in a lake)."""
    raw = b"".join(hashlib.sha256(k.encode()).digest()[:16] for k in keys.to_pylist())
    words = np.frombuffer(raw, dtype=">u8").reshape(-1, 2).astype(np.uint64)
    return {name: pa.array(words[:, half]) for half, name in enumerate(DIGEST_COLUMNS)}


def key_digest_sql(prefix: str, suffix: str) -> str:
    """SQL for the whole 128-bit digest from its halves' SQL (matched in memory)."""
    return f"((CAST({prefix} AS UHUGEINT) << 64) | {suffix})"


# The samples' columns without the digests, for rows handed to people and
# programs (``*`` would add them; by name, a snapshot from before a column
# existed would fail).
SAMPLE_COLUMNS = f"COLUMNS(c -> c NOT IN ('{KEY_PREFIX}', '{KEY_SUFFIX}', '{LEGACY_DIGEST}'))"


# One row per keyed table, bumped by every write to that table. Two concurrent
# writers of one table both update its row, so DuckLake sees a conflict and
# one of them retries: no key is ever inserted twice.
WRITE_GUARD_TABLE = "table_versions"
WRITE_GUARD = pa.schema(
    [
        ("table_name", pa.string()),
        ("version", pa.int64()),
        ("updated_at", TS),
    ]
)
