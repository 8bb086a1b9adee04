"""Generated videos for the video tests (real H.264 files, written once per session).

``prefect_harness``, ``ray_session`` and the session data root come from
``tests/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synthetic.videos import write_bad_inputs, write_video

# name -> (frames, height, width, rotation); every size and aspect differs
GOOD_VIDEOS = {
    "wide_72x128.mp4": (40, 72, 128, None),
    "square_96.mp4": (24, 96, 96, None),
    "portrait_120x90.mp4": (24, 120, 90, None),
    "rotated_48x64.mp4": (20, 48, 64, 90),  # displayed 64 high, 48 wide
}


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    for k, (name, (n, h, w, rot)) in enumerate(GOOD_VIDEOS.items()):
        write_video(folder / name, n, h, w, seed=k, rotation=rot)
    return folder


@pytest.fixture(scope="session")
def videos(video_dir) -> dict[str, Path]:
    return {name: video_dir / name for name in GOOD_VIDEOS}


@pytest.fixture(scope="session")
def bad_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad_videos")
    write_bad_inputs(folder)
    return folder
