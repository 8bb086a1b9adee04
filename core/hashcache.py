"""sha256 of local files, remembered across processes by (path, size, mtime_ns, inode).

A rebuild of an unchanged corpus must not read every source again: hashing 10,000
objects reads all their bytes, which costs more than everything else a no-op
rebuild does. The digest of a file is kept in a SQLite table under the local
root (``<local>/cache/sha256.sqlite``) with the file's size, modification time
(ns) and inode. Any edit changes the size or mtime, and a file replaced by
another (rename, ``cp -p``) changes the inode, so a stale digest is never served:
the file is hashed again and the row replaced. Touching a file only costs one
re-hash. A lost or corrupt cache file is just a cold cache.

SQLite (stdlib) rather than a JSON file: concurrent builds each add their rows
without rewriting, let alone clobbering, each other's.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from core.fs import local_root
from core.io import sha256_file

FILENAME = "sha256.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS hashes (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, inode INTEGER, sha256 TEXT
)
"""
# Rows are looked up in chunks: SQLite caps the number of bound parameters.
CHUNK = 900


def cache_path() -> Path:
    return local_root() / "cache" / FILENAME


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30)
    con.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
    con.execute(SCHEMA)
    return con


def _open(path: Path) -> sqlite3.Connection:
    try:
        return _connect(path)
    except sqlite3.DatabaseError:  # not a database (truncated, overwritten): start over
        path.unlink(missing_ok=True)
        return _connect(path)


def _stat_key(path: str) -> tuple[int, int, int] | OSError:
    try:
        st = os.stat(path)
    except OSError as e:
        return e
    return st.st_size, st.st_mtime_ns, st.st_ino


def _known(con: sqlite3.Connection, paths: Sequence[str]) -> dict[str, tuple]:
    found: dict[str, tuple] = {}
    for i in range(0, len(paths), CHUNK):
        part = paths[i : i + CHUNK]
        marks = ",".join("?" * len(part))
        sql = f"SELECT path, size, mtime_ns, inode, sha256 FROM hashes WHERE path IN ({marks})"
        for path, *rest in con.execute(sql, part):
            found[path] = tuple(rest)
    return found


def sha256_files(paths: Sequence[str | os.PathLike]) -> list[str | OSError]:
    """The sha256 of each file, or the ``OSError`` that reading it raised.

    Files whose (size, mtime_ns, inode) match the cache are not read.
    """
    names = [os.path.abspath(p) for p in paths]
    # stat before reading: a file edited while it is hashed gets a newer mtime than the
    # one stored, so its next lookup misses instead of serving a digest of mixed bytes
    keys = [_stat_key(p) for p in names]
    with contextlib.closing(_open(cache_path())) as con:
        known = _known(con, sorted(set(names)))
        fresh: dict[str, tuple] = {}  # path -> (size, mtime_ns, inode, sha256)
        errors: dict[str, OSError] = {}
        for name, key in zip(names, keys, strict=True):
            if isinstance(key, OSError):
                errors[name] = key
                continue
            hit = fresh.get(name) or known.get(name)
            if hit is None or hit[:3] != key:
                try:
                    fresh[name] = (*key, sha256_file(name))
                except OSError as e:
                    errors[name] = e
        if fresh:
            with con:
                con.executemany(
                    "INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?)",
                    [(name, *row) for name, row in fresh.items()],
                )
    return [errors.get(n) or (fresh.get(n) or known[n])[3] for n in names]


def sha256_file_cached(path: str | os.PathLike) -> str:
    """The sha256 of one file through the cache; ``OSError`` when it cannot be read."""
    digest = sha256_files([path])[0]
    if isinstance(digest, OSError):
        raise digest
    return digest
