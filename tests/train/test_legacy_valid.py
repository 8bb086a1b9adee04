"""A legacy pseudo-4D npz keeps its per-pixel ``valid`` mask through the store and the loader."""

from __future__ import annotations

import numpy as np

from core.sample_store import PSEUDO4D, open_sample
from tasks.train.data import SampleRef, load_sample

V, T, H, W = 2, 3, 8, 12


def test_a_legacy_npz_with_valid_reads_it_back(tmp_path):
    rng = np.random.default_rng(0)
    grid = rng.integers(0, 256, (V, T, H, W, 3), dtype=np.uint8)
    valid = rng.random((V, T, H, W)) > 0.3  # warped-out pixels, different in every frame
    affine = np.tile(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), (V, 1, 1))
    path = tmp_path / "0123abcd.npz"
    np.savez(path, grid=grid, affine=affine, valid=valid)

    with open_sample(path) as s:  # the store's legacy reader
        assert s.legacy and s.kind == PSEUDO4D
        assert "valid" in s.names()
        np.testing.assert_array_equal(s.array("valid"), valid)

    ref = SampleRef("0123abcd", PSEUDO4D, None, V, T, H, W, str(path), "")
    frames, back = load_sample(ref)  # what training reads
    np.testing.assert_array_equal(frames, grid)
    assert back is not None, "the valid mask was dropped"
    np.testing.assert_array_equal(back, valid)
