"""Video curation on synthetic videos with known shots, modes, bars and duplicates.

Library tests call ``curate_video`` / ``process_source`` directly; one test
runs ``build_clips`` under Prefect with Ray over a small folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from catalog.store import Catalog
from core.paths import data_root
from core.sample_store import open_sample
from synthetic.curation_videos import (
    letterbox,
    pan_shot,
    shapes_shot,
    still_shot,
    write_edited_video,
    write_frames,
    write_undecodable,
)
from synthetic.videos import write_video
from tasks.videos.build import SourceSpec, VideoJob, process_source, settle_duplicates
from tasks.videos.curate import (
    DEFAULT_SHOT_FILTER,
    CurationError,
    CurationParams,
    ShotIndex,
    curate_video,
    select_shots,
)

BARS = 12  # rows of black on top and bottom of the letterboxed video
PILLARS = 16  # columns of black left and right of the pillarboxed video


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory) -> Path:
    """An edited video (pan | cut | shapes | fade | still), the same frames re-encoded
    under another name, a letterboxed and a pillarboxed video."""
    folder = tmp_path_factory.mktemp("curation")
    edited = write_edited_video(folder / "edited.mp4")
    frames = np.concatenate([pan_shot(40, 72, 128, 13), shapes_shot(40, 72, 128, 15)])
    write_frames(folder / "a_pair.mp4", frames, crf=12)
    write_frames(folder / "b_pair_reupload.mp4", frames, crf=26)  # other bytes, same look
    write_frames(folder / "letterboxed.mp4", letterbox(shapes_shot(40, 48, 128, 9), BARS, BARS))
    pillar = letterbox(shapes_shot(40, 72, 96, 11), 0, 0, PILLARS, PILLARS)
    write_frames(folder / "pillarboxed.mp4", pillar)
    assert edited.cuts == (40, 80)
    return folder


def job(out: Path, **kw) -> VideoJob:
    base = dict(
        kind="clip",
        times=4,
        height=32,
        width=64,
        out_dir=str(out),
        stride=2,
        clips_per_video=6,
        curation=CurationParams().model_dump(),
    )
    return VideoJob(**(base | kw))


def test_cuts_within_one_frame_and_modes_exact(clips_dir):
    meta, _, shots = curate_video(clips_dir / "edited.mp4")
    starts = [s.start for s in shots]
    assert len(shots) == 3 and starts[0] == 0 and shots[-1].end == meta.frames
    assert abs(starts[1] - 40) <= 1, starts  # hard cut
    assert shots[0].end == starts[1]  # a hard cut: contiguous, end exclusive
    # a 10-frame fade through black (75-79 out, 80-84 in): its frames are in neither shot
    assert 72 <= shots[1].end <= 75 and 85 <= starts[2] <= 88, (shots[1].end, starts[2])
    assert [s.mode for s in shots] == ["freeze_time", "dynamic", "static"]
    pan, moving, still = shots
    assert pan.mode_score == pan.scene_motion and "freeze_scene_motion" in pan.mode_rule
    assert pan.camera_motion > 10 * pan.scene_motion and pan.explained > 0.9
    assert moving.mode_score == moving.scene_motion > CurationParams().freeze_scene_motion
    assert still.mode_score == still.motion < CurationParams().static_motion
    assert all(s.borders.top == s.borders.bottom == 0 for s in shots)


def test_letterbox_and_pillarbox_detected_and_cropped_from_clips(clips_dir, tmp_path):
    _, _, (shot,) = curate_video(clips_dir / "letterboxed.mp4")
    b = shot.borders
    assert abs(b.top - BARS) <= 1 and abs(b.bottom - BARS) <= 1 and b.left == b.right == 0
    assert shot.mode == "dynamic"
    _, _, (shot,) = curate_video(clips_dir / "pillarboxed.mp4")
    b = shot.borders
    assert abs(b.left - PILLARS) <= 1 and abs(b.right - PILLARS) <= 1 and b.top == b.bottom == 0
    res = process_source(SourceSpec(str(clips_dir / "letterboxed.mp4")), job(tmp_path))
    assert res.sample_rows and all(r["status"] == "ok" for r in res.sample_rows)
    for row in res.sample_rows:
        with open_sample(row["path"], row["sample_id"]) as sample:
            frames = sample.frames()
        # no black bar left in any clip: the darkest row is as bright as the scene
        assert frames.mean(axis=(0, 2, 3)).min() > 40


def test_reupload_under_another_name_is_a_duplicate(clips_dir, tmp_path):
    index = ShotIndex(CurationParams().dedup_bits)
    first = process_source(SourceSpec(str(clips_dir / "a_pair.mp4")), job(tmp_path), index=index)
    second = process_source(
        SourceSpec(str(clips_dir / "b_pair_reupload.mp4")), job(tmp_path), index=index
    )
    assert first.source_row["sha256"] != second.source_row["sha256"]
    assert [r["duplicate_of"] for r in first.shot_rows] == [None, None]
    assert [r["duplicate_of"] for r in second.shot_rows] == [r["shot_id"] for r in first.shot_rows]
    assert first.sample_rows and not second.sample_rows and second.shots_selected == 0
    again = process_source(SourceSpec(str(clips_dir / "a_pair.mp4")), job(tmp_path), index=index)
    assert [r["duplicate_of"] for r in again.shot_rows] == [None, None]  # a rerun is stable


def test_the_earlier_video_keeps_a_look_whichever_finishes_first(clips_dir, tmp_path):
    """The re-upload (second in the build) is curated first; the original still wins."""
    index = ShotIndex(CurationParams().dedup_bits)
    spec_a, spec_b = (SourceSpec(str(clips_dir / n)) for n in ("a_pair.mp4", "b_pair_reupload.mp4"))
    late = process_source(spec_b, job(tmp_path), index=_Ranked(index, 1))
    assert [r["duplicate_of"] for r in late.shot_rows] == [None, None] and late.sample_rows
    files = [data_root() / r["path"] for r in late.sample_rows]
    early = process_source(spec_a, job(tmp_path), index=_Ranked(index, 0))
    assert [r["duplicate_of"] for r in early.shot_rows] == [None, None]
    settle_duplicates([early, late], index.final(), job(tmp_path))
    assert [r["duplicate_of"] for r in late.shot_rows] == [r["shot_id"] for r in early.shot_rows]
    assert late.sample_rows == [] and late.shots_selected == 0 and early.sample_rows
    assert not any(f.exists() for f in files)
    assert late.retracted and all(
        r["status"] == "failed" and r["path"] is None and "retracted" in r["error"]
        for r in late.retracted
    )  # recorded rows of the removed clips are superseded, not left dangling


class _Ranked:
    """``ShotIndex`` as a build's worker sees it: with the video's place in the input."""

    def __init__(self, index: ShotIndex, order: int):
        self.index, self.order = index, order

    def check_all(self, shots):
        return self.index.check_all(shots, self.order)


def test_clips_never_span_a_cut_and_take_the_mined_mode(clips_dir, tmp_path):
    res = process_source(SourceSpec(str(clips_dir / "edited.mp4")), job(tmp_path))
    ranges = [(r["start_frame"], r["end_frame"], r["mode"]) for r in res.shot_rows]
    assert res.shots_selected == 2  # the static shot is filtered out
    modes = set()
    for row in res.sample_rows:
        idx = json.loads(row["params_json"])["derived"]["frame_indices"]
        (shot,) = [(a, b, m) for a, b, m in ranges if a <= idx[0] < b]
        assert idx[-1] < shot[1], (idx, shot)
        assert row["mode"] == shot[2] != "static"
        modes.add(row["mode"])
    assert modes == {"freeze_time", "dynamic"}
    labelled = process_source(
        SourceSpec(str(clips_dir / "edited.mp4"), mode="dynamic"), job(tmp_path)
    )
    assert {r["mode"] for r in labelled.sample_rows} == {"dynamic"}  # the manifest wins


def test_grids_never_span_a_cut(clips_dir, tmp_path):
    grid_job = job(tmp_path, kind="grid_pseudo4d", views=2, clips_per_video=4, times=8, stride=1)
    res = process_source(SourceSpec(str(clips_dir / "edited.mp4")), grid_job)
    cuts = [r["start_frame"] for r in res.shot_rows][1:]
    assert len(res.sample_rows) == 4
    for row in res.sample_rows:
        idx = json.loads(row["params_json"])["derived"]["frame_indices"]
        assert not any(idx[0] < c <= idx[-1] for c in cuts), (idx, cuts)


def test_short_shots_are_skipped_and_counted_never_padded(clips_dir, tmp_path):
    res = process_source(
        SourceSpec(str(clips_dir / "edited.mp4")), job(tmp_path, times=30, stride=2)
    )  # a clip spans 59 frames, every shot has ~40
    assert res.shots_selected == 2 and res.shots_too_short == 2 and res.sample_rows == []
    assert res.source_row["status"] == "ok"
    fast = process_source(
        SourceSpec(str(clips_dir / "edited.mp4")), job(tmp_path, fps=60.0, stride=None)
    )
    (row,) = fast.sample_rows  # a target rate above the source's: one failed row, no clip
    assert row["status"] == "failed" and "below the target" in row["error"]


def test_bad_inputs_become_failed_rows(tmp_path):
    one = write_frames(tmp_path / "one_frame.mp4", still_shot(1, 32, 48))
    broken = write_undecodable(tmp_path / "no_frames.mp4")
    vfr = write_video(
        tmp_path / "vfr.mp4",
        40,
        32,
        48,
        frame_durations_ms=[33 if k % 2 else 100 for k in range(40)],
    )
    reasons = {}
    for p in (one, broken, vfr):
        res = process_source(SourceSpec(str(p)), job(tmp_path / "out"))
        assert res.source_row["status"] == "failed" and not res.sample_rows and not res.shot_rows
        reasons[p.name] = res.source_row["error"]
    assert "1 frame" in reasons["one_frame.mp4"]
    assert "cannot decode" in reasons["no_frames.mp4"]
    assert "variable frame rate" in reasons["vfr.mp4"]
    with pytest.raises(CurationError, match="1 frame"):
        curate_video(one)


def test_shot_filter_is_sql_checked_before_work(clips_dir):
    from flows.build_pseudo4d import ClipParams, Pseudo4DParams

    with pytest.raises(ValidationError, match="shot_filter"):
        ClipParams(source=str(clips_dir), shot_filter="no_such_column > 1")
    with pytest.raises(ValidationError, match="shot_filter"):
        Pseudo4DParams(source=str(clips_dir), shot_filter="true; DROP TABLE shots")
    with pytest.raises(ValueError, match="shot_filter"):
        select_shots([], "true) UNION SELECT * FROM read_csv('/etc/passwd'")
    assert ClipParams(source=str(clips_dir), shot_filter="mode = 'dynamic'").shot_filter


def test_cli_json_last_line(clips_dir, tmp_path):
    from typer.testing import CliRunner

    from fourreal.cli import app

    out = CliRunner().invoke(app, ["curate", str(clips_dir / "edited.mp4"), "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(doc) == {"shots", "fps"} and doc["fps"] == pytest.approx(30.0)
    assert [type(doc["shots"][0][k]) for k in ("start", "end", "mode", "motion")] == [
        int,
        int,
        str,
        float,
    ]
    assert [s["mode"] for s in doc["shots"]] == ["freeze_time", "dynamic", "static"]
    assert doc["shots"][0]["start"] == 0 and doc["shots"][-1]["end"] == 120
    bad = CliRunner().invoke(app, ["curate", str(write_undecodable(tmp_path / "none.mp4"))])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1
    assert "cannot decode" in bad.output


def test_build_clips_records_shots_and_dedups_across_videos(
    prefect_harness, ray_session, clips_dir, tmp_path
):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.build_pseudo4d import ClipParams, build_clips

    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in ("edited.mp4", "a_pair.mp4", "b_pair_reupload.mp4", "letterboxed.mp4"):
        shutil.copy(clips_dir / name, folder / name)
    shutil.copy(clips_dir / "edited.mp4", folder / "edited_same_bytes.mp4")
    s = build_clips(
        ClipParams(
            source=str(folder),
            times=4,
            height=32,
            width=64,
            stride=2,
            clips_per_video=2,
            output_dir="test_curated_clips",
            num_cpus=2,
        )
    )
    assert s["sources"] == 5 and s["sources_failed"] == 0 and s["sources_same_bytes"] == 1
    assert s["shots_duplicate"] == 2 and s["shot_modes"]["static"] == 1
    shots = Catalog().rows(
        "SELECT * FROM shots WHERE run_id = ? ORDER BY uri, start_frame", [s["run_id"]]
    )
    assert len(shots) == 3 + 2 + 2 + 1  # the same bytes under two names: recorded once
    dups = [r for r in shots if r["duplicate_of"]]
    assert {Path(r["uri"]).name for r in dups} == {"b_pair_reupload.mp4"}
    kept = Catalog().rows(
        f"SELECT shot_id FROM shots WHERE run_id = ? AND ({DEFAULT_SHOT_FILTER})", [s["run_id"]]
    )
    assert len(kept) == 2 + 2 + 1  # edited: pan + shapes; a_pair: both; letterboxed
    samples = Catalog().rows(
        "SELECT * FROM samples WHERE run_id = ? AND status = 'ok'", [s["run_id"]]
    )
    assert all((data_root() / r["path"]).is_file() for r in samples)
    used = {json.loads(r["params_json"])["shot_id"] for r in samples}
    assert used == {r["shot_id"] for r in kept}

    async def artifacts():
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_="curation-"))
            )

    import asyncio

    found = asyncio.run(artifacts())
    assert len({a.key for a in found}) >= 4
    assert any("freeze_time" in (a.data or "") for a in found)


def test_shot_filter_cannot_read_the_temp_directory(tmp_path, monkeypatch):
    """DuckDB allows its temp directory (``<cwd>/.tmp``) even with file access off."""
    monkeypatch.chdir(tmp_path)
    leak = tmp_path / ".tmp" / "leak.csv"
    leak.parent.mkdir()
    leak.write_text("shot_id\nabc\n")
    rows = [{"shot_id": "abc"}]
    assert select_shots(rows, "shot_id = 'abc'") == {"abc"}
    with pytest.raises(ValueError, match="Permission Error"):
        select_shots(rows, f"shot_id IN (SELECT shot_id FROM read_csv('{leak}'))")
