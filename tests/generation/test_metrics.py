"""PSNR / SSIM against hand-computed values; consistency ranks known grids (and no frozen grid
above ground truth); the learned metrics' statistics, their full path with tiny random networks,
and their gating on local weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import linalg

from tasks.evaluation import distribution, dust3r, perceptual
from tasks.evaluation.learned import learned_metrics, load_networks
from tasks.evaluation.weights import LEARNED_METRICS, import_problem, locate, metric_status
from tasks.metrics import (
    frame_metrics,
    gaussian_window,
    grid_consistency,
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


@pytest.fixture(scope="module")
def moving_grid() -> np.ndarray:
    return plane_grid(4, 4, 32, 64, seed=1)  # 16x32 frames carry too few features


def test_frozen_grids_never_score_above_ground_truth(moving_grid):
    gt = moving_grid
    ref = grid_consistency(gt)
    assert ref["consistency_freeze_time"] > 0.3 and ref["consistency_fixed_view"] > 0.3
    frozen = {
        "all": np.broadcast_to(gt[:1, :1], gt.shape).copy(),  # one frame everywhere
        "views": np.broadcast_to(gt[:1], gt.shape).copy(),  # every view is view 0
        "times": np.broadcast_to(gt[:, :1], gt.shape).copy(),  # every time is time 0
    }
    scores = {k: grid_consistency(g) for k, g in frozen.items()}
    for name, s in scores.items():
        assert s["consistency"] < ref["consistency"], (name, s, ref)
    # along a frozen axis nothing moved: no evidence, score 0
    assert scores["all"]["consistency_freeze_time"] == scores["all"]["consistency_fixed_view"] == 0
    assert scores["views"]["consistency_freeze_time"] == 0
    assert scores["times"]["consistency_fixed_view"] == 0


# ------------------------------------------------------------------ learned metrics: statistics
def gaussian_set(n: int, mean: np.ndarray, cov: np.ndarray, seed: int) -> torch.Tensor:
    """``n`` samples whose *sample* mean and (unbiased) covariance are exactly ``mean``, ``cov``."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, len(mean)))
    z -= z.mean(0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T  # whitened: cov = I
    return torch.from_numpy(z @ np.linalg.cholesky(cov).T + mean)


def analytic_frechet(m1, c1, m2, c2) -> float:
    s1 = linalg.sqrtm(c1)
    return float(np.sum((m1 - m2) ** 2) + np.trace(c1 + c2 - 2 * linalg.sqrtm(s1 @ c2 @ s1)).real)


def test_frechet_of_identical_sets_is_zero():
    x = gaussian_set(64, np.zeros(3), np.eye(3), seed=0)
    assert distribution.frechet_and_kernel(x, x)["frechet"] == pytest.approx(0.0, abs=1e-6)


def test_frechet_of_known_gaussians_is_analytic():
    # diagonal: |m1 - m2|^2 + sum (sigma1 - sigma2)^2, by hand
    m1, m2 = np.array([0.0, 1.0]), np.array([3.0, -1.0])
    c1, c2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    out = distribution.frechet_and_kernel(
        gaussian_set(500, m1, c1, 1), gaussian_set(400, m2, c2, 2)
    )
    assert out["frechet"] == pytest.approx(9 + 4 + (1 - 3) ** 2 + (2 - 1) ** 2, rel=1e-6)
    # full covariances: the closed form with matrix square roots
    a = np.array([[2.0, 0.6, 0.1], [0.6, 1.0, -0.3], [0.1, -0.3, 0.5]])
    b = np.array([[1.0, -0.2, 0.0], [-0.2, 3.0, 0.4], [0.0, 0.4, 0.7]])
    m1, m2 = np.array([0.5, 0.0, -1.0]), np.array([0.0, 2.0, 1.0])
    out = distribution.frechet_and_kernel(gaussian_set(300, m1, a, 3), gaussian_set(300, m2, b, 4))
    assert out["frechet"] == pytest.approx(analytic_frechet(m1, a, m2, b), rel=1e-6)


def test_kid_is_the_unbiased_polynomial_mmd():
    x = gaussian_set(40, np.zeros(4), np.eye(4), 5)
    y = gaussian_set(40, np.ones(4), 2 * np.eye(4), 6)
    out = distribution.frechet_and_kernel(x, y)  # subset = whole set: every subset is the same

    def k(a, b):
        return (a @ b.T / a.shape[1] + 1) ** 3

    m = len(x)
    kxx, kyy, kxy = k(x.numpy(), x.numpy()), k(y.numpy(), y.numpy()), k(x.numpy(), y.numpy())
    mmd = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    mmd -= 2 * kxy.mean()
    assert out["kid_mean"] == pytest.approx(mmd, rel=1e-6) and out["kid_std"] < 1e-9
    same = distribution.frechet_and_kernel(x, x)
    assert abs(same["kid_mean"]) < 0.05 * out["kid_mean"]


# ------------------------------------------------------------------ learned metrics: full path
class TinyFrames(torch.nn.Module):
    """A tiny random image network: uint8 [N, 3, H, W] -> [N, 8] (stands in for Inception)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2)
        self.num_features = 8

    def forward(self, x):
        return self.conv(x.float() / 255).relu().mean(dim=(2, 3))


class TinyVideos(torch.nn.Module):
    """A tiny random video network: uint8 [B, T, H, W, 3] -> [B, 6] (stands in for I3D)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = torch.nn.Conv3d(3, 6, 3)
        self.num_features = 6

    def forward(self, v):
        x = torch.from_numpy(distribution.stretch_video(v.numpy())).permute(0, 4, 1, 2, 3)
        return self.conv(x.float() / 255).tanh().mean(dim=(2, 3, 4))


class TinyPerceptual(torch.nn.Module):
    """A tiny random LPIPS-like distance on [-1, 1] images: mean squared random-feature difference."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, a, b):
        return (self.conv(a) - self.conv(b)).square().mean(dim=(1, 2, 3))


class TinyClip(torch.nn.Module):
    """encode_image of a tiny random network (stands in for an open_clip model)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.conv = torch.nn.Conv2d(3, 16, 5, stride=4)

    def encode_image(self, x):
        return self.conv(x).mean(dim=(2, 3))


def tiny_networks() -> dict:
    def preprocess(img):  # PIL -> [3, 32, 32] in [-1, 1], like a CLIP transform
        return torch.from_numpy(np.array(img.resize((32, 32)))).permute(2, 0, 1).float() / 127.5 - 1

    return {
        "fid": TinyFrames(),
        "fvd": TinyVideos(),
        "lpips": TinyPerceptual(),
        "clip": perceptual.ClipImages(TinyClip(), preprocess),
    }


def test_learned_metrics_full_path_with_tiny_networks():
    gts = [plane_grid(3, 4, 16, 32, seed=s) for s in (1, 2, 3)]
    nets = tiny_networks()
    same = learned_metrics(gts, [g.copy() for g in gts], nets)
    assert set(same) == {"fid", "kid", "kid_std", "fvd", "lpips", "clip_score"}
    assert same["fid"] == pytest.approx(0, abs=1e-6) and same["fvd"] == pytest.approx(0, abs=1e-6)
    assert same["lpips"] == 0 and same["clip_score"] == pytest.approx(100, abs=1e-4)
    noisy = [random_grid(3, 4, 16, 32, seed=10 * s) for s in (1, 2, 3)]
    for g, n in zip(gts, noisy, strict=True):  # the conditioning frames stay exact
        n[0, :], n[:, 0] = g[0, :], g[:, 0]
    worse = learned_metrics(gts, noisy, nets)
    assert worse["fid"] > 1e-4 and worse["fvd"] > 1e-4 and worse["kid"] > same["kid"]
    assert worse["lpips"] > 0 and worse["clip_score"] < 100
    # only generated frames count: changing a conditioning frame changes nothing
    bent = [g.copy() for g in gts]
    bent[0][0, 2] = 0
    assert learned_metrics(gts, bent, {"lpips": nets["lpips"]})["lpips"] == 0
    with pytest.raises(ValueError, match="differs from its ground truth"):
        learned_metrics(gts, [g[:, :3] for g in gts], nets)


def test_fvd_stretches_short_videos():
    v = np.arange(4, dtype=np.uint8).reshape(1, 4, 1, 1, 1) * np.ones((1, 4, 2, 2, 3), np.uint8)
    out = distribution.stretch_video(v)
    assert out.shape[1] == 16 and out[0, :, 0, 0, 0].tolist() == sorted([0, 1, 2, 3] * 4)


# ------------------------------------------------------------------ gating
def test_every_learned_metric_skips_without_weights(tmp_path, monkeypatch):
    # nothing may be fetched: hubs offline, an empty cache that must stay empty
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("DUST3R_REPO", str(tmp_path / "no_repo"))
    missing = tmp_path / "nothing_here"
    nets, lines = load_networks({m: str(missing) for m in LEARNED_METRICS})
    assert nets == {}
    assert lines == [f"{m}: skipped: no weights at {missing}" for m in LEARNED_METRICS]
    nets, lines = load_networks({})  # defaults: <data root>/weights/<metric>/<file>
    assert nets == {} and all(": skipped: no weights at " in line for line in lines)
    assert "weights/fid/weights-inception-2015-12-05-6726825d.pth" in lines[1]
    assert not (tmp_path / "torch_home").exists()
    gt = [plane_grid(2, 2, 16, 32)]
    assert learned_metrics(gt, gt, nets) == {}


def test_weights_present_but_packages_missing_is_a_skip_line(tmp_path):
    (tmp_path / "weights-inception-2015-12-05-6726825d.pth").write_bytes(b"x")
    assert locate("fid", tmp_path).file == tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    path, line = metric_status("fid", tmp_path)
    problem = import_problem("fid")
    if problem:  # a CPU-only torch: torchvision's wheels cannot load, the metric says why
        assert path is None and line.startswith("fid: skipped: weights at ") and problem in line
    else:
        assert path is not None and line is None


def test_dust3r_gate_and_tau_score(tmp_path):
    assert dust3r.repo_problem(tmp_path).startswith(f"dust3r: skipped: no repository at {tmp_path}")
    (tmp_path / "dust3r").mkdir()
    (tmp_path / "dust3r" / "model.py").write_text("")
    assert "croco is empty" in dust3r.repo_problem(tmp_path)
    conf = np.array([[1.0, 2.0], [3.5, 10.0]])
    assert dust3r.confident_share(conf, conf, 3.0) == 0.5
    assert dust3r.confident_share(conf, np.full((2, 2), 5.0), 3.0) == 0.75
    grid = plane_grid(3, 2, 16, 32)
    calls = []

    def predict(a, b):  # confident where the two views agree (a stand-in, only for the averaging)
        calls.append(1)
        c = 1 + 10 * (np.abs(a.astype(float) - b.astype(float)).mean(-1) < 40)
        return c, c

    score = dust3r.tau_consistency(grid, predict, tau=3.0)
    assert len(calls) == 2 * 2 and 0.0 <= score <= 1.0  # (V - 1) pairs at each of T times


lpips_missing = import_problem("lpips")


@pytest.mark.skipif(bool(lpips_missing), reason=f"metrics extra not importable: {lpips_missing}")
def test_lpips_package_from_a_local_trunk(tmp_path):
    # torchvision's AlexNet state dict format, random values: checks the loading, d(x, x) = 0
    from torchvision.models import alexnet

    torch.save(alexnet().state_dict(), tmp_path / "alexnet-owt-7be5be79.pth")
    net = perceptual.load_lpips(tmp_path / "alexnet-owt-7be5be79.pth")
    a, b = plane_grid(1, 3, 16, 32, seed=1)[0], plane_grid(1, 3, 16, 32, seed=2)[0]
    assert perceptual.lpips_distances(net, a, a) == pytest.approx(0, abs=1e-6)
    assert (perceptual.lpips_distances(net, a, b) > 0).all()


clip_missing = import_problem("clip")


@pytest.mark.skipif(bool(clip_missing), reason=f"metrics extra not importable: {clip_missing}")
def test_open_clip_from_a_local_file(tmp_path):
    import json

    import open_clip

    cfg = {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16},
           "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 2, "layers": 1}}  # fmt: skip
    (tmp_path / "tiny-test-clip.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(tmp_path / "tiny-test-clip.json")
    torch.save(open_clip.create_model("tiny-test-clip").state_dict(), tmp_path / "w.bin")
    net = perceptual.load_clip(tmp_path / "w.bin", "tiny-test-clip")
    a = plane_grid(1, 3, 16, 32)[0]
    assert perceptual.clip_score(net, a, a) == pytest.approx(100, abs=1e-3)
