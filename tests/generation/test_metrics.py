"""PSNR / SSIM against hand-computed values; consistency ranks known grids; learned-metric gating."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tasks.evaluation.metrics import (
    LPIPS,
    LPIPS_BACKBONE,
    LPIPS_LINEAR,
    frame_metrics,
    gaussian_window,
    grid_consistency,
    learned_metrics,
    learned_metrics_status,
    psnr,
    ssim,
)
from tests.generation.conftest import plane_grid, random_grid

C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def test_psnr_hand_values():
    a = np.zeros((4, 4, 3), np.uint8)
    b = np.full((4, 4, 3), 10, np.uint8)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 100))  # MSE 100: 28.1308 dB
    c = a.copy()
    c[0, 0, 0] = 255  # one pixel off by 255 among 48 values: MSE = 255^2 / 48
    assert psnr(a, c) == pytest.approx(10 * math.log10(48))
    assert psnr(a, a) == math.inf


def test_ssim_constant_images_closed_form():
    # Constant images: no variance, SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    a, b = 100.0, 150.0
    x = np.full((16, 16), a, np.uint8)
    y = np.full((16, 16), b, np.uint8)
    assert ssim(x, y) == pytest.approx((2 * a * b + C1) / (a * a + b * b + C1), rel=1e-9)
    assert ssim(x, x) == pytest.approx(1.0)


def test_ssim_single_window_matches_weighted_statistics():
    # An 11x11 image has one valid window: SSIM is the Gaussian-weighted formula at the centre.
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (11, 11)).astype(np.uint8)
    y = np.clip(x + rng.normal(0, 30, x.shape), 0, 255).astype(np.uint8)
    w = gaussian_window(11, 1.5)
    xf, yf = x.astype(float), y.astype(float)
    mx, my = (w * xf).sum(), (w * yf).sum()
    vx, vy = (w * xf * xf).sum() - mx**2, (w * yf * yf).sum() - my**2
    cxy = (w * xf * yf).sum() - mx * my
    expected = (2 * mx * my + C1) * (2 * cxy + C2) / ((mx**2 + my**2 + C1) * (vx + vy + C2))
    assert ssim(x, y) == pytest.approx(expected, rel=1e-9)
    # colour: the mean over channels
    xc, yc = np.stack([x, x, y], -1), np.stack([y, x, y], -1)
    assert ssim(xc, yc) == pytest.approx((expected + 2.0) / 3.0, rel=1e-9)


def test_ssim_orders_degradations_and_rejects_small_images():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    light = np.clip(x + rng.normal(0, 5, x.shape), 0, 255).astype(np.uint8)
    heavy = np.clip(x + rng.normal(0, 60, x.shape), 0, 255).astype(np.uint8)
    assert 1.0 > ssim(x, light) > ssim(x, heavy)
    assert ssim(x, light) == pytest.approx(ssim(light, x))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(x[:8, :8], x[:8, :8])


def test_frame_metrics_only_scores_masked_frames():
    gt = np.zeros((2, 2, 16, 16, 3), np.uint8)
    pred = gt.copy()
    pred[1, 1] = 10  # the only frame scored
    pred[0, 0] = 200  # a conditioning frame: ignored
    mask = np.array([[False, False], [False, True]])
    out = frame_metrics(pred, gt, mask)
    assert out["frames"] == 1
    assert out["psnr"] == pytest.approx(10 * math.log10(255**2 / 100))
    with pytest.raises(ValueError, match="no frame"):
        frame_metrics(pred, gt, np.zeros((2, 2), bool))


@pytest.mark.parametrize("detector", ["sift", "orb"])
def test_consistency_ranks_consistent_above_random(detector):
    good = grid_consistency(plane_grid(4, 3, 32, 64), detector, min_side=256)
    bad = grid_consistency(random_grid(4, 3, 32, 64), detector, min_side=256)
    for key in ("consistency_freeze_time", "consistency_fixed_view"):
        assert good[key] > bad[key] + 0.2, (key, good, bad)
    # The plain inlier ratio (inliers / matches) is reported but not ranked
    # here: RANSAC fits any 8 random matches, so on random content it is noisy.
    assert all(0.0 <= v <= 1.0 for v in (*good.values(), *bad.values()))


def test_learned_metrics_skipped_without_weights(tmp_path):
    missing = tmp_path / "nothing_here"
    usable, lines = learned_metrics_status({"lpips": str(missing), "fid": None})
    assert usable == {}
    assert f"lpips: skipped: no weights at {missing}" in lines
    assert len(lines) == 5 and all("skipped:" in line for line in lines)
    gt = [np.zeros((2, 2, 16, 16, 3), np.uint8)]
    assert learned_metrics(gt, gt, {"lpips": str(missing)}) == {}


def test_lpips_runs_from_local_files(tmp_path):
    # Weight files in the published formats, filled with seeded random values: this checks the
    # loading and the arithmetic (d(x, x) = 0, d >= 0), not the published numbers.
    gen = torch.Generator().manual_seed(0)
    shapes = {
        0: (64, 3, 11, 11),
        3: (192, 64, 5, 5),
        6: (384, 192, 3, 3),
        8: (256, 384, 3, 3),
        10: (256, 256, 3, 3),
    }
    backbone = {}
    for i, shape in shapes.items():
        backbone[f"features.{i}.weight"] = torch.randn(shape, generator=gen) * 0.05
        backbone[f"features.{i}.bias"] = torch.zeros(shape[0])
    backbone["classifier.1.weight"] = torch.zeros(4, 4)  # ignored
    torch.save(backbone, tmp_path / LPIPS_BACKBONE)
    lin = {
        f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=gen)
        for i, c in enumerate(LPIPS.CHANNELS)
    }
    torch.save(lin, tmp_path / LPIPS_LINEAR)

    usable, lines = learned_metrics_status({"lpips": str(tmp_path)})
    assert usable == {"lpips": tmp_path} and not any(line.startswith("lpips") for line in lines)
    a = plane_grid(3, 3, 16, 32, seed=1)
    b = plane_grid(3, 3, 16, 32, seed=2)
    assert learned_metrics([a], [a], {"lpips": str(tmp_path)})["lpips"] == pytest.approx(
        0.0, abs=1e-6
    )
    assert learned_metrics([a], [b], {"lpips": str(tmp_path)})["lpips"] > 0.0
    with pytest.raises(ValueError, match="lpips_weights"):
        LPIPS(tmp_path / "missing")
