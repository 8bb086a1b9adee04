"""Issue 22, finding 1: sample files are deterministic, and the first whole file wins.

Two processes in different time zones write the same sample: the bytes must be equal
(ZIP members used to carry each writer's local time). A second writer of a file named
after its sample id keeps the first file and reports its hash, locally and on S3.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import fs, sample_store

REPO = Path(__file__).resolve().parents[2]

# writes one rendered grid, one clip and one pseudo-4D sample from seeded arrays
WRITER = """
import sys
import numpy as np
from core import sample_store

out = sys.argv[1]
rng = np.random.default_rng(7)
V, T, H, W = 2, 5, 30, 46
rgb = rng.integers(0, 256, (V, T, H, W, 3), dtype=np.uint8)
sample_store.write_rendered(
    f"{out}/r.zip", rgb=rgb, alpha=rng.integers(0, 256, (V, T, H, W), dtype=np.uint8),
    depth=rng.random((V, T, H, W), dtype=np.float32), K=np.eye(3)[None].repeat(V, 0),
    w2c=np.eye(4)[None].repeat(V, 0), times=np.arange(T, dtype=np.float64), sample_id="r",
)
sample_store.write_clip(f"{out}/c.zip", frames=rgb[0], frame_indices=np.arange(T), fps=8.0,
                 mode="dynamic", quality={"codec": "h264rgb"})
sample_store.write_pseudo4d(f"{out}/p.zip", frames=rgb[1], affine=np.zeros((3, 2, 3)), seed=1,
                     frame_indices=np.arange(T), backend="opencv")
"""


def _write_in(tz: str, out: Path) -> dict[str, bytes]:
    out.mkdir()
    env = {**os.environ, "TZ": tz, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", WRITER, str(out)], check=True, env=env, cwd=REPO)
    return {name: (out / name).read_bytes() for name in ("r.zip", "c.zip", "p.zip")}


def test_the_same_sample_written_by_two_processes_has_the_same_bytes(tmp_path):
    # nine hours apart: with member times from the clock, every file would differ
    east, west = _write_in("Asia/Tokyo", tmp_path / "a"), _write_in("UTC", tmp_path / "b")
    for name in east:
        assert east[name] == west[name], name


def _other_pixels(rendered: dict) -> dict:
    other = dict(rendered)
    other["rgb"] = 255 - rendered["rgb"]
    return other


def _first_writer_wins(rendered: dict, sid: str, path: str, read) -> None:
    first = sample_store.write_rendered(path, **rendered, sample_id=sid)
    # another writer of the same id with other bytes (another node's encoder, say)
    second = sample_store.write_rendered(path, **_other_pixels(rendered), sample_id=sid)
    assert (second.sha256, second.bytes) == (first.sha256, first.bytes)
    assert hashlib.sha256(read(path)).hexdigest() == first.sha256  # the file is the first
    # a damaged file at that path is not a whole sample: it is replaced
    fs.put_bytes(path, read(path)[: first.bytes // 2])
    third = sample_store.write_rendered(path, **_other_pixels(rendered), sample_id=sid)
    assert third.sha256 != first.sha256
    assert hashlib.sha256(read(path)).hexdigest() == third.sha256


def test_a_sample_file_named_after_its_id_keeps_the_first_whole_copy(tmp_path, rendered):
    sid = "a1" * 32
    path = sample_store.sample_path(tmp_path / "grids", sid)
    _first_writer_wins(rendered, sid, path, lambda p: Path(p).read_bytes())
    assert [p.name for p in Path(path).parent.iterdir()] == [f"{sid}.zip"]  # no temp left
    # a path not named after the sample (an export, a generated grid) is overwritten
    out = tmp_path / "out.zip"
    sample_store.write_rendered(out, **rendered, sample_id=sid)
    again = sample_store.write_rendered(out, **_other_pixels(rendered), sample_id=sid)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == again.sha256


@pytest.fixture
def s3_home(seaweedfs, monkeypatch, tmp_path):
    for key, value in seaweedfs.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FOURREAL_LOCAL", str(tmp_path / "local"))
    monkeypatch.setenv("FOURREAL_HOME", f"s3://{seaweedfs.bucket}/home-issue22-first-writer")
    return seaweedfs


def test_on_s3_the_first_whole_copy_is_kept_too(s3_home, rendered):
    sid = "b2" * 32
    _first_writer_wins(rendered, sid, sample_store.sample_path("grids", sid), fs.read_bytes)
