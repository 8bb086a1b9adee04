"""``build_objaverse_grids`` under Prefect and Ray: good and broken objects together."""

from __future__ import annotations

import shutil

import pytest

from catalog.store import Catalog
from core.io import sha256_file
from core.paths import data_root
from core.sample_store import open_sample
from tests.renderers.assets import write_bad_inputs

pytestmark = pytest.mark.usefixtures("prefect_harness", "ray_session")

PARAMS = dict(
    views=3,
    times=3,
    height=32,
    width=32,
    num_workers=2,
    timeout_s=8.0,
    max_triangles=2000,
    output_dir="grids/test_flow",
    contact_sheet_grids=2,
)


def test_flow_renders_good_objects_fails_bad_ones_and_is_idempotent(demo_objects, tmp_path):
    from prefect.artifacts import Artifact

    from flows.build_objaverse import build_grids

    folder = tmp_path / "objects"
    folder.mkdir()
    for p in demo_objects:
        shutil.copy(p, folder / p.name)
    expected = write_bad_inputs(folder, hang=True)
    assert len(expected) == 11

    first = build_grids(source=str(folder), **PARAMS)
    assert first["ok"] == 3 and first["failed"] == 11 and first["skipped"] == 0
    for name, fragment in expected.items():
        error = next(e for uri, e in first["failures"].items() if uri.endswith(name))
        assert fragment in error, (name, error)

    cat = Catalog()
    samples = cat.rows("SELECT * FROM samples WHERE run_id = ?", [first["run_id"]])
    ok = [r for r in samples if r["status"] == "ok"]
    assert sorted(r["sample_id"] for r in ok) == sorted(first["sample_ids"])
    assert sum(r["status"] == "failed" and bool(r["error"]) for r in samples) == 11
    for row in ok:
        path = data_root() / row["path"]
        assert row["sha256"] == sha256_file(path)
        assert (row["kind"], row["recipe"], row["v"], row["t"], row["h"], row["w"]) == (
            "grid_objaverse",
            "render_gltf",
            3,
            3,
            32,
            32,
        )
        with open_sample(path) as sample:
            z = sample.export()
            assert z["rgb"].shape == (3, 3, 32, 32, 3) and (z["alpha"] > 0).any()
            assert row["bytes"] == path.stat().st_size
    sources = cat.rows("SELECT * FROM sources WHERE run_id = ?", [first["run_id"]])
    assert len(sources) == 14 and sum(s["status"] == "failed" for s in sources) == 11
    run = cat.rows("SELECT status, outputs_json FROM runs WHERE run_id = ?", [first["run_id"]])
    assert run[0]["status"] == "completed" and first["sample_ids"][0] in run[0]["outputs_json"]

    table = Artifact.get("build-objaverse-grids-summary")
    assert table is not None and "too_many_triangles.glb" in str(table.data)
    assert first["contact_sheet"] and (data_root() / first["contact_sheet"]).is_file()

    # rerun: the good samples are skipped, the broken ones are tried again (no hang now)
    (folder / "hang.gltf").unlink()
    second = build_grids(source=str(folder), **PARAMS)
    assert second["ok"] == 0 and second["failed"] == 10 and second["skipped"] == 3
    assert sorted(second["skipped_ids"]) == sorted(first["sample_ids"])


def test_store_quality_is_a_build_option_and_part_of_the_sample_id(demo_objects, tmp_path):
    from flows.build_objaverse import build_grids
    from tasks.metrics import psnr

    folder = tmp_path / "objects"
    folder.mkdir()
    shutil.copy(demo_objects[0], folder / demo_objects[0].name)
    params = dict(PARAMS, output_dir="grids/test_quality", height=64, width=64)
    default = build_grids(source=str(folder), **params)
    lossy = build_grids(source=str(folder), video_crf=40, **params)
    assert default["ok"] == lossy["ok"] == 1 and lossy["skipped"] == 0  # not the same sample
    assert default["sample_ids"] != lossy["sample_ids"]
    again = build_grids(source=str(folder), video_crf=40, **params)
    assert again["skipped_ids"] == lossy["sample_ids"]

    rows = {r["sample_id"]: r for r in Catalog().rows("SELECT * FROM samples")}
    exact, coarse = rows[default["sample_ids"][0]], rows[lossy["sample_ids"][0]]
    assert '"quality": {"crf": 40}' in coarse["params_json"]
    assert "quality" not in exact["params_json"]
    assert coarse["bytes"] < exact["bytes"]
    with (
        open_sample(data_root() / exact["path"]) as a,
        open_sample(data_root() / coarse["path"]) as b,
    ):
        ref, got = a.grid(), b.grid()
    assert 20 < psnr(got, ref) < 50  # crf 40 is visibly lossy, yet the same render
