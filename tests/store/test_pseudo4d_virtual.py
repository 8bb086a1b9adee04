"""Virtual pseudo-4D: the clip and its affine maps are stored, the grid is warped on read."""

from __future__ import annotations

import numpy as np
import pytest

from core import sample_store
from core.sample_store import Quality, open_sample
from tasks.videos.pseudo4d import AffineBounds, pseudo4d_grid
from tests.store.conftest import T, psnr

VIEWS = 5
SEED = 11


def _write(path, frames, backend, quality=None):
    grid, cam = pseudo4d_grid(frames, VIEWS, AffineBounds(), SEED, backend)
    st = sample_store.write_pseudo4d(
        path,
        frames=frames,
        affine=cam.affine,
        seed=SEED,
        frame_indices=np.arange(T),
        backend=backend,
        quality=quality,
    )
    return grid, cam, st


@pytest.mark.parametrize("backend", ["torch", "opencv"])
def test_virtual_grid_equals_the_materialised_warp(clip, tmp_path, backend):
    grid, cam, st = _write(tmp_path / "p.zip", clip, backend, Quality(codec="h264rgb"))
    with open_sample(st.path) as s:
        assert (s.kind, s.V, s.T) == (sample_store.PSEUDO4D, VIEWS, T)
        assert s.attrs["seed"] == SEED and s.attrs["warp_backend"] == backend
        assert np.array_equal(s.grid(), grid)  # bit-exact: lossless clip, same warp
        for t in (0, T - 1):
            assert np.array_equal(s.time(t), grid[:, t])
        assert np.array_equal(s.view(2), grid[2])
        out = s.export()
    assert sorted(out) == sorted(sample_store.EXPORT_KEYS[sample_store.PSEUDO4D])
    assert np.array_equal(out["grid"], grid) and np.array_equal(out["frames"], clip)
    assert np.array_equal(out["affine"], cam.affine) and out["affine"].dtype == np.float64


def test_default_quality_warps_the_stored_clip(clip, tmp_path):
    """Near-lossless clip: the grid is exactly the warp of the frames read back."""
    grid, _, st = _write(tmp_path / "q.zip", clip, "torch")
    with open_sample(st.path) as s:
        frames, affine, virtual = s.frames(), s.array("affine"), s.grid()
    from core.warp import warp_frames

    assert np.array_equal(virtual, warp_frames(frames, affine, "torch"))
    assert psnr(virtual, grid) >= 45


def test_device_warp_matches_cpu(clip, tmp_path):
    grid, _, st = _write(tmp_path / "d.zip", clip, "torch", Quality(codec="h264rgb"))
    with open_sample(st.path) as s:
        assert np.array_equal(s.grid(device="cpu"), grid)


def test_virtual_sample_is_smaller_than_its_grid(clip, tmp_path):
    grid, cam, st = _write(tmp_path / "s.zip", clip, "torch")
    legacy = tmp_path / "legacy.npz"
    np.savez(legacy, grid=grid, frames=clip, affine=cam.affine, frame_indices=np.arange(T))
    assert st.bytes * VIEWS < legacy.stat().st_size
    with open_sample(legacy) as s:  # the materialised legacy file reads the same way
        assert s.kind == sample_store.PSEUDO4D and np.array_equal(s.grid(), grid)
