"""Cameras on an arc around the object, in the glTF scene's own coordinates.

The object's bounding sphere over *all* rendered poses sets the distance, so
it stays in frame at every time. No normalisation is applied to the scene:
the cameras are placed around it instead, so ``w2c`` maps the source glTF
world coordinates straight to OpenCV camera coordinates (x right, y down,
z forward) and ``depth`` is in scene units. glTF is +Y up, front +Z.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# OpenCV camera axes -> OpenGL camera axes (y and z flip).
CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


@dataclass(frozen=True, kw_only=True, slots=True)
class CameraArc:
    """Where the V cameras stand. Angles in degrees."""

    azimuth_deg: float = 0.0
    """Azimuth of the arc's middle (0 = looking at the glTF front, +Z side)."""
    azimuth_span_deg: float = 90.0
    """Angle covered from the first to the last view (360 = full circle, no repeat)."""
    elevation_deg: float = 15.0
    """Height of the cameras above the object's horizontal plane."""
    yfov_deg: float = 40.0
    """Vertical field of view."""
    margin: float = 1.1
    """Distance multiplier beyond a tight fit of the bounding sphere."""

    def __post_init__(self):
        if not 1.0 <= self.yfov_deg <= 150.0:
            raise ValueError(f"yfov_deg: {self.yfov_deg} must be in [1, 150]")
        if not -89.0 <= self.elevation_deg <= 89.0:
            raise ValueError(f"elevation_deg: {self.elevation_deg} must be in [-89, 89]")
        if not 0.0 <= self.azimuth_span_deg <= 360.0:
            raise ValueError(f"azimuth_span_deg: {self.azimuth_span_deg} must be in [0, 360]")
        if self.margin < 1.0:
            raise ValueError(f"margin: {self.margin} must be >= 1")

    def azimuths(self, views: int) -> np.ndarray:
        """Azimuth of each view in degrees."""
        span = self.azimuth_span_deg
        if span >= 360.0:
            return self.azimuth_deg + np.arange(views) * 360.0 / views
        return self.azimuth_deg + np.linspace(-span / 2, span / 2, views)


@dataclass(frozen=True)
class Cameras:
    """V pinhole cameras: OpenCV intrinsics and extrinsics, plus clip planes."""

    K: np.ndarray  # (V, 3, 3) pixels, pixel centres at integer coordinates
    w2c: np.ndarray  # (V, 4, 4) glTF world -> OpenCV camera
    znear: float
    zfar: float

    def c2w_gl(self) -> np.ndarray:
        """(V, 4, 4) OpenGL camera-to-world poses (what pyrender wants)."""
        return np.linalg.inv(self.w2c) @ CV_TO_GL


def bounding_sphere(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre (the AABB centre) and radius enclosing ``points`` ``(N, 3)``."""
    lo, hi = points.min(0), points.max(0)
    center = (lo + hi) / 2
    radius = float(np.sqrt(((points - center) ** 2).sum(1).max()))
    return center, max(radius, 1e-6)


def look_at_w2c(eye: np.ndarray, target: np.ndarray, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """OpenCV world-to-camera matrix of a camera at ``eye`` looking at ``target``."""
    f = target - eye
    f = f / np.linalg.norm(f)
    r = np.cross(f, np.asarray(up, float))
    if np.linalg.norm(r) < 1e-8:  # looking straight up/down
        r = np.cross(f, np.array([0.0, 0.0, 1.0]))
    r = r / np.linalg.norm(r)
    d = np.cross(f, r)  # image y points down
    R = np.stack([r, d, f])  # rows: camera axes in world coordinates
    w2c = np.eye(4)
    w2c[:3, :3] = R
    w2c[:3, 3] = -R @ eye
    return w2c


def arc_cameras(
    center: np.ndarray, radius: float, views: int, height: int, width: int, arc: CameraArc
) -> Cameras:
    """V cameras on ``arc`` that keep a sphere (``center``, ``radius``) in frame."""
    fy = (height / 2) / math.tan(math.radians(arc.yfov_deg) / 2)
    fx = fy  # square pixels
    half_x = math.atan((width / 2) / fx)
    half = min(math.radians(arc.yfov_deg) / 2, half_x)
    dist = radius / math.sin(half) * arc.margin
    K = np.array([[fx, 0.0, (width - 1) / 2], [0.0, fy, (height - 1) / 2], [0.0, 0.0, 1.0]])
    el = math.radians(arc.elevation_deg)
    w2cs = []
    for az in np.radians(arc.azimuths(views)):
        direction = np.array(
            [math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)]
        )
        w2cs.append(look_at_w2c(center + dist * direction, center))
    znear = max(dist - radius * 1.5, dist * 1e-3)
    zfar = dist + radius * 1.5
    return Cameras(K=np.repeat(K[None], views, 0), w2c=np.stack(w2cs), znear=znear, zfar=zfar)


def project(points: np.ndarray, K: np.ndarray, w2c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points ``(N, 3)`` -> pixel coordinates ``(N, 2)`` and depth ``(N,)``."""
    cam = points @ w2c[:3, :3].T + w2c[:3, 3]
    z = cam[:, 2]
    uv = (cam @ K.T)[:, :2] / z[:, None]
    return uv, z
