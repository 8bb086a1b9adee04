"""Grid metrics: PSNR, SSIM and a weight-free multi-view consistency score.

Everything takes uint8 frames ``[..., H, W, 3]`` (the disk layout of
core.grid) and returns plain floats. No Prefect here. The learned
metrics (FID, KID, FVD, LPIPS, CLIP score, DUSt3R) are in
``tasks.evaluation.learned``.

* ``psnr(a, b)``: ``10 log10(255^2 / MSE)`` over all pixels and channels;
  ``inf`` for identical images.
* ``ssim(a, b)``: Wang et al. 2004 with an 11x11 Gaussian window
  (sigma 1.5), ``K1 = 0.01``, ``K2 = 0.03``, ``L = 255``, population
  statistics, computed per channel and averaged; the mean is taken over the
  "valid" area (a border of 5 pixels, where the window leaves the image, is
  dropped), as scikit-image does with ``gaussian_weights=True``.
* ``consistency(frames)``: needs no ground truth and no downloaded weights.
  Consecutive frames of a slice are matched with SIFT (or ORB) and Lowe's
  ratio test. Only matches that *move* (by at least ``min_motion`` pixels of
  the frame) are evidence: a frame pair that does not change matches itself
  perfectly and says nothing about geometry. ``cv2.findFundamentalMat``
  (RANSAC) fits the epipolar geometry to the moving matches, and a pair
  scores ``moving inliers / min(keypoints in either frame)``: the share of
  features with an epipolar-consistent match that moved. A frozen grid (views
  or times that do not move) therefore scores 0 along its frozen axis, never
  above the ground truth, whose static background counts as not moving too.
  The RANSAC inlier ratio ``inliers / moving matches`` is reported beside it;
  on its own it is a weak score, since RANSAC fits any 8 random matches.
  Frames are upscaled (bicubic) so the short side is at least ``min_side``
  pixels before detection: 16x32 frames carry no features. Freeze-time slices
  ``grid[:, t]`` test multi-view geometry; fixed-view slices ``grid[v, :]``
  test temporal coherence (the camera is still, so any coherent motion fits
  an epipolar model). Read it beside PSNR/SSIM.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
DATA_RANGE = 255.0


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    return a.astype(np.float64), b.astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = DATA_RANGE) -> float:
    """Peak signal-to-noise ratio in dB over every pixel of ``a`` and ``b``."""
    a, b = _pair(a, b)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """Normalised 2D Gaussian ``[size, size]`` (sums to 1)."""
    g = np.exp(-((np.arange(size) - (size - 1) / 2) ** 2) / (2 * sigma**2))
    g /= g.sum()
    return np.outer(g, g)


def _ssim_channel(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    """SSIM of two float64 ``[H, W]`` images; mean over the valid area."""
    win = gaussian_window()
    pad = SSIM_WINDOW // 2
    h, w = x.shape
    if h < SSIM_WINDOW or w < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {h}x{w}")

    def blur(img: np.ndarray) -> np.ndarray:
        return cv2.filter2D(img, cv2.CV_64F, win, borderType=cv2.BORDER_REFLECT)

    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    smap = num / den  # (H, W)
    return float(smap[pad : h - pad, pad : w - pad].mean())


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = DATA_RANGE) -> float:
    """Structural similarity of two images ``[H, W]`` or ``[H, W, C]`` (mean over channels)."""
    a, b = _pair(a, b)
    if a.ndim == 2:
        return _ssim_channel(a, b, data_range)
    if a.ndim != 3:
        raise ValueError(f"ssim takes [H, W] or [H, W, C] images, got shape {a.shape}")
    return float(
        np.mean([_ssim_channel(a[..., c], b[..., c], data_range) for c in range(a.shape[-1])])
    )


def frame_metrics(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """Mean PSNR and SSIM over the frames of ``[..., H, W, 3]`` grids where ``mask`` is True.

    ``mask`` has the leading shape of the grids (e.g. ``[V, T]``); default all frames.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {target.shape} differ")
    lead = pred.shape[:-3]
    mask = np.ones(lead, bool) if mask is None else np.asarray(mask, bool)
    if mask.shape != lead:
        raise ValueError(f"mask shape {mask.shape} does not match the frames' {lead}")
    idx = np.argwhere(mask)
    if len(idx) == 0:
        raise ValueError("mask selects no frame to score")
    p = [psnr(pred[tuple(i)], target[tuple(i)]) for i in idx]
    s = [ssim(pred[tuple(i)], target[tuple(i)]) for i in idx]
    return {"psnr": float(np.mean(p)), "ssim": float(np.mean(s)), "frames": int(len(idx))}


# ------------------------------------------------------------------ consistency
@dataclass
class PairScore:
    """Matching result of one frame pair: ``matches`` that moved, ``inliers`` among them."""

    keypoints: tuple[int, int]
    matches: int
    inliers: int
    static: int = 0  # ratio-test matches that did not move (no evidence either way)

    @property
    def score(self) -> float:
        """Share of the features of the poorer frame that are moving, epipolar-consistent matches."""
        return self.inliers / max(1, min(self.keypoints))

    @property
    def inlier_ratio(self) -> float:
        """RANSAC inliers over moving matches (0 when too few to fit)."""
        return self.inliers / self.matches if self.matches else 0.0


