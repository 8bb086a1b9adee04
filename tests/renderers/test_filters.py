"""Dataset filters: still silhouettes and animations that stop early are dropped."""

from __future__ import annotations

import numpy as np

from renderers.filters import silhouette_motion
from renderers.job import RenderSpec, render_job
from synthetic.objects import GltfBuilder, box
from tests.renderers.assets import pivot_box

SMALL = dict(views=2, times=4, height=32, width=32)


def test_silhouette_motion_is_one_minus_iou():
    a = np.zeros((1, 2, 4, 4), np.uint8)
    a[0, 0, :2] = 255  # top half
    a[0, 1, 1:3] = 255  # shifted down by one row: IoU = 4 / 12
    assert silhouette_motion(a) == np.float64(1 - 4 / 12)
    assert silhouette_motion(np.repeat(a[:, :1], 3, axis=1)) == 0.0


def _job(path, out, **spec):
    return {"path": str(path), "out": str(out), "spec": RenderSpec(**SMALL, **spec).params()}


def test_still_and_early_stopping_objects_are_filtered(tmp_path, renderer):
    b = GltfBuilder()
    p, n, _, f = box()
    node = b.node(mesh=b.mesh(b.primitive(p, f, normals=n)))
    b.scene(node)
    still = b.write_glb(tmp_path / "still.glb")  # no animation at all
    res = render_job(_job(still, tmp_path / "a.npz"), renderer)
    assert res["status"] == "ok" and res["meta"]["motion"] == 0.0  # renders, times all 0
    res = render_job(_job(still, tmp_path / "b.npz", min_motion=0.01), renderer)
    assert res["status"] == "failed" and res["error"].startswith("filtered: silhouette motion")

    # rotates during the first 40% of a 5 s clip, then holds still until a last key
    early = pivot_box(angles=(0, 90, 90), key_times=(0.0, 2.0, 5.0))
    path = early.write_glb(tmp_path / "early.glb")
    res = render_job(_job(path, tmp_path / "c.npz", min_active_fraction=0.5), renderer)
    assert res["status"] == "failed" and "stops moving at 41%" in res["error"], res
    res = render_job(_job(path, tmp_path / "d.npz", min_active_fraction=0.3), renderer)
    assert res["status"] == "ok"
