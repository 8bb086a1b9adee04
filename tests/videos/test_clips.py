"""Clip sampling, crop + resize against the source, and clips cut from grids."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.grid import fixed_view_video, freeze_time_video
from core.resize import center_crop_box, crop_resize
from core.video import decode_frames, probe_video
from synthetic.videos import render_frame
from tasks.videos.clips import (
    ClipError,
    clip_from_grid,
    clips_from_grid,
    decode_clip,
    plan_clips,
)


def test_plan_by_stride_and_by_fps():
    (clip,) = plan_clips(100, 30.0, times=4, stride=3)
    assert clip.frame_indices == (0, 3, 6, 9)
    (clip,) = plan_clips(100, 30.0, times=4, fps=10.0)
    assert clip.frame_indices == (0, 3, 6, 9) and clip.fps(30.0) == pytest.approx(10.0)
    (clip,) = plan_clips(100, 25.0, times=5, fps=10.0)  # step 2.5, rounded
    assert clip.frame_indices == (0, 2, 5, 8, 10)


def test_several_clips_spread_without_overlap():
    clips = plan_clips(100, 30.0, times=8, stride=2, clips_per_video=4)
    assert len(clips) == 4 and [c.clip_index for c in clips] == [0, 1, 2, 3]
    assert clips[0].frame_indices[0] == 0 and clips[-1].frame_indices[-1] == 99
    for a, b in zip(clips, clips[1:], strict=False):
        assert a.frame_indices[-1] < b.frame_indices[0]
    # a short video yields as many as fit
    assert len(plan_clips(20, 30.0, times=8, stride=1, clips_per_video=5)) == 2


def test_plan_refuses_what_cannot_be_cut():
    with pytest.raises(ClipError, match="needs 4 frames"):
        plan_clips(3, 30.0, times=4, stride=1)
    with pytest.raises(ClipError, match="below the target"):
        plan_clips(100, 10.0, times=4, fps=30.0)
    with pytest.raises(ClipError, match="from frame 98"):
        plan_clips(100, 30.0, times=4, stride=1, start=98)


@pytest.mark.parametrize(
    "src,out,box",
    [
        ((72, 128), (36, 64), (0, 0, 72, 128)),
        ((96, 96), (32, 64), (24, 0, 48, 96)),
        ((120, 90), (32, 64), (37, 0, 45, 90)),
        ((64, 160), (32, 64), (0, 16, 64, 128)),
    ],
)
def test_center_crop_box_keeps_output_aspect(src, out, box):
    assert center_crop_box(*src, *out) == box


@pytest.mark.parametrize("name", ["wide_72x128.mp4", "square_96.mp4", "portrait_120x90.mp4"])
def test_frames_match_source_after_crop_and_resize(videos, name):
    """Clip frames equal the true frames cropped and resized by PIL (up to codec loss)."""
    path = videos[name]
    meta = probe_video(path)
    (clip,) = plan_clips(meta.frames, meta.fps, times=4, stride=2)
    frames = decode_clip(path, clip.frame_indices, meta, 32, 64)  # what builds and the CLI do
    assert np.array_equal(
        frames, crop_resize(decode_frames(path, clip.frame_indices, meta), 32, 64)
    )
    assert frames.shape == (4, 32, 64, 3) and frames.dtype == np.uint8
    seed = list(videos).index(name)
    top, left, ch, cw = center_crop_box(meta.height, meta.width, 32, 64)
    for k, i in enumerate(clip.frame_indices):
        truth = render_frame(i, meta.height, meta.width, seed)[top : top + ch, left : left + cw]
        ref = np.asarray(Image.fromarray(truth).resize((64, 32), Image.BOX), np.float64)
        assert np.abs(frames[k] - ref).mean() < 8.0, (name, i)  # H.264 4:2:0 loss
        other = render_frame(i + 2, meta.height, meta.width, seed)[top : top + ch, left : left + cw]
        ref2 = np.asarray(Image.fromarray(other).resize((64, 32), Image.BOX), np.float64)
        assert np.abs(frames[k] - ref).mean() < np.abs(frames[k] - ref2).mean()


def test_crop_resize_large_shrink_matches_area_average():
    from synthetic.videos import render_frame

    src = np.stack([render_frame(i, 720, 1280) for i in (0, 9)])
    out = crop_resize(src, 288, 512)
    for k in range(2):
        ref = np.asarray(Image.fromarray(src[k]).resize((512, 288), Image.BOX), np.float64)
        assert np.abs(out[k] - ref).mean() < 1.0


def test_crop_resize_identity_and_upscale():
    x = np.random.default_rng(0).integers(0, 256, (2, 32, 64, 3), dtype=np.uint8)
    assert np.array_equal(crop_resize(x, 32, 64), x)
    up = crop_resize(x, 64, 128)
    assert up.shape == (2, 64, 128, 3)
    assert abs(up.astype(float).mean() - x.astype(float).mean()) < 1.0


def test_clips_from_grid_are_the_design_slices(tmp_path):
    v, t = 3, 5
    grid = np.random.default_rng(1).integers(0, 256, (v, t, 8, 12, 3), dtype=np.uint8)
    clips = list(clips_from_grid(grid))
    assert [(m, i) for m, i, _ in clips] == [("freeze_time", i) for i in range(t)] + [
        ("dynamic", i) for i in range(v)
    ]
    for mode, i, frames in clips:
        if mode == "freeze_time":  # camera moves over the V views, time frozen at t=i
            assert frames.shape == (v, 8, 12, 3)
            assert np.array_equal(frames, grid[:, i])
            assert np.array_equal(frames, freeze_time_video(grid, i))
        else:  # camera fixed at view i, time moves
            assert frames.shape == (t, 8, 12, 3)
            assert np.array_equal(frames, grid[i, :])
            assert np.array_equal(frames, fixed_view_video(grid, i))
    np.savez(tmp_path / "g.npz", grid=grid)
    from_file = list(clips_from_grid(tmp_path / "g.npz"))
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(clips, from_file, strict=True))
    with pytest.raises(ValueError, match="mode"):
        clip_from_grid(grid, "static", 0)
    with pytest.raises(ValueError, match="index"):
        clip_from_grid(grid, "dynamic", v)
