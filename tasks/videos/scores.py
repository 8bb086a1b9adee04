"""Per-shot measurements: borders, blank frames, motion, camera vs scene motion, phash.

Every function here is pure (arrays in, numbers out) and works on the frames
the pipeline already decoded. Motion is measured on small grey copies
(``ANALYSIS_WIDTH`` pixels wide) of the frames inside the detected borders, and
reported in **percent of the frame diagonal per second**, so that a score
means the same at any resolution and frame rate.

Camera vs scene: corners are tracked from one frame to the next (Lucas-Kanade,
kept only when the backward track returns within a pixel); a similarity
transform (shift, roll, zoom: 4 degrees of freedom) is fitted to the tracks
with RANSAC. Between frames a fraction of a second apart, that is the image
motion of one rigid camera panning, tilting, rolling or zooming over a scene
that does not move, to first order: what "one rigid camera explains". The
second frame is then warped back by that camera and dense optical flow is
measured again: what is left is scene motion. Undoing the camera first keeps
that flow small and accurate even under a fast pan (flow measured on the raw
pair and then differenced is off by pixels there). Codec noise leaves a
fraction of a pixel of residual flow over most of the frame, real motion a
large residual on a part of it (a walker, a head, a car is often a twentieth
of the frame): the score is the 95th percentile of the residual less twice its
median, the pair's noise floor. Measured on real footage, this keeps two
encodings of one content on the same side (carphone at 1.2 Mbit/s and at
9 kbit/s: 3.1 and 3.7). A full homography was tried first and rejected:
with 8 degrees of freedom RANSAC fits wild maps to a few moving shapes.
Close-range parallax under a translating camera also leaves a residual; it is
counted as scene motion (a conservative error for freeze-time mining: two real
pans along parked cars read as dynamic).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ANALYSIS_WIDTH = 160
MIN_TRACKS = 12


def to_gray(frames: np.ndarray) -> np.ndarray:
    """uint8 ``[N, H, W, 3]`` RGB to uint8 ``[N, H, W]`` luma (BT.601, as OpenCV)."""
    import cv2

    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])


def shrink(frames: np.ndarray, width: int = ANALYSIS_WIDTH) -> np.ndarray:
    """Frames ``[N, H, W, ...]`` scaled (area average) to ``width`` wide; smaller ones as is."""
    import cv2

    n, h, w = frames.shape[:3]
    if w <= width:
        return frames
    size = (width, max(2, round(h * width / w)))
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])


# ---- borders and blank frames ---------------------------------------------------------


@dataclass(frozen=True)
class Borders:
    """Black bars in pixels of the decoded frame; the content is rows top..H-bottom."""

    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0

    def box(self, height: int, width: int) -> tuple[int, int, int, int]:
        """``(y0, y1, x0, x1)`` of the content."""
        return self.top, height - self.bottom, self.left, width - self.right

    def crop(self, frames: np.ndarray) -> np.ndarray:
        h, w = frames.shape[-3:-1] if frames.ndim == 4 else frames.shape[-2:]
        y0, y1, x0, x1 = self.box(h, w)
        return frames[..., y0:y1, x0:x1, :] if frames.ndim == 4 else frames[..., y0:y1, x0:x1]


def detect_borders(gray: np.ndarray, level: float, max_fraction: float = 0.4) -> Borders:
    """Letterbox (rows) and pillarbox (columns) bars of uint8 ``[N, H, W]`` grey frames.

    A line is a bar when it is dark (mean <= ``level``) and flat (std <= 4 levels)
    in every given frame; bars are counted from each edge inwards and at most
    ``max_fraction`` of a side is taken. A frame that is dark all over has no bars
    (it is blank, which ``blank_flags`` reports).
    """
    g = gray.astype(np.float32)
    row_dark = (g.mean(axis=2) <= level) & (g.std(axis=2) <= 4.0)  # (N, H)
    col_dark = (g.mean(axis=1) <= level) & (g.std(axis=1) <= 4.0)  # (N, W)
    rows, cols = row_dark.all(axis=0), col_dark.all(axis=0)
    if rows.all() or cols.all():
        return Borders()
    cap_h, cap_w = int(max_fraction * len(rows)), int(max_fraction * len(cols))
    return Borders(
        top=min(_run(rows), cap_h),
        bottom=min(_run(rows[::-1]), cap_h),
        left=min(_run(cols), cap_w),
        right=min(_run(cols[::-1]), cap_w),
    )


def _run(flags: np.ndarray) -> int:
    """Length of the leading run of True."""
    off = np.flatnonzero(~flags)
    return int(off[0]) if off.size else len(flags)


def blank_flags(gray: np.ndarray, black_level: float, flat_std: float) -> np.ndarray:
    """Per frame: near-black (mean luma <= ``black_level``) or near-constant (std <= ``flat_std``)."""
    g = gray.reshape(len(gray), -1).astype(np.float32)
    return (g.mean(axis=1) <= black_level) | (g.std(axis=1) <= flat_std)


# ---- motion -------------------------------------------------------------------------


@dataclass(frozen=True)
class PairMotion:
    """Motion between two frames ``gap`` apart, in % of the diagonal per second."""

    motion: float  # 98th percentile of the optical-flow magnitude: the fastest-moving 2%
    camera: float  # mean magnitude of the camera model's motion over the frame
    scene: float  # residual flow after the camera: 95th percentile less 2x the median (noise)
    explained: float  # share of the tracks' motion the camera model explains, 0..1
    tracks: int


SCENE_PERCENTILE = 95  # the moving part of a real shot is often a twentieth of the frame
NOISE_FLOOR_WEIGHT = 2.0  # times the median residual: codec noise is spread over the frame
BORDER_TRIM = 0.06  # of the short side: content entering at the edges has no match


def pair_motion(a: np.ndarray, b: np.ndarray, gap: int, fps: float) -> PairMotion:
    """Dense flow, a RANSAC camera model and the flow left after it, between grey frames."""
    import cv2

    h, w = a.shape
    per_second = 100.0 * fps / (gap * float(np.hypot(h, w)))  # pixels per gap -> %diag/s
    flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 9, 3, 5, 1.1, 0)
    motion = float(np.percentile(np.linalg.norm(flow, axis=2), 98)) * per_second
    src, dst = _tracks(a, b)
    if len(src) < MIN_TRACKS:  # too little texture for corners: fit the dense flow instead
        ys, xs = np.mgrid[2:h:4, 2:w:4]
        src = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
        dst = src + flow[ys.ravel(), xs.ravel()]
    camera_map = _fit_camera(src, dst, threshold=max(1.0, 0.005 * np.hypot(h, w)))
    ys, xs = np.mgrid[0:h:4, 0:w:4]
    grid = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
    camera = float(np.linalg.norm(_apply(camera_map, grid) - grid, axis=1).mean()) * per_second
    moved = np.linalg.norm(dst - src, axis=1)
    residual = np.linalg.norm(dst - _apply(camera_map, src), axis=1)
    total = float(moved.sum())
    explained = 1.0 - min(1.0, float(residual.sum()) / total) if total > 1e-6 else 1.0
    scene = residual_motion(a, b, camera_map) * per_second
    return PairMotion(motion, camera, scene, explained, len(src))


def residual_motion(a: np.ndarray, b: np.ndarray, camera_map: np.ndarray) -> float:
    """Scene motion in pixels: dense flow from ``a`` to ``b`` with the camera undone.

    ``b`` is warped back by the camera model first, so the flow left is small
    and measured accurately even under a fast pan; pixels the warp leaves
    without content (and a margin at the edges) are not counted. Codec noise
    makes residual flow of a fraction of a pixel almost everywhere, real
    motion makes large flow on a part of the frame: the score is the 95th
    percentile less twice the median (the noise floor of this pair).
    """
    import cv2

    h, w = a.shape
    back = cv2.WARP_INVERSE_MAP
    warped = cv2.warpAffine(
        b, camera_map, (w, h), flags=cv2.INTER_LINEAR | back, borderMode=cv2.BORDER_REPLICATE
    )
    valid = cv2.warpAffine(
        np.ones_like(a), camera_map, (w, h), flags=cv2.INTER_NEAREST | back, borderValue=0
    )
    m = max(2, int(BORDER_TRIM * min(h, w)))
    valid = cv2.erode(valid, np.ones((2 * m + 1, 2 * m + 1), np.uint8), borderValue=0)
    if not valid.any():
        return 0.0
    flow = cv2.calcOpticalFlowFarneback(a, warped, None, 0.5, 3, 9, 3, 5, 1.1, 0)
    left = np.linalg.norm(flow, axis=2)[valid.astype(bool)]
    floor = NOISE_FLOOR_WEIGHT * float(np.median(left))
    return max(0.0, float(np.percentile(left, SCENE_PERCENTILE)) - floor)


def _tracks(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Corners of ``a`` tracked into ``b``, kept when the backward track comes home."""
    import cv2

    pts = cv2.goodFeaturesToTrack(a, maxCorners=300, qualityLevel=0.01, minDistance=4)
    if pts is None:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    lk = {"winSize": (15, 15), "maxLevel": 3}
    fwd, st1, _ = cv2.calcOpticalFlowPyrLK(a, b, pts, None, **lk)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(b, a, fwd, None, **lk)
    ok = (st1.ravel() == 1) & (st2.ravel() == 1)
    ok &= np.linalg.norm((back - pts).reshape(-1, 2), axis=1) < 1.0
    return pts.reshape(-1, 2)[ok], fwd.reshape(-1, 2)[ok]


def _fit_camera(src: np.ndarray, dst: np.ndarray, threshold: float) -> np.ndarray:
    """2x3 similarity mapping ``src`` to ``dst`` (RANSAC); identity when none fits."""
    import cv2

    if len(src) >= 3:
        mat, _ = cv2.estimateAffinePartial2D(
            src, dst, method=cv2.RANSAC, ransacReprojThreshold=threshold, maxIters=500
        )
        if mat is not None and np.isfinite(mat).all():
            return mat
    return np.eye(2, 3)


def _apply(mat: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return (pts @ mat[:, :2].T + mat[:, 2]).astype(np.float32)


# ---- perceptual hash ------------------------------------------------------------------


def phash(rgb: np.ndarray) -> int:
    """64-bit DCT perceptual hash of one uint8 RGB frame, as a signed int64 (Parquet/SQL)."""
    import imagehash
    from PIL import Image

    bits = imagehash.phash(Image.fromarray(rgb)).hash.ravel()
    value = int("".join("1" if b else "0" for b in bits), 2)
    return value - (1 << 64) if value >= 1 << 63 else value
