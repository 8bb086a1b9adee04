"""Deterministic identifiers: the same inputs always give the same id."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: a stable text for hashing."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\x00")
    return h.hexdigest()


def sample_id(source_sha256: str, recipe: str, recipe_version: str, params: dict) -> str:
    """sha256 of source content + recipe + its version + canonical parameters."""
    return _digest("sample", source_sha256, recipe, recipe_version, canonical_json(params))


def content_hash_of_ids(ids: list[str]) -> str:
    return _digest("ids", *sorted(ids))


def dataset_id(name: str, content_hash: str) -> str:
    return _digest("dataset", name, content_hash)[:32]


def checkpoint_id(sha256: str, run_id: str | None, step: int) -> str:
    return _digest("checkpoint", sha256, run_id or "", str(step))[:32]


def evaluation_id(checkpoint_id: str, dataset_id: str, metric: str, run_id: str) -> str:
    return _digest("evaluation", checkpoint_id, dataset_id, metric, run_id)[:32]


def shot_id(source_sha256: str, start: int, end: int, recipe_version: str, params: dict) -> str:
    """sha256 of source content + frame range + curation recipe version and parameters."""
    return _digest(
        "shot", source_sha256, str(start), str(end), recipe_version, canonical_json(params)
    )[:32]
