"""Real renders: poses land where they must, cameras in the file reproject the mesh."""

from __future__ import annotations

import math

import numpy as np
import pytest
from typer.testing import CliRunner

from renderers.camera import CameraArc, project
from renderers.job import EXPORT_KEYS, RenderSpec, load_grid, pose_object, render_job, render_object
from tests.renderers.assets import pivot_box

SIZE = dict(height=64, width=64)


def centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def test_known_rotation_moves_the_silhouette_where_it_must(tmp_path, renderer):
    path = pivot_box(angles=(0.0, 90.0), key_times=(0.0, 1.0)).write_glb(tmp_path / "p.glb")
    spec = RenderSpec(
        views=2, times=3, **SIZE, arc=CameraArc(azimuth_span_deg=90, elevation_deg=20)
    )
    grid = render_object(path, spec, renderer)
    assert np.allclose(grid.times, [0.0, 0.5, 1.0])
    for t, angle in enumerate((0.0, 45.0, 90.0)):
        a = math.radians(angle)
        centre = np.array([[math.cos(a), 0.0, -math.sin(a)]])  # (1, 0, 0) turned about +Y
        for v in range(2):
            uv, z = project(centre, grid.K[v], grid.w2c[v])
            mask = grid.alpha[v, t] > 0
            assert z[0] > 0 and mask[int(round(uv[0, 1])), int(round(uv[0, 0]))]
            assert np.abs(centroid(mask) - uv[0]).max() < 1.5, (v, t)
            # depth is camera z in scene units: the box surface is within its half-diagonal
            d = grid.depth[v, t][int(round(uv[0, 1])), int(round(uv[0, 0]))]
            assert z[0] - 0.2 * math.sqrt(3) - 1e-3 <= d <= z[0]
    # the silhouette did move: frames at t=0 and t=2 differ in every view
    assert all((grid.alpha[v, 0] != grid.alpha[v, 2]).mean() > 0.01 for v in range(2))


def test_cameras_in_the_file_reproject_the_mesh_onto_the_mask(demo_objects, renderer, tmp_path):
    spec = RenderSpec(views=3, times=3, **SIZE, arc=CameraArc(azimuth_span_deg=120))
    for path in demo_objects:
        out = tmp_path / f"{path.stem}.npz"
        res = render_job({"path": str(path), "out": str(out), "spec": spec.params()}, renderer)
        assert res["status"] == "ok", res
        grid = load_grid(out)
        posed = pose_object(path, spec)
        for t in range(spec.times):
            pts = np.concatenate([p.positions for p in posed.poses[t]]).astype(np.float64)
            for v in range(spec.views):
                uv, z = project(pts, grid["K"][v], grid["w2c"][v])
                px = np.round(uv).astype(int)
                assert (z > 0).all()
                assert (px >= 0).all() and (px[:, 0] < 64).all() and (px[:, 1] < 64).all()
                mask = grid["alpha"][v, t] > 0
                dilated = mask.copy()  # a vertex on the outline may round one pixel out
                dilated[1:] |= mask[:-1]
                dilated[:-1] |= mask[1:]
                dilated[:, 1:] |= dilated[:, :-1].copy()
                dilated[:, :-1] |= dilated[:, 1:].copy()
                assert dilated[px[:, 1], px[:, 0]].all(), (path.name, v, t)
                assert (grid["depth"][v, t][~mask] == 0).all()


def raycast_depth(tris_world: np.ndarray, K: np.ndarray, w2c: np.ndarray, h: int, w: int):
    """Exact z-depth at every pixel centre (0 = miss), by ray / triangle intersection."""
    tri = tris_world @ w2c[:3, :3].T + w2c[:3, 3]  # (F, 3, 3) camera coordinates
    ys, xs = np.mgrid[0:h, 0:w]
    rays = np.stack([xs.ravel(), ys.ravel(), np.ones(h * w)], 1) @ np.linalg.inv(K).T  # z = 1
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]  # Moller-Trumbore, origin 0
    pvec = np.cross(rays[:, None], e2[None])  # (P, F, 3)
    det = (e1[None] * pvec).sum(-1)
    ok = np.abs(det) > 1e-12
    inv = np.where(ok, 1.0 / np.where(ok, det, 1), 0)
    tvec = -tri[:, 0][None]
    u = (tvec * pvec).sum(-1) * inv
    qvec = np.cross(tvec, e1[None])
    v = (rays[:, None] * qvec).sum(-1) * inv
    dist = (e2[None] * qvec).sum(-1) * inv
    hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (dist > 0)
    depth = np.where(hit, dist, np.inf).min(1)
    return np.where(np.isfinite(depth), depth, 0.0).reshape(h, w)


