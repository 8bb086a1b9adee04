"""Atomic file writes: write to a temporary sibling, fsync, then rename.

A process killed at any point leaves either the old file or the new one,
never a half-written file under the final name. Temporary names start with
``.tmp-`` so readers (and globbing) ignore them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

TMP_PREFIX = ".tmp-"


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename onto it on success."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=suffix or final.suffix, dir=final.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(final: str | os.PathLike, data: bytes) -> None:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(final: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(final, text.encode())


def save_npz_atomic(final: str | os.PathLike, **arrays: np.ndarray) -> None:
    """``np.savez`` (uncompressed, loadable with plain numpy) written atomically."""
    with atomic_path(final, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
