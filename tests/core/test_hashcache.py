"""The cross-process source-hash cache: served while a file is unchanged, never once it changed."""

from __future__ import annotations

import os
import sqlite3

import pytest

from core.hashcache import cache_path, sha256_file_cached, sha256_files
from core.io import sha256_file

FAKE = "f" * 64


@pytest.fixture
def local(monkeypatch, tmp_path):
    monkeypatch.setenv("FOURREAL_LOCAL", str(tmp_path / "local"))
    return tmp_path


def _plant(path, digest: str) -> None:
    """Overwrite the cached digest of ``path``: what the cache serves is then recognisable."""
    with sqlite3.connect(cache_path()) as con:
        con.execute("UPDATE hashes SET sha256 = ? WHERE path = ?", [digest, str(path)])
    con.close()


def test_unchanged_file_is_served_from_the_cache(local):
    f = local / "a.glb"
    f.write_bytes(b"one")
    assert sha256_file_cached(f) == sha256_file(f)
    _plant(f, FAKE)
    assert sha256_file_cached(f) == FAKE  # not read again


def test_an_edit_of_the_same_size_invalidates_by_mtime(local):
    f = local / "a.glb"
    f.write_bytes(b"one")
    st = f.stat()
    sha256_file_cached(f)
    _plant(f, FAKE)
    f.write_bytes(b"two")  # same size, same inode
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000))
    assert sha256_file_cached(f) == sha256_file(f)


def test_a_resize_invalidates_even_with_the_old_mtime(local):
    f = local / "a.glb"
    f.write_bytes(b"one")
    st = f.stat()
    sha256_file_cached(f)
    _plant(f, FAKE)
    f.write_bytes(b"longer")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime put back
    assert sha256_file_cached(f) == sha256_file(f)


def test_unreadable_files_come_back_as_errors_the_rest_hashed(local):
    good = local / "good.glb"
    good.write_bytes(b"ok")
    out = sha256_files([good, local / "missing.glb", good])
    assert out[0] == out[2] == sha256_file(good)
    assert isinstance(out[1], FileNotFoundError)


def test_a_corrupt_cache_file_is_a_cold_cache(local):
    f = local / "a.glb"
    f.write_bytes(b"one")
    cache_path().parent.mkdir(parents=True, exist_ok=True)
    cache_path().write_bytes(b"not a database" * 100)
    assert sha256_file_cached(f) == sha256_file(f)