def test_depth_and_alpha_agree_with_ray_casting_through_the_file_cameras(demo_objects, renderer):
    spec = RenderSpec(views=2, times=2, height=32, width=40)
    for path in demo_objects:
        grid = render_object(path, spec, renderer)
        posed = pose_object(path, spec)
        for t in range(spec.times):
            tris = np.concatenate([p.positions[p.faces] for p in posed.poses[t]]).astype(float)
            for v in range(spec.views):
                exact = raycast_depth(tris, grid.K[v], grid.w2c[v], 32, 40)
                depth, mask = grid.depth[v, t], grid.alpha[v, t] > 0
                assert ((exact > 0) == mask).mean() > 0.97, (path.name, v, t)
                both = (exact > 0) & mask
                close = np.abs(depth[both] - exact[both]) < 1e-3 * posed.meta["radius"] + 1e-4
                assert close.mean() > 0.95, (path.name, v, t)


def test_rgb_shows_the_material_and_alpha_the_coverage(tmp_path, renderer):
    path = pivot_box().write_glb(tmp_path / "p.glb")
    grid = render_object(path, RenderSpec(views=2, times=2, **SIZE, background=1.0), renderer)
    mask = grid.alpha > 0
    assert set(np.unique(grid.alpha)) == {0, 255}
    assert (grid.rgb[~mask] == 255).all()  # background grey level 1.0
    inside = grid.rgb[mask].astype(int)
    assert (inside[:, 2] > inside[:, 0]).mean() > 0.9  # the box is blue (0.2, 0.6, 0.9)


def test_khronos_files_render(shared_gltf_dir, renderer, tmp_path):
    spec = RenderSpec(views=2, times=2, height=32, width=48)
    for name in ("BoxAnimated.glb", "RiggedSimple.glb", "BrainStem.glb"):
        res = render_job(
            {
                "path": str(shared_gltf_dir / name),
                "out": str(tmp_path / name),
                "spec": spec.params(),
            },
            renderer,
        )
        assert res["status"] == "ok", res
        grid = load_grid(tmp_path / name)
        cover = (grid["alpha"] > 0).mean((2, 3))
        assert (cover > 0.01).all() and (cover < 0.9).all()  # in frame, not clipped
        border = np.concatenate([grid["alpha"][..., 0, :], grid["alpha"][..., -1, :]], -1)
        assert (border == 0).all()  # stays inside the frame over all poses


