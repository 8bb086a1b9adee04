"""Affine camera paths, the batched warp, and the ``fourreal pseudo4d`` export contract."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from core.resize import crop_resize
from core.video import decode_frames, probe_video
from tasks.videos.pseudo4d import (
    AffineBounds,
    camera_path,
    corners_inside,
    source_coords,
    warp_frames,
)

H, W, V, T = 32, 64, 4, 4


def bilinear(img: np.ndarray, x: float, y: float, outside: float | None = None) -> np.ndarray:
    """Reference bilinear sample of ``img [H, W, 3]`` at pixel ``(x, y)`` (centres at integers)."""
    h, w, _ = img.shape
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    fx, fy = x - x0, y - y0
    acc = np.zeros(3)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            if wx * wy == 0:
                continue
            yy, xx = y0 + dy, x0 + dx
            if 0 <= yy < h and 0 <= xx < w:
                acc += wx * wy * img[yy, xx]
            else:
                assert outside is not None, f"sample ({x}, {y}) reads outside the frame"
                acc += wx * wy * outside
    return acc


def by_hand(affine: np.ndarray, h: int, w: int) -> np.ndarray:
    """``affine[v] @ [x, y, 1]`` of every output pixel, one matrix product per pixel."""
    out = np.empty((len(affine), h, w, 2))
    for v, a in enumerate(np.asarray(affine, np.float64)):
        for y in range(h):
            for x in range(w):
                out[v, y, x] = a @ np.array([x, y, 1.0])
    return out


def test_bounds_are_validated():
    with pytest.raises(ValidationError, match="min_zoom"):
        AffineBounds(min_zoom=1.5, max_zoom=1.2)
    with pytest.raises(ValidationError, match="max_shear"):
        AffineBounds(max_shear=2.0)
    with pytest.raises(ValidationError, match="extra"):
        AffineBounds(zoom=2.0)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    "bounds",
    [
        AffineBounds(),
        AffineBounds(max_rotation_deg=45, max_shear=0.5, min_zoom=1.0, max_zoom=1.0, max_pan=1.0),
    ],
)
@pytest.mark.parametrize("size", [(32, 64), (72, 128), (64, 32), (17, 17)])
def test_every_output_pixel_samples_inside_the_frame(seed, bounds, size):
    h, w = size
    path = camera_path(8, h, w, bounds, seed)
    assert corners_inside(path.affine, h, w)
    src = by_hand(path.affine, h, w)  # every pixel, not only the corners
    np.testing.assert_allclose(source_coords(path.affine, h, w), src, atol=1e-9)
    assert src[..., 0].min() >= -1e-6 and src[..., 0].max() <= w - 1 + 1e-6
    assert src[..., 1].min() >= -1e-6 and src[..., 1].max() <= h - 1 + 1e-6
    assert np.abs(path.rotation_deg).max() <= bounds.max_rotation_deg + 1e-9
    assert np.abs(path.shear).max() <= bounds.max_shear + 1e-9


def test_path_is_seeded_smooth_and_moves():
    b = AffineBounds()
    a = camera_path(8, 72, 128, b, 3)
    assert np.array_equal(a.affine, camera_path(8, 72, 128, b, 3).affine)
    assert not np.allclose(a.affine, camera_path(8, 72, 128, b, 4).affine)
    # moves: where the frame centre is sampled, and the rotation, change at every step
    centre = a.affine @ np.array([63.5, 35.5, 1.0])  # (V, 2)
    step = np.linalg.norm(np.diff(centre, axis=0), axis=1)
    assert step.min() > 0.05 and np.linalg.norm(centre[-1] - centre[0]) > 1.0
    assert np.all(np.abs(np.diff(a.rotation_deg)) > 1e-3)
    assert abs(a.rotation_deg[-1] - a.rotation_deg[0]) >= b.max_rotation_deg - 1e-9
    # smooth: second differences are small next to the total motion
    flat = a.affine.reshape(8, -1)
    second = np.abs(np.diff(flat, 2, axis=0)).max()
    first = np.abs(np.diff(flat, 1, axis=0)).max()
    assert second < 0.5 * first
    # zoom: at least the minimum needed to hide borders, times min_zoom
    assert a.zoom.min() >= b.min_zoom - 1e-9


@pytest.mark.parametrize("backend", ["torch", "opencv"])
def test_warp_equals_bilinear_reference(backend):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8)
    path = camera_path(V, H, W, AffineBounds(max_rotation_deg=10, max_shear=0.1), 7)
    grid = warp_frames(frames, path.affine, backend)
    assert grid.shape == (V, T, H, W, 3) and grid.dtype == np.uint8
    pixels = [(0, 0), (W - 1, H - 1), (W - 1, 0), (0, H - 1)] + [
        (int(x), int(y))
        for x, y in zip(rng.integers(0, W, 40), rng.integers(0, H, 40), strict=True)
    ]
    for v in range(V):
        for t in range(T):
            for x, y in pixels:
                sx, sy = path.affine[v] @ np.array([x, y, 1.0])
                ref = bilinear(frames[t].astype(np.float64), sx, sy)
                assert np.abs(grid[v, t, y, x] - ref).max() <= 1.0, (backend, v, t, x, y)


@pytest.mark.parametrize("backend", ["torch", "opencv"])
def test_no_pixel_comes_from_outside_the_frame(backend):
    """Every output pixel equals the bilinear sample, computed by hand, of the source point
    ``affine @ [x, y, 1]`` with zeros outside the frame: so no sample reaches outside (the
    warp replicates the border there), and the warp goes the documented way round."""
    path = camera_path(
        V,
        H,
        W,
        AffineBounds(max_rotation_deg=30, max_shear=0.3, min_zoom=1.0, max_zoom=1.0, max_pan=1.0),
        11,
    )
    frame = np.random.default_rng(5).integers(1, 256, (1, H, W, 3), dtype=np.uint8)
    grid = warp_frames(frame, path.affine, backend)
    src = by_hand(path.affine, H, W)
    assert src[..., 0].min() >= -1e-6 and src[..., 0].max() <= W - 1 + 1e-6
    assert src[..., 1].min() >= -1e-6 and src[..., 1].max() <= H - 1 + 1e-6
    for v in range(V):
        for y in range(0, H, 3):
            for x in range(0, W, 5):
                ref = bilinear(frame[0].astype(float), *src[v, y, x], outside=0.0)
                assert np.abs(grid[v, 0, y, x] - ref).max() <= 1.0, (backend, v, x, y)


def test_identity_path_returns_the_frames():
    frames = np.random.default_rng(2).integers(0, 256, (T, H, W, 3), dtype=np.uint8)
    still = AffineBounds(max_rotation_deg=0, max_shear=0, min_zoom=1.0, max_zoom=1.0, max_pan=0)
    path = camera_path(V, H, W, still, 0)
    assert np.allclose(path.affine, np.array([[1, 0, 0], [0, 1, 0]]))
    assert np.array_equal(
        warp_frames(frames, path.affine), np.broadcast_to(frames, (V, *frames.shape))
    )


def test_cli_export_contract(videos, tmp_path):
    from fourreal.cli import app

    video = videos["wide_72x128.mp4"]
    out = tmp_path / "grid.npz"
    res = CliRunner().invoke(
        app,
        [
            "pseudo4d",
            str(video),
            "--views",
            "4",
            "--times",
            "4",
            "--height",
            "32",
            "--width",
            "64",
            "--seed",
            "5",
            "--stride",
            "3",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    with np.load(out) as d:
        assert sorted(d.files) == ["affine", "frame_indices", "frames", "grid"]
        grid, frames, affine, idx = d["grid"], d["frames"], d["affine"], d["frame_indices"]
    assert grid.shape == (4, 4, 32, 64, 3) and grid.dtype == np.uint8
    assert frames.shape == (4, 32, 64, 3) and frames.dtype == np.uint8
    assert affine.shape == (4, 2, 3) and idx.tolist() == [0, 3, 6, 9]
    # frames: the decoded frames at frame_indices, cropped and resized
    meta = probe_video(video)
    assert np.array_equal(frames, crop_resize(decode_frames(video, idx, meta), 32, 64))
    # grid[v, t](x, y) = frames[t](A_v @ [x, y, 1])
    for v, t, x, y in [(0, 0, 0, 0), (1, 2, 63, 31), (3, 3, 10, 20), (2, 1, 40, 5)]:
        sx, sy = affine[v] @ np.array([x, y, 1.0])
        ref = bilinear(frames[t].astype(np.float64), sx, sy)
        assert np.abs(grid[v, t, y, x] - ref).max() <= 1.0
    # seeded: the same command gives the same file content
    out2 = tmp_path / "again.npz"
    CliRunner().invoke(
        app,
        [
            "pseudo4d",
            str(video),
            "-V",
            "4",
            "-T",
            "4",
            "--height",
            "32",
            "--width",
            "64",
            "--seed",
            "5",
            "--stride",
            "3",
            "-o",
            str(out2),
        ],
    )
    with np.load(out2) as d2:
        assert np.array_equal(d2["grid"], grid) and np.array_equal(d2["affine"], affine)


def test_cli_refuses_bad_parameters_and_bad_videos(videos, bad_dir, tmp_path):
    from fourreal.cli import app

    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "pseudo4d",
            str(videos["square_96.mp4"]),
            "--views",
            "1",
            "--out",
            str(tmp_path / "x.npz"),
        ],
    )
    assert res.exit_code == 2 and "views" in res.output
    res = runner.invoke(
        app, ["pseudo4d", str(bad_dir / "zero_bytes.mp4"), "--out", str(tmp_path / "x.npz")]
    )
    assert res.exit_code == 1 and "empty file" in res.output
    assert not (tmp_path / "x.npz").exists()
