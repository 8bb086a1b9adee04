"""glTF animation samplers: STEP, LINEAR (slerp for rotations), CUBICSPLINE.

Pure numpy, following the specification exactly (see docs/gltf.md):
values clamp outside the key range, rotations take the shorter arc, cubic
tangents are scaled by the key interval, cubic rotations are normalised.
Quaternions are ``(x, y, z, w)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INTERPOLATIONS = ("STEP", "LINEAR", "CUBICSPLINE")
PATHS = ("translation", "rotation", "scale", "weights")


def quat_normalize(q: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(n > 0, q / np.where(n > 0, n, 1), np.array([0.0, 0.0, 0.0, 1.0]))


def slerp(q0: np.ndarray, q1: np.ndarray, u: float) -> np.ndarray:
    """Spherical linear interpolation on the shorter arc."""
    q0 = quat_normalize(np.asarray(q0, np.float64))
    q1 = quat_normalize(np.asarray(q1, np.float64))
    dot = float(np.dot(q0, q1))
    if dot < 0.0:
        q1, dot = -q1, -dot
    if dot > 0.9995:  # nearly parallel: lerp is exact to float precision
        return quat_normalize(q0 + u * (q1 - q0))
    theta = np.arccos(dot)
    s = np.sin(theta)
    return (np.sin((1.0 - u) * theta) * q0 + np.sin(u * theta) * q1) / s


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Unit quaternion ``(x, y, z, w)`` -> 3x3 rotation matrix."""
    x, y, z, w = quat_normalize(np.asarray(q, np.float64))
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def trs_matrix(t: np.ndarray, r: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``T @ R @ S`` as a 4x4 matrix."""
    m = np.eye(4)
    m[:3, :3] = quat_to_matrix(r) * np.asarray(s, np.float64)[None, :]
    m[:3, 3] = t
    return m


@dataclass(frozen=True)
class Sampler:
    """One sampler: key times ``[n]`` and values ``[n, C]`` (``[n, 3, C]`` for cubic)."""

    times: np.ndarray
    values: np.ndarray
    interpolation: str
    is_rotation: bool = False

    def __call__(self, t: float) -> np.ndarray:
        times, values = self.times, self.values
        cubic = self.interpolation == "CUBICSPLINE"
        first = values[0, 1] if cubic else values[0]
        last = values[-1, 1] if cubic else values[-1]
        if len(times) == 1 or t <= times[0]:
            return self._finish(first)
        if t >= times[-1]:
            return self._finish(last)
        k = int(np.searchsorted(times, t, side="right")) - 1  # times[k] <= t < times[k+1]
        t0, t1 = float(times[k]), float(times[k + 1])
        d = t1 - t0
        u = (t - t0) / d
        if self.interpolation == "STEP":
            return self._finish(values[k])
        if self.interpolation == "LINEAR":
            if self.is_rotation:
                return slerp(values[k], values[k + 1], u)
            return (1.0 - u) * values[k] + u * values[k + 1]
        # CUBICSPLINE: values[k] = (in-tangent a_k, value v_k, out-tangent b_k)
        u2, u3 = u * u, u * u * u
        p = (
            (2 * u3 - 3 * u2 + 1) * values[k, 1]
            + (u3 - 2 * u2 + u) * d * values[k, 2]
            + (-2 * u3 + 3 * u2) * values[k + 1, 1]
            + (u3 - u2) * d * values[k + 1, 0]
        )
        return self._finish(p)

    def _finish(self, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, np.float64)
        return quat_normalize(v) if self.is_rotation else v

    @property
    def start(self) -> float:
        return float(self.times[0])

    @property
    def end(self) -> float:
        return float(self.times[-1])


@dataclass(frozen=True)
class Channel:
    node: int
    path: str  # translation | rotation | scale | weights
    sampler: Sampler


@dataclass(frozen=True)
class Clip:
    """One animation: its channels and its key-time range in seconds."""

    index: int
    name: str
    channels: tuple[Channel, ...]

    @property
    def start(self) -> float:
        return min((c.sampler.start for c in self.channels), default=0.0)

    @property
    def end(self) -> float:
        return max((c.sampler.end for c in self.channels), default=0.0)

    @property
    def duration(self) -> float:
        """The largest key time over the channels (the specification's duration)."""
        return self.end

    def sample_times(self, count: int) -> np.ndarray:
        """``count`` times spread evenly over the clip's keyed range, ends included."""
        return np.linspace(self.start, self.end, count, dtype=np.float64)
