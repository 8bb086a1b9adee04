"""The demo's scores: whole-frame PSNR and the object's own pixels, with their baselines."""

from __future__ import annotations

import numpy as np

from flows.demo import grid_scores


def _object_grid(V: int = 3, T: int = 3, H: int = 16, W: int = 16) -> np.ndarray:
    """White frames with a red square that moves with t and shifts a little with v."""
    gt = np.full((V, T, H, W, 3), 255, np.uint8)
    for v in range(V):
        for t in range(T):
            gt[v, t, 4 + t : 8 + t, 4 + v : 8 + v] = (200, 30, 30)
    return gt


def test_a_blank_guess_scores_high_on_frames_but_not_on_the_object():
    gt = _object_grid()
    blank = np.full_like(gt, 255)
    blank[0, :], blank[:, 0] = gt[0, :], gt[:, 0]  # the conditioning frames are given
    s = grid_scores(blank, gt)
    rows = s["rows"]
    assert s["frames"] == 4
    assert rows["model"]["psnr"] == rows["background"]["psnr"] > 10
    assert rows["model"]["psnr_object"] == rows["background"]["psnr_object"] < rows["model"]["psnr"]
    assert 0 < s["object_pixels"] < 0.2  # 16 of 256 pixels per frame
    assert any("below it on this one grid" in line for line in s["verdicts"])
    assert not any("BEATS" in line for line in s["verdicts"])  # one grid decides nothing


def test_the_true_grid_is_perfect_on_the_object():
    gt = _object_grid()
    s = grid_scores(gt.copy(), gt)
    rows = s["rows"]
    assert rows["model"]["psnr_object"] == rows["model"]["psnr"] == 100.0  # capped
    assert rows["same_time"]["psnr_object"] < 100  # the object moves between views
    assert rows["same_view"]["psnr_object"] < 100  # and in time
    # above every baseline, but one grid gives no interval: reported, not claimed
    assert all("above it on this one grid" in line for line in s["verdicts"])
    assert not any("BEATS" in line for line in s["verdicts"])
