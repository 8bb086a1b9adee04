"""Sampler and pose rules of docs/gltf.md, on numbers and on real files."""

from __future__ import annotations

import math

import numpy as np
import pytest

from renderers.animation import Sampler, quat_to_matrix, slerp
from renderers.gltf import AnimatedAsset
from synthetic.objects import GltfBuilder, box, quat_axis_angle
from tests.renderers.assets import pivot_box


def angle_about_y(q) -> float:
    m = quat_to_matrix(q)
    return math.degrees(math.atan2(m[0, 2], m[0, 0]))


def test_slerp_quarter_of_120_degrees_is_exactly_30():
    q0, q1 = quat_axis_angle((0, 1, 0), 0), quat_axis_angle((0, 1, 0), 120)
    s = Sampler(np.array([0.0, 1.0]), np.stack([q0, q1]), "LINEAR", is_rotation=True)
    assert angle_about_y(s(0.25)) == pytest.approx(30.0, abs=1e-9)
    # normalised lerp would land elsewhere
    nlerp = 0.75 * q0 + 0.25 * q1
    assert abs(angle_about_y(nlerp / np.linalg.norm(nlerp)) - 30.0) > 1.0


def test_slerp_takes_the_shorter_arc():
    q0 = quat_axis_angle((0, 0, 1), 10)
    q1 = -quat_axis_angle((0, 0, 1), 50)  # same rotation, opposite hemisphere
    m = quat_to_matrix(slerp(q0, q1, 0.5))
    assert math.degrees(math.atan2(m[1, 0], m[0, 0])) == pytest.approx(30.0, abs=1e-9)


def test_step_linear_and_clamping():
    times = np.array([1.0, 2.0, 4.0])
    vals = np.array([[0.0], [10.0], [30.0]])
    step = Sampler(times, vals, "STEP")
    lin = Sampler(times, vals, "LINEAR")
    assert step(0.0)[0] == 0.0 and step(1.99)[0] == 0.0 and step(2.0)[0] == 10.0
    assert lin(3.0)[0] == pytest.approx(20.0)
    assert lin(-5.0)[0] == 0.0 and lin(99.0)[0] == 30.0  # clamped outside the keys


def test_cubic_spline_overshoots_and_scales_tangents_by_interval():
    # v0 = 0, v1 = 1, out-tangent b0 = 0, in-tangent a1 = -3: p(u) = -5u^3 + 6u^2
    vals = np.array([[[0.0], [0.0], [0.0]], [[-3.0], [1.0], [0.0]]])
    s = Sampler(np.array([0.0, 1.0]), vals, "CUBICSPLINE")
    assert s(0.8)[0] == pytest.approx(-5 * 0.8**3 + 6 * 0.8**2)  # 1.28
    assert s(0.8)[0] > 1.0
    # the same curve over an interval of 2 s: tangents are scaled by d = 2
    s2 = Sampler(np.array([0.0, 2.0]), vals, "CUBICSPLINE")
    u = 0.8
    assert s2(1.6)[0] == pytest.approx((-2 * u**3 + 3 * u**2) + (u**3 - u**2) * 2 * -3.0)


def test_file_rotation_sampled_at_a_quarter(tmp_path):
    path = pivot_box(angles=(0.0, 120.0), key_times=(0.0, 2.0)).write_glb(tmp_path / "p.glb")
    asset = AnimatedAsset.load(path)
    world, _ = asset.node_world_matrices(0.5, asset.clip())
    m = world[1]  # the pivot
    assert math.degrees(math.atan2(m[0, 2], m[0, 0])) == pytest.approx(30.0, abs=1e-4)
    # the child box's centre follows: (1, 0, 0) rotated by 30 degrees about +Y
    centre = world[0] @ np.array([0, 0, 0, 1.0])
    assert centre[:3] == pytest.approx(
        [math.cos(math.radians(30)), 0, -math.sin(math.radians(30))], abs=1e-5
    )


def test_file_cubic_translation_overshoots(tmp_path):
    b = GltfBuilder()
    p, n, _, f = box()
    node = b.node(mesh=b.mesh(b.primitive(p, f, normals=n)))
    b.scene(node)
    vals = np.zeros((2, 3, 3))
    vals[1, 1] = [1, 0, 0]
    vals[1, 0] = [-3, 0, 0]
    b.animation([(node, "translation", [0.0, 1.0], vals, "CUBICSPLINE")])
    asset = AnimatedAsset.load(b.write_glb(tmp_path / "c.glb"))
    world, _ = asset.node_world_matrices(0.8, asset.clip())
    assert world[node][0, 3] == pytest.approx(1.28, abs=1e-5)


def test_default_clip_is_the_longest_and_named_clips_are_found(tmp_path):
    b = pivot_box(key_times=(0.0, 1.0))
    b.animation([(1, "rotation", [0.0, 3.0], [[0, 0, 0, 1], [0, 1, 0, 0]], "LINEAR")], name="long")
    asset = AnimatedAsset.load(b.write_glb(tmp_path / "two.glb"))
    assert asset.clip().name == "long"
    assert asset.clip("spin").index == 0 and asset.clip(1).name == "long"
    assert np.allclose(asset.clip().sample_times(4), [0, 1, 2, 3])


def test_cubic_spline_scales_the_out_tangent_by_the_interval_too():
    # v0 = 0, b0 = 1 (out), a1 = 0 (in), v1 = 0 over d = 2 s: p(u) = (u^3 - 2u^2 + u) * d * b0
    vals = np.array([[[0.0], [0.0], [1.0]], [[0.0], [0.0], [0.0]]])
    s = Sampler(np.array([0.0, 2.0]), vals, "CUBICSPLINE")
    u = 0.25
    assert s(0.5)[0] == pytest.approx((u**3 - 2 * u**2 + u) * 2.0 * 1.0)


def test_cubic_spline_rotation_comes_out_unit_length():
    # Hermite blend of two unit quaternions with non-zero tangents leaves the unit sphere;
    # the sampler must normalise (the rotation itself must still be a rotation).
    q0, q1 = quat_axis_angle((0, 1, 0), 0), quat_axis_angle((0, 1, 0), 90)
    vals = np.stack([np.stack([q0, q0, q0 * 2]), np.stack([q1 * 2, q1, q1])])
    s = Sampler(np.array([0.0, 1.0]), vals, "CUBICSPLINE", is_rotation=True)
    for t in (0.25, 0.5, 0.75):
        assert np.linalg.norm(s(t)) == pytest.approx(1.0, abs=1e-9)
