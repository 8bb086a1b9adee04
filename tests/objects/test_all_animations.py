"""``--animation all`` (issue 25): one sample per animation of an object, each its own id.

The multi-animation object is a real GLB written by ``synthetic.objects`` (a jointed
arm with its own "wave" animation plus two more); the Khronos samples each have one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from catalog.ids import sample_id
from catalog.store import Catalog
from synthetic.objects import hierarchical_arm, quat_axis_angle, write_demo_objects

OUT = "grids/test_all_animations"
PARAMS = dict(views=2, times=2, height=32, width=32, min_motion=0.0, num_workers=1, output_dir=OUT)
NAMES = ["wave", "spin", "nod"]


def write_three_animations(path: Path) -> Path:
    """The arm of ``synthetic.objects`` with two more animations of its root and first link."""
    b = hierarchical_arm(np.random.default_rng(3))
    root, link = len(b.gltf.nodes) - 1, 0
    turn = [quat_axis_angle((0, 1, 0), a) for a in (0, 120, 240)]
    b.animation([(root, "rotation", [0, 1, 2], np.stack(turn), "LINEAR")], name="spin")
    nod = [quat_axis_angle((1, 0, 0), a) for a in (0, 40, 0)]
    b.animation([(link, "rotation", [0, 0.5, 1], np.stack(nod), "LINEAR")], name="nod")
    return b.write_glb(path)


def test_animation_names_come_from_the_json_alone(tmp_path):
    from tasks.objects.animations import animation_names, animations_to_render

    assert animation_names(write_three_animations(tmp_path / "three.glb")) == NAMES
    assert animations_to_render(tmp_path / "three.glb", 2) == [(0, "wave"), (1, "spin")]
    (tmp_path / "bad.glb").write_text("not a glb")
    assert animations_to_render(tmp_path / "bad.glb", 6) is None


def test_khronos_samples_have_one_animation_each(shared_gltf_dir):
    from tasks.objects.animations import animation_names

    for name in ("BoxAnimated.glb", "RiggedSimple.glb", "BrainStem.glb"):
        assert len(animation_names(shared_gltf_dir / name)) == 1, name


def test_single_animation_ids_are_what_they_were(tmp_path):
    """The default build plans the id it always did: sha256 + recipe + version + the spec."""
    from flows.build_objaverse import BuildObjaverseParams
    from tasks.objects.build import RECIPE, discover_sources, hash_sources, plan_jobs

    write_three_animations(tmp_path / "three.glb")
    params = BuildObjaverseParams(source=str(tmp_path), **PARAMS, azimuth_jitter_deg=0)
    cfg = params.build_config()
    items = hash_sources(discover_sources(str(tmp_path)))
    jobs, _ = plan_jobs(items, cfg, Catalog(tmp_path / "empty-catalog"))
    expected = sample_id(items[0].sha256, RECIPE, "1", cfg.spec.params())
    assert [(j["key"], j["sample_id"]) for j in jobs] == [(0, expected)]


@pytest.mark.usefixtures("prefect_harness", "ray_session")
def test_animation_all_makes_one_sample_per_animation(tmp_path):
    from flows.build_objaverse import build_grids

    folder = tmp_path / "objects"
    write_three_animations(folder / "three.glb")
    write_demo_objects(folder, count=1, seed=21)  # one animation: one sample
    result = build_grids(source=str(folder), **PARAMS, animation="all", max_animations=2)
    assert (result["ok"], result["failed"]) == (3, 0), result["failures"]
    assert len(set(result["sample_ids"])) == 3

    rows = Catalog().rows(
        "SELECT x.sample_id, x.params_json, s.uri FROM samples x JOIN sources s "
        "USING (source_id) WHERE x.run_id = ?",
        [result["run_id"]],
    )
    three = sorted(
        (json.loads(r["params_json"]) for r in rows if r["uri"].endswith("three.glb")),
        key=lambda p: p["animation"],
    )
    assert [p["animation"] for p in three] == [0, 1]  # capped at max_animations
    assert [p["derived"]["animation"] for p in three] == [
        {"index": 0, "name": "wave", "count": 3},
        {"index": 1, "name": "spin", "count": 3},
    ]

    # asking for one of them by index later finds that very sample
    again = build_grids(source=str(folder / "three.glb"), **PARAMS, animation="1")
    spin = next(r["sample_id"] for r in rows if json.loads(r["params_json"])["animation"] == 1)
    assert (again["ok"], again["skipped_ids"]) == (0, [spin])
