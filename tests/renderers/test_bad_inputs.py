"""Every kind of broken object fails with its reason, one at a time (no Ray here)."""

from __future__ import annotations

import pytest

from renderers.errors import GltfError
from renderers.gltf import AnimatedAsset
from renderers.job import RenderSpec, render_job

CAP = 2000


def test_each_bad_input_fails_with_its_reason(bad_inputs, renderer, tmp_path):
    folder, expected = bad_inputs
    assert len(expected) == 10  # every kind the issue lists, but the hang (see test_flow)
    spec = RenderSpec(views=2, times=2, height=32, width=32, max_triangles=CAP)
    for name, fragment in expected.items():
        out = tmp_path / f"{name}.npz"
        res = render_job(
            {"path": str(folder / name), "out": str(out), "spec": spec.params()}, renderer
        )
        assert res["status"] == "failed", name
        assert fragment in res["error"], (name, res["error"])
        assert "traceback" not in res, (name, res)  # a validation error, not a crash
        assert not out.exists()


def test_validation_errors_are_gltf_errors(bad_inputs):
    folder, expected = bad_inputs
    for name in expected:
        with pytest.raises(GltfError):
            AnimatedAsset.load(folder / name, max_triangles=CAP)