@dataclass
class ConsistencyResult:
    """Mean pair scores over the slices of one kind."""

    score: float
    inlier_ratio: float
    pairs: list[PairScore] = field(default_factory=list)


class FeatureMatcher:
    """Detects features once per frame, matches pairs, fits F with RANSAC on the moving matches.

    ``detector``: ``sift`` (default) or ``orb``. ``min_side``: frames are
    upscaled so their short side is at least this many pixels.
    ``min_motion``: a match moves when its endpoints are this many pixels of
    the original frame apart.
    """

    MIN_MATCHES = 8  # the 8-point algorithm inside RANSAC

    def __init__(
        self,
        detector: str = "sift",
        min_side: int = 256,
        ratio: float = 0.8,
        ransac_px: float = 1.0,
        seed: int = 0,
        min_motion: float = 0.5,
    ):
        if detector not in ("sift", "orb"):
            raise ValueError(f"detector must be 'sift' or 'orb', got {detector!r}")
        if not 0.0 < ratio < 1.0:
            raise ValueError(f"ratio must be in (0, 1), got {ratio}")
        self.detector_name = detector
        self.min_side = min_side
        self.ratio = ratio
        if min_motion < 0:
            raise ValueError(f"min_motion must be >= 0, got {min_motion}")
        self.ransac_px = ransac_px
        self.seed = seed
        self.min_motion = min_motion
        if detector == "sift":
            self.detector = cv2.SIFT_create(nfeatures=1000)
            self.norm = cv2.NORM_L2
        else:
            self.detector = cv2.ORB_create(nfeatures=1000, edgeThreshold=15, patchSize=15)
            self.norm = cv2.NORM_HAMMING
        self.bf = cv2.BFMatcher(self.norm)

    def features(self, frame: np.ndarray):
        """``(points [N, 2] float32, descriptors, scale)`` of one uint8 RGB frame.

        Points are in the upscaled frame (``scale`` times the original pixels).
        """
        h, w = frame.shape[:2]
        scale = max(1.0, self.min_side / min(h, w))
        gray = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        if scale > 1.0:
            gray = cv2.resize(
                gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC
            )
        kps, desc = self.detector.detectAndCompute(gray, None)
        pts = np.float32([k.pt for k in kps]).reshape(-1, 2)
        return pts, desc, scale

    def pair(self, fa, fb) -> PairScore:
        """Score one pair of precomputed features."""
        (pa, da, scale), (pb, db, _) = fa, fb
        kp = (len(pa), len(pb))
        if da is None or db is None or len(pa) < 2 or len(pb) < 2:
            return PairScore(kp, 0, 0)
        good = []
        for m in self.bf.knnMatch(da, db, k=2):
            if len(m) == 2 and m[0].distance < self.ratio * m[1].distance:
                good.append(m[0])
        src = pa[[m.queryIdx for m in good]].reshape(-1, 2)
        dst = pb[[m.trainIdx for m in good]].reshape(-1, 2)
        moving = np.linalg.norm(dst - src, axis=1) >= self.min_motion * scale
        src, dst = src[moving], dst[moving]
        static = len(good) - len(src)
        if len(src) < self.MIN_MATCHES:
            return PairScore(kp, len(src), 0, static)
        cv2.setRNGSeed(self.seed)
        _, inl = cv2.findFundamentalMat(src, dst, cv2.FM_RANSAC, self.ransac_px, 0.999, 2000)
        inliers = int(np.count_nonzero(inl)) if inl is not None else 0
        return PairScore(kp, len(src), inliers, static)


def slice_consistency(videos: np.ndarray, matcher: FeatureMatcher) -> ConsistencyResult:
    """Mean score over consecutive frame pairs of each video in ``videos [N, F, H, W, 3]``."""
    pairs = []
    for video in videos:
        feats = [matcher.features(f) for f in video]
        pairs += [matcher.pair(feats[i], feats[i + 1]) for i in range(len(feats) - 1)]
    if not pairs:
        raise ValueError("consistency needs slices of at least 2 frames")
    return ConsistencyResult(
        score=float(np.mean([p.score for p in pairs])),
        inlier_ratio=float(np.mean([p.inlier_ratio for p in pairs])),
        pairs=pairs,
    )


def grid_consistency(
    grid: np.ndarray, detector: str = "sift", min_side: int = 256, min_motion: float = 0.5
) -> dict:
    """Consistency of a uint8 grid ``[V, T, H, W, 3]`` along both axes.

    ``freeze_time``: the T videos ``grid[:, t]`` (pairs of neighbouring views);
    ``fixed_view``: the V videos ``grid[v, :]`` (pairs of neighbouring times).
    """
    if grid.ndim != 5 or grid.shape[-1] != 3:
        raise ValueError(f"grid must be [V, T, H, W, 3], got {grid.shape}")
    matcher = FeatureMatcher(detector, min_side, min_motion=min_motion)
    ft = slice_consistency(np.swapaxes(grid, 0, 1), matcher)  # T videos of V frames
    fv = slice_consistency(grid, matcher)  # V videos of T frames
    return {
        "consistency": (ft.score + fv.score) / 2,  # a grid frozen along either axis loses half
        "consistency_freeze_time": ft.score,
        "consistency_fixed_view": fv.score,
        "inlier_ratio_freeze_time": ft.inlier_ratio,
        "inlier_ratio_fixed_view": fv.inlier_ratio,
    }
