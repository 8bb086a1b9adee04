"""``fourreal view`` on an S3 data root (a real SeaweedFS): samples are read from the bucket."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from typer.testing import CliRunner

from catalog.store import Catalog
from core import fs
from core.paths import data_root
from fourreal import viewer
from fourreal.cli import app
from tests.view.rrd import components, decode, psnr, read_rrd

runner = CliRunner()


@pytest.fixture
def s3_sample(rendered_sample, seaweedfs, monkeypatch, tmp_path):
    """The rendered sample's file in the bucket only, under the root-relative path its
    catalog row names, and that row in the catalog of this S3 root (on the local disk)."""
    local = viewer.read_sample_file(rendered_sample["path"])  # before the root moves
    data = rendered_sample["path"].read_bytes()
    rel = str(rendered_sample["path"].relative_to(data_root()))
    for key, value in seaweedfs.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FOURREAL_LOCAL", str(tmp_path / "local"))
    monkeypatch.setenv("FOURREAL_HOME", f"s3://{seaweedfs.bucket}/view-{uuid.uuid4().hex[:8]}")
    fs.put_bytes(rel, data)
    assert not fs.home().is_local and fs.exists(rel)
    assert not (data_root() / rel).exists()  # nothing of it on the local disk
    cat = Catalog()
    cat.init()
    cat.append("samples", [{**rendered_sample["row"], "path": rel}])
    return rendered_sample["sample_id"], rel, local


def _save(target: str, out) -> dict:
    res = runner.invoke(app, ["view", target, "--save", str(out)])
    assert res.exit_code == 0, res.output
    return read_rrd(out)


def test_view_reads_the_sample_from_the_bucket(s3_sample, tmp_path):
    sid, rel, local = s3_sample
    root = f"/{sid[:16]}"
    for target in (sid, rel):  # by catalog id, and by the file's root-relative path
        rows = _save(target, tmp_path / "view.rrd")
        (doc,) = components(rows[f"{root}/catalog"], "TextDocument:text")
        assert sid in doc["TextDocument:text"][0]  # the catalog row came along
        V, T = local["rgb"].shape[:2]
        for v in range(V):
            frames = components(rows[f"{root}/world/cameras/v{v:02d}/image"], "EncodedImage:blob")
            assert sorted(r["t"] for r in frames) == list(range(T))
            for r in frames:
                assert psnr(decode(r["EncodedImage:blob"][0]), local["rgb"][v, r["t"]]) > 30
            alpha = components(
                rows[f"{root}/world/cameras/v{v:02d}/image/alpha"], "EncodedImage:blob"
            )
            for r in alpha:
                np.testing.assert_array_equal(
                    decode(r["EncodedImage:blob"][0]), local["alpha"][v, r["t"]]
                )


def test_a_sample_missing_from_the_bucket_is_one_line(s3_sample, tmp_path):
    sid, rel, _ = s3_sample
    fs.delete(rel)
    out = tmp_path / "never.rrd"
    res = runner.invoke(app, ["view", sid, "--save", str(out)])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "its file 's3://" in lines[0] and "is missing" in lines[0], lines
    assert not out.exists()


def test_a_generated_grid_on_the_local_disk_of_an_s3_root(s3_sample, tmp_path):
    """Generation writes its grids on the local disk (FOURREAL_LOCAL) even on an S3 root,
    under the root-relative path its row records: the viewer finds them there."""
    from tasks.generation.pipeline import register_grid, write_grid
    from tests.generation.conftest import plane_grid

    grid = plane_grid(2, 3, 24, 32, seed=5)
    path = write_grid(data_root() / "generated" / "s3view" / "grid.npz", grid, np.arange(3.0))
    gid = "ab" * 32
    row = register_grid(Catalog(), gid, path, grid, {"inputs": {}}, None)
    assert not fs.exists(row["path"]) and (data_root() / row["path"]).is_file()
    rows = _save(gid, tmp_path / "gen.rrd")
    for v in range(2):
        frames = components(rows[f"/{gid[:16]}/grid/v{v:02d}"], "EncodedImage:blob")
        assert sorted(r["t"] for r in frames) == [0, 1, 2]
        for r in frames:
            assert psnr(decode(r["EncodedImage:blob"][0]), grid[v, r["t"]]) > 30
