"""``checkpoints`` rows: registering a saved checkpoint and finding one back."""

from __future__ import annotations

import json
from pathlib import Path

from catalog.ids import checkpoint_id
from catalog.store import Catalog
from core.io import sha256_file
from core.paths import data_root, relative_to_root

STAGES = ("base", "sync", "upsampler")
FIND = """
SELECT * FROM checkpoints WHERE checkpoint_id = $ref OR path = $ref
ORDER BY created_at DESC LIMIT 1
"""


def register_checkpoint(
    catalog: Catalog,
    *,
    stage: str,
    path: str | Path,
    step: int,
    run_id: str | None,
    dataset_id: str | None = None,
    parent_checkpoint_id: str | None = None,
    config: dict | None = None,
    metrics: dict | None = None,
) -> dict:
    """Hash the file at ``path`` and append its row; returns the row."""
    if stage not in STAGES:
        raise ValueError(f"stage: {stage!r} is not one of {STAGES}")
    digest = sha256_file(path)
    row = {
        "checkpoint_id": checkpoint_id(digest, run_id, step),
        "stage": stage,
        "path": relative_to_root(path),
        "sha256": digest,
        "step": step,
        "dataset_id": dataset_id,
        "parent_checkpoint_id": parent_checkpoint_id,
        "run_id": run_id,
        "config_json": json.dumps(config or {}, sort_keys=True, default=str),
        "metrics_json": json.dumps(metrics or {}, sort_keys=True, default=str),
    }
    catalog.append("checkpoints", [row])
    return row


def get_checkpoint(
    catalog: Catalog, ref: str, stage: str | None = None, verify: bool = True
) -> dict:
    """A checkpoint row by id or path, checked for stage and sha256.

    Raises ValueError (naming the problem) when it is missing, of another
    stage, or its file no longer matches the recorded hash.
    """
    rows = catalog.rows(FIND, {"ref": str(ref)})
    if not rows:
        raise ValueError(f"checkpoint: no checkpoint with id or path {ref!r}")
    row = rows[0]
    if stage is not None and row["stage"] != stage:
        raise ValueError(
            f"checkpoint: {ref!r} is a {row['stage']!r} checkpoint, a {stage!r} one is needed"
        )
    if verify:
        file = checkpoint_file(row)
        if not file.exists():
            raise ValueError(f"checkpoint: file {file} of {ref!r} is missing")
        if sha256_file(file) != row["sha256"]:
            raise ValueError(f"checkpoint: sha256 mismatch for {file} (file changed on disk)")
    return row


def checkpoint_file(row: dict) -> Path:
    p = Path(row["path"])
    return p if p.is_absolute() else data_root() / p
