"""Probing and decoding real generated videos, good and bad."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from core.video import VideoError, decode_frames, probe_video
from synthetic.videos import BAD_INPUT_REASONS, render_frame


def _mad(a, b) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def test_probe_reads_frames_fps_size(videos):
    m = probe_video(videos["wide_72x128.mp4"])
    assert (m.frames, m.height, m.width, m.rotation) == (40, 72, 128, 0)
    assert m.fps == pytest.approx(30.0)
    assert m.duration == pytest.approx(40 / 30)
    assert m.codec == "h264"
    assert m.to_json()["size"] == [128, 72]


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_decoded_frames_are_the_source_frames(videos, backend):
    path = videos["wide_72x128.mp4"]
    m = probe_video(path)
    idx = [0, 7, 8, 31]
    frames = decode_frames(path, idx, m, backend=backend)
    assert frames.shape == (4, 72, 128, 3) and frames.dtype == np.uint8
    for k, i in enumerate(idx):
        assert _mad(frames[k], render_frame(i, 72, 128, seed=0)) < 8.0  # H.264 4:2:0, crf 12
        near = range(max(0, i - 3), i + 4)
        errors = [_mad(frames[k], render_frame(j, 72, 128, seed=0)) for j in near]
        assert list(near)[int(np.argmin(errors))] == i  # the exact frame, not a neighbour


def test_decord_and_pyav_agree(videos):
    path = videos["square_96.mp4"]
    m = probe_video(path)
    a = decode_frames(path, [3, 10, 20], m, backend="decord")
    b = decode_frames(path, [3, 10, 20], m, backend="pyav")
    assert _mad(a, b) < 1.0


def test_rotated_metadata_is_honoured(videos):
    """Frames come back as players show them: same as ffmpeg's autorotated output."""
    path = videos["rotated_48x64.mp4"]
    m = probe_video(path)
    assert (m.rotation, m.height, m.width, m.coded_height, m.coded_width) == (90, 64, 48, 48, 64)
    frames = decode_frames(path, [0, 5], m)
    assert frames.shape == (2, 64, 48, 3)
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-vf",
            "select=eq(n\\,5)",
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    ffmpeg_frame = np.frombuffer(raw, np.uint8).reshape(64, 48, 3)
    assert _mad(frames[1], ffmpeg_frame) < 1.0
    # counter-clockwise quarter turn of the encoded picture
    encoded = render_frame(5, 48, 64, seed=3)
    right, wrong = _mad(frames[1], np.rot90(encoded, 1)), _mad(frames[1], np.rot90(encoded, -1))
    assert right < 12.0 and right < 0.5 * wrong


@pytest.mark.parametrize("name", sorted(set(BAD_INPUT_REASONS) - {"too_few_frames.mp4"}))
def test_bad_inputs_are_refused_with_a_reason(bad_dir, name):
    with pytest.raises(VideoError, match=BAD_INPUT_REASONS[name]):
        probe_video(bad_dir / name)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(VideoError, match="file not found"):
        probe_video(tmp_path / "nope.mp4")


def test_huge_frames_are_refused_before_allocation(bad_dir):
    """The 16000x16000 header is refused from the header; its file is a few KB."""
    path = bad_dir / "huge_16000.y4m"
    assert path.stat().st_size < 10_000
    with pytest.raises(VideoError, match="16000x16000 too large"):
        probe_video(path)
    # a higher cap lets it through the size check; it then fails as truncated, not OOM
    with pytest.raises(VideoError):
        probe_video(path, max_pixels=300_000_000)


def test_decode_out_of_range_index(videos):
    path = videos["square_96.mp4"]
    m = probe_video(path)
    with pytest.raises(VideoError, match="out of range"):
        decode_frames(path, [0, m.frames], m)