def arc_rotation(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """World -> OpenCV camera rotation of a camera on the arc looking at its centre, written
    out by hand: glTF +Y up and front +Z; rows are the camera's right, down and forward axes
    in world coordinates (the camera stands at (cos e sin a, sin e, cos e cos a) from the
    centre, looking back at it)."""
    a, e = math.radians(azimuth_deg), math.radians(elevation_deg)
    ca, sa, ce, se = math.cos(a), math.sin(a), math.cos(e), math.sin(e)
    return np.array(
        [
            [ca, 0.0, -sa],  # right: horizontal
            [se * sa, -ce, se * ca],  # down: towards world -Y
            [-ce * sa, -se, -ce * ca],  # forward: from the camera to the centre
        ]
    )


def check_default_arc_cameras(K, w2c, alpha, h: int, w: int) -> None:
    """The file's cameras against the default arc (3 views at azimuth -45, 0, 45 degrees,
    elevation 15, vertical fov 40), computed without the renderer's camera code."""
    fy = (h / 2) / math.tan(math.radians(40.0) / 2)
    want_K = np.array([[fy, 0.0, (w - 1) / 2], [0.0, fy, (h - 1) / 2], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(K, np.broadcast_to(want_K, K.shape), atol=1e-9)
    assert np.array_equal(w2c[:, 3], np.broadcast_to([0.0, 0.0, 0.0, 1.0], (3, 4)))
    for v, az in enumerate((-45.0, 0.0, 45.0)):
        np.testing.assert_allclose(w2c[v, :3, :3], arc_rotation(az, 15.0), atol=1e-9)
    # every camera looks at one centre c from one distance d: eye_v = c - d * forward_v
    eyes = np.stack([-w2c[v, :3, :3].T @ w2c[v, :3, 3] for v in range(3)])
    fwd = w2c[:, 2, :3]
    A = np.concatenate([np.tile(np.eye(3), (3, 1)), -fwd.reshape(9, 1)], axis=1)
    sol, *_ = np.linalg.lstsq(A, eyes.reshape(9), rcond=None)
    centre, dist = sol[:3], sol[3]
    np.testing.assert_allclose(A @ sol, eyes.reshape(9), atol=1e-9)
    assert dist > 0
    for v in range(3):  # project known points by hand: x = K (R X + t), pixel = x / x_z
        R, t = w2c[v, :3, :3], w2c[v, :3, 3]
        x = K[v] @ (R @ centre + t)
        np.testing.assert_allclose(x[:2] / x[2], want_K[:2, 2], atol=1e-6)  # principal point
        assert x[2] == pytest.approx(dist)
        above = K[v] @ (R @ (centre + [0.0, 0.1 * dist, 0.0]) + t)
        assert above[1] / above[2] < x[1] / x[2]  # world up is up in the picture
        ys, xs = np.nonzero(alpha[v, 0])
        cx, cy = x[0] / x[2], x[1] / x[2]
        assert xs.min() <= cx <= xs.max() and ys.min() <= cy <= ys.max()  # the object is there


def test_render_object_cli_writes_the_export_contract(shared_gltf_dir, tmp_path):
    from fourreal.cli import app

    out = tmp_path / "grid.npz"
    args = [
        "render-object",
        str(shared_gltf_dir / "RiggedSimple.glb"),
        "--views",
        "3",
        "--times",
        "2",
        "--height",
        "32",
        "--width",
        "40",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with np.load(out) as z:
        assert sorted(z.files) == sorted(EXPORT_KEYS)
        assert z["rgb"].shape == (3, 2, 32, 40, 3) and z["rgb"].dtype == np.uint8
        assert z["alpha"].shape == (3, 2, 32, 40) and z["alpha"].dtype == np.uint8
        assert z["depth"].shape == (3, 2, 32, 40) and z["depth"].dtype == np.float32
        assert z["K"].shape == (3, 3, 3) and z["w2c"].shape == (3, 4, 4)
        assert z["times"].shape == (2,) and z["times"][1] > z["times"][0]
        K, w2c, alpha = z["K"], z["w2c"], z["alpha"]
    check_default_arc_cameras(K, w2c, alpha, 32, 40)
    bad = CliRunner().invoke(
        app, ["render-object", str(tmp_path / "grid.npz"), "--out", str(tmp_path / "x.npz")]
    )
    assert bad.exit_code == 1 and "not a glTF" in bad.output


def test_bad_spec_values_name_the_field():
    with pytest.raises(ValueError, match="yfov_deg"):
        CameraArc(yfov_deg=0)
    with pytest.raises(ValueError, match="views"):
        RenderSpec(views=0)


def test_arc_cameras_stand_on_the_arc_and_look_at_the_centre():
    """Camera placement against the arc: elevation sign, azimuth order, distance, look-at."""
    import math

    from renderers.camera import CameraArc, arc_cameras, project

    center, radius = np.array([0.3, -0.2, 0.5]), 0.7
    arc = CameraArc(azimuth_deg=20.0, azimuth_span_deg=120.0, elevation_deg=30.0, margin=1.2)
    cams = arc_cameras(center, radius, 5, 72, 128, arc)
    half = min(math.radians(arc.yfov_deg) / 2, math.atan(64 / cams.K[0, 0, 0]))
    want_dist = radius / math.sin(half) * arc.margin
    for v, az in enumerate(arc.azimuths(5)):
        R, t = cams.w2c[v, :3, :3], cams.w2c[v, :3, 3]
        assert R @ R.T == pytest.approx(np.eye(3), abs=1e-9) and np.linalg.det(R) > 0
        eye = -R.T @ t  # camera centre in the glTF world
        offset = eye - center
        dist = np.linalg.norm(offset)
        assert dist == pytest.approx(want_dist, rel=1e-9)
        assert math.degrees(math.asin(offset[1] / dist)) == pytest.approx(30.0, abs=1e-6)
        # azimuth 0 looks at the glTF front (+Z side), increasing towards +X
        assert math.degrees(math.atan2(offset[0], offset[2])) == pytest.approx(az, abs=1e-6)
        np.testing.assert_allclose(R, arc_rotation(az, 30.0), atol=1e-9)  # written by hand
        # look-at: the centre projects onto the principal point, in front of the camera
        x = cams.K[v] @ (R @ center + t)  # by hand, not with renderers.camera.project
        assert x[:2] / x[2] == pytest.approx(cams.K[v, :2, 2], abs=1e-6)
        assert x[2] == pytest.approx(dist)
        uv, z = project(center[None], cams.K[v], cams.w2c[v])  # project agrees
        assert uv[0] == pytest.approx(x[:2] / x[2], abs=1e-9) and z[0] == pytest.approx(x[2])
        # OpenCV image y points down: world +Y is "up" in the picture
        assert (R @ np.array([0.0, 1.0, 0.0]))[1] < 0
