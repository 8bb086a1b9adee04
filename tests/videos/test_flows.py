"""``build_pseudo4d`` and ``build_clips`` under Prefect with a local Ray, on real files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from catalog.store import Catalog
from core.io import sha256_file
from core.paths import data_root
from core.sample_store import open_sample
from core.video import probe_video
from synthetic.videos import BAD_INPUT_REASONS, write_bad_inputs
from tasks.videos.build import discover_sources, grid_from_video
from tasks.videos.clips import decode_clip
from tasks.videos.pseudo4d import warp_frames

SAMPLES_OF_RUN = "SELECT * FROM samples WHERE run_id = ? ORDER BY sample_id"
SOURCES_OF_RUN = "SELECT * FROM sources WHERE run_id = ? ORDER BY uri"


@pytest.fixture(scope="module")
def corpus(video_dir, tmp_path_factory) -> Path:
    """Good videos of four sizes (one rotated) and every bad input, in one folder."""
    folder = tmp_path_factory.mktemp("corpus")
    for f in video_dir.iterdir():
        shutil.copy(f, folder / f.name)
    write_bad_inputs(folder)
    return folder


@pytest.fixture(scope="module")
def pseudo4d_params(corpus):
    from flows.build_pseudo4d import Pseudo4DParams

    return Pseudo4DParams(
        source=str(corpus),
        views=4,
        times=4,
        height=32,
        width=64,
        stride=2,
        clips_per_video=2,
        seed=1,
        output_dir="test_pseudo4d",
        num_cpus=2,
    )


@pytest.fixture(scope="module")
def first_build(prefect_harness, ray_session, pseudo4d_params):
    from flows.build_pseudo4d import build_pseudo4d

    return build_pseudo4d(pseudo4d_params)


def test_params_are_validated_before_work(corpus):
    from flows.build_pseudo4d import ClipParams, Pseudo4DParams

    with pytest.raises(ValidationError, match="fps"):
        Pseudo4DParams(source=str(corpus), fps=10, stride=2)
    with pytest.raises(ValidationError, match="height"):
        Pseudo4DParams(source=str(corpus), height=30)
    with pytest.raises(ValidationError, match="output_dir"):
        ClipParams(source=str(corpus), output_dir="/etc/elsewhere")
    with pytest.raises(ValidationError, match="max_zoom"):
        Pseudo4DParams(source=str(corpus), bounds={"min_zoom": 2.0, "max_zoom": 1.5})
    with pytest.raises(ValidationError, match="clips_per_video"):
        ClipParams(source=str(corpus), clips_per_video=0)


def test_build_writes_grids_and_failed_rows(first_build, corpus, pseudo4d_params):
    s = first_build
    n_bad = len(BAD_INPUT_REASONS) - 1  # too_few_frames is a good video, too short for T
    assert s["sources"] == 4 + len(BAD_INPUT_REASONS)
    assert s["sources_failed"] == n_bad
    assert s["samples_written"] == 8 and s["samples_failed"] == 0 and s["samples_skipped"] == 0
    # curation: each good video is one dynamic shot; the 3-frame one is filtered out
    assert s["shots"] == 5 and s["shots_selected"] == 4 and s["shot_modes"]["dynamic"] == 5
    cat = Catalog()
    sources = {Path(r["uri"]).name: r for r in cat.rows(SOURCES_OF_RUN, [s["run_id"]])}
    for name, reason in BAD_INPUT_REASONS.items():
        row = sources[name]
        if name == "too_few_frames.mp4":
            assert row["status"] == "ok"
        else:
            assert row["status"] == "failed" and reason in row["error"], (name, row["error"])
    rot = json.loads(sources["rotated_48x64.mp4"]["meta_json"])
    assert rot["rotation"] == 90 and rot["size"] == [48, 64]
    assert sources["wide_72x128.mp4"]["sha256"] == sha256_file(corpus / "wide_72x128.mp4")

    samples = cat.rows(SAMPLES_OF_RUN, [s["run_id"]])
    assert all(r["status"] == "ok" for r in samples)
    short = cat.rows(
        "SELECT * FROM shots WHERE source_id = ?", [sources["too_few_frames.mp4"]["sha256"]]
    )
    assert [(r["start_frame"], r["end_frame"]) for r in short] == [(0, 3)]
    ok = [r for r in samples if r["status"] == "ok"]
    assert sorted(r["sample_id"] for r in ok) == sorted(s["sample_ids"])
    for row in ok:
        assert (row["kind"], row["recipe"], row["v"], row["t"], row["h"], row["w"]) == (
            "grid_pseudo4d",
            "pseudo4d_affine",
            4,
            4,
            32,
            64,
        )
        path = data_root() / row["path"]
        assert row["sha256"] == sha256_file(path)
        params = json.loads(row["params_json"])
        with open_sample(path) as sample:
            assert sample.kind == "grid_pseudo4d" and row["bytes"] == path.stat().st_size
            d = sample.export()
            assert sorted(d) == ["affine", "frame_indices", "frames", "grid"]
            assert np.array_equal(d["affine"], np.array(params["derived"]["camera"]["affine"]))
            assert d["frame_indices"].tolist() == params["derived"]["frame_indices"]
            assert np.array_equal(d["grid"], warp_frames(d["frames"], d["affine"], "opencv"))
    assert (data_root() / s["contact_sheet"]).is_file()


def test_flow_sample_equals_cli_export(first_build, corpus):
    """Clip 0 of the flow is what ``fourreal pseudo4d`` writes for the same seed and stride."""
    cat = Catalog()
    wide = sha256_file(corpus / "wide_72x128.mp4")
    rows = [
        r
        for r in cat.rows(SAMPLES_OF_RUN, [first_build["run_id"]])
        if r["source_id"] == wide and json.loads(r["params_json"])["clip_index"] == 0
    ]
    (row,) = rows
    export = grid_from_video(corpus / "wide_72x128.mp4", 4, 4, 32, 64, seed=1, stride=2)
    with open_sample(data_root() / row["path"]) as sample:
        d = sample.export()
        for key in ("grid", "frames", "affine", "frame_indices"):
            assert np.array_equal(d[key], export[key]), key
        meta = probe_video(corpus / "wide_72x128.mp4")
        clip = decode_clip(corpus / "wide_72x128.mp4", d["frame_indices"], meta, 32, 64)
        assert np.array_equal(d["frames"], clip)


def test_rerun_skips_what_exists_and_redoes_what_is_missing(first_build, pseudo4d_params):
    from flows.build_pseudo4d import build_pseudo4d

    paths = {
        sid: data_root() / r["path"]
        for sid, r in (
            (r["sample_id"], r)
            for r in Catalog().rows(SAMPLES_OF_RUN, [first_build["run_id"]])
            if r["status"] == "ok"
        )
    }
    mtimes = {sid: p.stat().st_mtime_ns for sid, p in paths.items()}
    victim = sorted(paths)[0]
    paths[victim].unlink()
    again = build_pseudo4d(pseudo4d_params)
    assert again["samples_written"] == 1 and again["sample_ids"] == [victim]
    assert again["samples_skipped"] == 7
    for sid, p in paths.items():
        if sid != victim:
            assert p.stat().st_mtime_ns == mtimes[sid]
    assert paths[victim].is_file()
    latest = Catalog().rows("SELECT status, run_id FROM samples WHERE sample_id = ?", [victim])
    assert latest == [{"status": "ok", "run_id": again["run_id"]}]


def test_build_clips_from_manifest(prefect_harness, ray_session, videos, tmp_path):
    from flows.build_pseudo4d import ClipParams, build_clips

    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "path,mode,caption,license\n"
        f"{videos['wide_72x128.mp4']},dynamic,moving shapes,CC-BY-4.0\n"
        f"{videos['square_96.mp4']},freeze_time,,CC0\n"
        "does/not/exist.mp4,dynamic,,CC0\n"
        f"{videos['portrait_120x90.mp4']},static,,CC0\n"
    )
    s = build_clips(
        ClipParams(
            source=str(manifest),
            times=4,
            height=32,
            width=64,
            stride=3,
            clips_per_video=2,
            output_dir="test_clips",
            num_cpus=2,
        )
    )
    assert s["sources"] == 4 and s["sources_failed"] == 2
    errors = sorted(f["error"] for f in s["failures"])
    assert "file not found" in errors[0] and "mode 'static'" in errors[1]
    rows = Catalog().rows(SAMPLES_OF_RUN, [s["run_id"]])
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    modes = sorted({r["mode"] for r in rows})
    assert modes == ["dynamic", "freeze_time"]
    for r in rows:
        assert (r["kind"], r["recipe"], r["v"], r["t"], r["h"], r["w"]) == (
            "clip",
            "clip",
            1,
            4,
            32,
            64,
        )
        with open_sample(data_root() / r["path"]) as sample:
            d = sample.export()
            assert d["frames"].shape == (4, 32, 64, 3) and d["frames"].dtype == np.uint8
            assert str(d["mode"]) == r["mode"]
            assert float(d["fps"]) == pytest.approx(10.0)
            assert np.diff(d["frame_indices"]).tolist() == [3, 3, 3]
        if r["mode"] == "dynamic":
            assert json.loads(r["params_json"])["derived"]["caption"] == "moving shapes"
    src = Catalog().rows(SOURCES_OF_RUN, [s["run_id"]])
    assert {r["license"] for r in src} == {"CC-BY-4.0", "CC0"}


def test_discover_sources_parquet_manifest_and_glob(videos, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table(
            {
                "path": ["wide_72x128.mp4", "square_96.mp4"],
                "mode": ["dynamic", None],
                "licence": ["CC0", "CC0"],
            }
        ),
        videos["wide_72x128.mp4"].parent / "m.parquet",
    )
    specs = discover_sources(str(videos["wide_72x128.mp4"].parent / "m.parquet"))
    assert [Path(s.path).name for s in specs] == ["wide_72x128.mp4", "square_96.mp4"]
    assert specs[0].mode == "dynamic" and specs[1].mode is None and specs[0].license == "CC0"
    found = discover_sources(str(videos["wide_72x128.mp4"].parent / "*_96*.mp4"))
    assert [Path(s.path).name for s in found] == ["square_96.mp4"]
    with pytest.raises(ValueError, match="source"):
        discover_sources(str(tmp_path / "nothing_here"))
    (videos["wide_72x128.mp4"].parent / "m.parquet").unlink()
