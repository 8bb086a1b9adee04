"""The one data root (``FOURREAL_HOME``, default ``./data`` in the repo)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def data_root() -> Path:
    """Resolved data root; created on first use."""
    root = Path(os.environ.get("FOURREAL_HOME", REPO_ROOT / "data")).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def catalog_dir(root: Path | None = None) -> Path:
    return (root or data_root()) / "catalog"


def within_root(path: str | os.PathLike, root: Path | None = None) -> Path:
    """Resolve ``path`` (relative paths are relative to the root) and refuse escapes."""
    root = (root or data_root()).resolve()
    p = Path(path).expanduser()
    p = (p if p.is_absolute() else root / p).resolve()
    if p != root and root not in p.parents:
        raise ValueError(f"path {str(path)!r} is outside the data root {root}")
    return p


def relative_to_root(path: str | os.PathLike, root: Path | None = None) -> str:
    """Path as stored in the catalog: relative to the data root when inside it."""
    root = (root or data_root()).resolve()
    p = Path(path).resolve()
    try:
        return str(p.relative_to(root))
    except ValueError:
        return str(p)
