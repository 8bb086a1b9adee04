"""Pseudo-4D grids: a smooth path of 2D affine "cameras" over a clip.

Convention (the export contract): pixel coordinates ``(x, y)`` with pixel
centres at integers, ``x`` the column and ``y`` the row. The affine map
``A_v`` (2x3) of view ``v`` takes an output pixel to the source pixel it
samples::

    grid[v, t](x, y) = frames[t](A_v @ [x, y, 1])     (bilinear)

``A_v = [M_v | c + d_v - M_v c]`` with ``c`` the frame centre, ``M_v =
R(theta_v) @ Shear(k_v) / s_v`` (rotation, shear, zoom) and ``d_v`` a pan in
pixels. The zoom ``s_v`` is the smallest one that keeps the rotated, sheared
output rectangle inside the frame, times ``zoom_v >= 1``; the pan is a
fraction of the room left. So every output pixel samples inside the frame:
no borders, no validity mask needed.

Along the path each scalar (zoom, rotation, shear, pan x, pan y) is a
quadratic Bezier curve in the view index through seeded random control
points within the bounds: smooth (constant second difference) and, since a
convex combination, never outside the bounds. Rotation and horizontal pan
sweep from one sign to the other, so the camera always moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field, model_validator

from core.flow_params import FlowParams
from core.warp import WARP_BACKENDS, source_coords, warp_frames  # noqa: F401 - re-exported


class AffineBounds(FlowParams):
    """Bounds of the pseudo-camera path (the Prefect form shows these)."""

    max_rotation_deg: float = Field(4.0, ge=0, le=45, description="Largest |rotation| in degrees")
    max_shear: float = Field(0.04, ge=0, le=0.5, description="Largest |shear| (x += k * y)")
    min_zoom: float = Field(1.05, ge=1.0, le=4.0, description="Smallest extra zoom (>= 1)")
    max_zoom: float = Field(1.3, ge=1.0, le=4.0, description="Largest extra zoom")
    max_pan: float = Field(
        0.9, ge=0, le=1, description="Pan as a fraction of the room the zoom leaves"
    )

    @model_validator(mode="after")
    def _zoom_order(self):
        if self.min_zoom > self.max_zoom:
            raise ValueError(f"min_zoom: {self.min_zoom} is greater than max_zoom {self.max_zoom}")
        return self


@dataclass(frozen=True)
class CameraPath:
    """Per-view path parameters and the resulting maps (all arrays have V rows)."""

    zoom: np.ndarray  # (V,) total magnification s_v
    rotation_deg: np.ndarray  # (V,)
    shear: np.ndarray  # (V,)
    pan: np.ndarray  # (V, 2) pixels (dx, dy)
    affine: np.ndarray  # (V, 2, 3) float64, output pixel -> source pixel

    def to_json(self) -> dict:
        return {
            "zoom": self.zoom.round(6).tolist(),
            "rotation_deg": self.rotation_deg.round(6).tolist(),
            "shear": self.shear.round(6).tolist(),
            "pan": self.pan.round(6).tolist(),
            "affine": self.affine.tolist(),
        }


def _bezier(p0: float, m: float, p1: float, u: np.ndarray) -> np.ndarray:
    return (1 - u) ** 2 * p0 + 2 * u * (1 - u) * m + u**2 * p1


def camera_path(
    views: int, height: int, width: int, bounds: AffineBounds, seed: int | np.random.Generator
) -> CameraPath:
    """``views`` affine maps forming a smooth seeded path inside ``bounds``."""
    if views < 1:
        raise ValueError(f"views: need at least 1, got {views}")
    if height < 2 or width < 2:
        raise ValueError(f"height/width: need at least 2 pixels, got {height}x{width}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    u = np.linspace(0.0, 1.0, views) if views > 1 else np.zeros(1)

    def sweep(limit: float) -> np.ndarray:  # from -a to +a (random sign), a in [limit/2, limit]
        a = rng.uniform(0.5, 1.0) * limit * rng.choice([-1.0, 1.0])
        return _bezier(-a, rng.uniform(-limit, limit), a, u)

    def wander(lo: float, hi: float) -> np.ndarray:
        return _bezier(*rng.uniform(lo, hi, size=3), u)

    rot = sweep(bounds.max_rotation_deg)
    pan_fx = sweep(bounds.max_pan)
    pan_fy = wander(-bounds.max_pan, bounds.max_pan)
    shear = wander(-bounds.max_shear, bounds.max_shear)
    extra_zoom = wander(bounds.min_zoom, bounds.max_zoom)

    hw, hh = (width - 1) / 2.0, (height - 1) / 2.0
    centre = np.array([hw, hh])
    affine = np.zeros((views, 2, 3))
    zoom = np.zeros(views)
    pan = np.zeros((views, 2))
    for v in range(views):
        th = np.deg2rad(rot[v])
        rmat = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
        b = rmat @ np.array([[1.0, shear[v]], [0.0, 1.0]])
        # half-extent of b applied to the output rectangle, per source axis
        ex = abs(b[0, 0]) * hw + abs(b[0, 1]) * hh
        ey = abs(b[1, 0]) * hw + abs(b[1, 1]) * hh
        s = max(ex / hw, ey / hh) * extra_zoom[v]
        room = np.array([hw - ex / s, hh - ey / s]) * (1 - 1e-9)  # pixels left per side
        d = np.array([pan_fx[v], pan_fy[v]]) * np.maximum(room, 0.0)
        m = b / s
        affine[v, :, :2] = m
        affine[v, :, 2] = centre + d - m @ centre
        zoom[v], pan[v] = s, d
    return CameraPath(zoom=zoom, rotation_deg=rot, shear=shear, pan=pan, affine=affine)


def corners_inside(affine: np.ndarray, height: int, width: int, tol: float = 1e-6) -> bool:
    """True when all output pixel centres map inside ``[0, W-1] x [0, H-1]`` (corners suffice)."""
    corners = np.array(
        [[0, 0, 1], [width - 1, 0, 1], [0, height - 1, 1], [width - 1, height - 1, 1]], np.float64
    )
    src = np.einsum("vij,kj->vki", affine, corners)  # (V, 4, 2)
    return bool(
        (src[..., 0] >= -tol).all()
        and (src[..., 0] <= width - 1 + tol).all()
        and (src[..., 1] >= -tol).all()
        and (src[..., 1] <= height - 1 + tol).all()
    )


def pseudo4d_grid(
    frames: np.ndarray,
    views: int,
    bounds: AffineBounds,
    seed: int | np.random.Generator,
    backend: str = "torch",
) -> tuple[np.ndarray, CameraPath]:
    """A pseudo-4D grid ``[V, T, H, W, 3]`` from a clip ``[T, H, W, 3]`` and its path."""
    _, h, w, _ = frames.shape
    path = camera_path(views, h, w, bounds, seed)
    assert corners_inside(path.affine, h, w), "camera path leaves the frame"
    return warp_frames(frames, path.affine, backend), path
