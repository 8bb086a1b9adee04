"""Real inputs for the store tests: one rendered grid and one decoded clip, made once."""

from __future__ import annotations

import numpy as np
import pytest

V, T, H, W = 4, 6, 48, 80  # small, but not square and not a power of two


@pytest.fixture(scope="session")
def rendered(tmp_path_factory) -> dict[str, np.ndarray]:
    """A real render of a procedural animated object (the renderers' export contract)."""
    from renderers.job import RenderSpec, render_object
    from renderers.render import GridRenderer
    from synthetic.objects import write_demo_objects

    folder = tmp_path_factory.mktemp("objects")
    path = write_demo_objects(folder, count=1, seed=3)[0]
    grid = render_object(path, RenderSpec(views=V, times=T, height=H, width=W), GridRenderer())
    assert grid.alpha.any() and (grid.alpha == 0).any()  # the object and the background
    return grid.arrays()


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> np.ndarray:
    """``[T, H, W, 3]`` frames decoded from a real H.264 video, cropped and resized."""
    from core.resize import crop_resize
    from core.video import decode_frames, probe_video
    from synthetic.videos import write_video

    path = tmp_path_factory.mktemp("videos") / "v.mp4"
    write_video(path, 12, 96, 160, seed=5)
    frames = decode_frames(path, list(range(0, 2 * T, 2)), probe_video(path))
    return crop_resize(frames, H, W)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))
