"""``fs.existing``: which recorded sample files are there, from one listing of the folder."""

from __future__ import annotations

import pytest

from core import fs


@pytest.fixture
def home(monkeypatch, tmp_path):
    monkeypatch.setenv("FOURREAL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def check_existing(write) -> None:
    """Some present, one vanished, one in another folder, one absolute: by listing or not."""
    present = [f"out/{k:02d}/s{k}.zip" for k in range(6)]
    for p in present:
        write(p)
    write("older/s9.zip")
    paths = [*present, "out/07/gone.zip", "older/s9.zip", "older/missing.zip"]
    want = {*present, "older/s9.zip"}
    for list_at in (1, 1000):  # one listing of out/; a check per path
        assert fs.existing(paths, "out", list_at=list_at) == want
    fs.delete(present[0])  # a file that vanished after it was recorded
    assert fs.existing(paths, "out", list_at=1) == want - {present[0]}
    assert fs.existing([], "out") == set()


def test_existing_on_a_local_root(home, tmp_path):
    def write(rel):
        fs.put_bytes(rel, b"x")

    check_existing(write)
    outside = tmp_path / "elsewhere.zip"
    outside.write_bytes(b"x")
    assert fs.existing([str(outside), str(home / "out/a.zip")], "out", list_at=1) == {str(outside)}
    # an absolute path inside the listed folder is answered by the listing too
    fs.put_bytes("out/b.zip", b"x")
    assert fs.existing([str(home / "out/b.zip")], "out", list_at=1) == {str(home / "out/b.zip")}
