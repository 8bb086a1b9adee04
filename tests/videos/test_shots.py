"""Shot boundaries: a fade only the fade detector sees, and clips that end inside their shot."""

from __future__ import annotations

import numpy as np
import pytest

from synthetic.curation_videos import fade_through_black, shapes_shot
from tasks.videos.build import VideoJob, plan_shot_clips
from tasks.videos.curate import CurationParams, Shot, curate_frames, shrink
from tasks.videos.scores import Borders
from tasks.videos.shots import ShotDetection, detect_cuts

FPS = 30.0


def gray(frames: np.ndarray) -> np.ndarray:
    """Black and white footage: hue and saturation are zero in every frame."""
    y = frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.repeat(y.round().astype(np.uint8)[..., None], 3, axis=-1)


def content_cuts(small: np.ndarray, cfg: ShotDetection) -> list[int]:
    """What PySceneDetect's ContentDetector alone finds, fed as ``detect_cuts`` feeds it."""
    from scenedetect import ContentDetector
    from scenedetect.common import FrameTimecode

    det = ContentDetector(threshold=cfg.cut_threshold, min_scene_len=cfg.min_shot_frames)
    cuts = []
    for i, frame in enumerate(small):
        tc = FrameTimecode(i, fps=FPS)
        cuts += [c.frame_num for c in det.process_frame(tc, np.ascontiguousarray(frame[..., ::-1]))]
    return cuts + [c.frame_num for c in det.post_process(tc)]


def test_a_slow_fade_in_black_and_white_is_found_by_the_fade_detector():
    """Without colour, a 20-frame fade changes luma by a few levels per frame: below the
    content detector's threshold. Only the fade detector's cut, in the dark run, splits it."""
    first, second = gray(shapes_shot(40, 72, 128, 3)), gray(shapes_shot(40, 72, 128, 8))
    frames = fade_through_black(first, second, 20)
    params = CurationParams()
    cfg = params.detection()
    small = shrink(frames, params.analysis_width)
    assert content_cuts(small, cfg) == []  # the premise: the content detector sees no cut
    dark = np.flatnonzero(small.mean(axis=(1, 2, 3)) < cfg.fade_threshold)
    assert len(dark) >= 2 and dark[0] <= len(first) <= dark[-1]
    cuts = detect_cuts(small, FPS, cfg)
    assert len(cuts) == 1, f"the fade is not a cut: {cuts}"
    cut = cuts[0]
    assert dark[0] <= cut <= dark[-1] and abs(cut - len(first)) <= 1
    shots = curate_frames(frames, FPS, params)
    (a, a_end), (b, b_end) = [(s.start, s.end) for s in shots]
    assert a == 0 and b_end == len(frames)
    # the faded frames (30-39 out, 40-49 in) belong to neither shot
    assert 27 <= a_end <= 30 and 50 <= b <= 53, (a_end, b)


def shot(start: int, end: int) -> Shot:
    return Shot(
        start=start, end=end, mode="dynamic", mode_score=0.0, mode_rule="", motion=0.0,
        camera_motion=0.0, scene_motion=0.0, explained=0.0, blank_fraction=0.0,
        borders=Borders(), phash=[],
    )  # fmt: skip


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_clips_end_inside_their_shot_even_when_it_holds_exactly_one(stride):
    """A shot exactly one clip long gets that clip, ending on the shot's last frame."""
    times = 4
    span = (times - 1) * stride + 1
    bounds = [(0, span), (span, 3 * span + 1), (3 * span + 1, 4 * span)]  # 1 clip, 2, too short
    shots = [shot(a, b) for a, b in bounds]
    job = VideoJob(kind="clip", times=times, height=8, width=8, out_dir="/unused",
                   stride=stride, clips_per_video=10)  # fmt: skip
    planned, too_short = plan_shot_clips(shots, FPS, job)
    assert too_short == 1
    assert [s.start for s, _ in planned] == [0, span, span]
    for s, plan in planned:
        idx = plan.frame_indices
        assert len(idx) == times and list(idx) == sorted(idx)
        assert s.start <= idx[0] and idx[-1] <= s.end - 1, (idx, s.start, s.end)
        assert np.all(np.diff(idx) == stride)
    first = planned[0][1].frame_indices
    assert first[0] == 0 and first[-1] == span - 1  # the one-clip shot: its last frame exactly
    assert [p.clip_index for _, p in planned] == [0, 1, 2]
