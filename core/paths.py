"""The one data root (``FOURREAL_HOME``, default ``./data`` in the repo).

``FOURREAL_HOME`` may also be ``s3://bucket/prefix`` (core.fs):
samples then live in the bucket and are reached through the sample store by
their root-relative paths, while :func:`data_root` names the local folder
(``FOURREAL_LOCAL``, default ``./data``) for what must stay on this disk.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.fs import REPO_ROOT, is_remote, local_root


def data_root() -> Path:
    """Resolved local data root (the home itself unless it is on S3); created on first use."""
    home = os.environ.get("FOURREAL_HOME")
    if home and is_remote(home):
        return local_root()
    root = Path(home or REPO_ROOT / "data").expanduser().resolve()
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


def relative_to_root(
    path: str | os.PathLike, root: Path | None = None, resolved: bool = False
) -> str:
    """Path as stored in the catalog: relative to the data root when inside it.

    With an S3 data root a relative path is already root-relative (the
    store's paths); locally it is resolved against the working directory.
    ``resolved``: ``path`` and ``root`` are already resolved (a caller converting
    thousands of listed paths skips two ``resolve`` calls per path).
    """
    home = os.environ.get("FOURREAL_HOME")
    if home and is_remote(home) and not os.path.isabs(path):
        return str(path)
    if resolved and root is not None:  # string work only: no Path objects
        text, base = str(path), str(root).rstrip(os.sep) + os.sep
        return text[len(base) :] if text.startswith(base) else text
    root = (root or data_root()).resolve()
    p = Path(path).resolve()
    try:
        return str(p.relative_to(root))
    except ValueError:
        return str(p)


def store_location(path: str | os.PathLike) -> str:
    """Where the sample store should write ``path`` (a folder under the data root).

    Unchanged on a local data root (absolute paths, as before); root-relative on
    S3, where the store resolves it against ``FOURREAL_HOME``.
    """
    home = os.environ.get("FOURREAL_HOME")
    return relative_to_root(path) if home and is_remote(home) else str(path)
