"""Objaverse selection over an annotations table; local folders and globs.

(Objaverse downloads through the hub client: tests/objects/test_objaverse_hub.py.)"""

from __future__ import annotations

import pyarrow as pa
import pytest

from renderers.sources import Selection, local_sources, select_objaverse
from synthetic.objects import write_demo_objects
from tasks.objects.build import discover_sources

ANNOTATIONS = {
    "a1": {"animationCount": 2, "faceCount": 1000, "license": "by"},
    "b2": {"animationCount": 0, "faceCount": 500, "license": "by"},
    "c3": {"animationCount": 1, "faceCount": 900_000, "license": "cc0"},
    "d4": {"animationCount": 1, "faceCount": 2000, "license": "by-nc"},
    "e5": {"animationCount": 3, "faceCount": None, "license": "cc0"},
    "f6": {"animationCount": 1, "faceCount": 10, "license": "CC0"},
}


def test_selection_filters_animations_faces_licences_uids_and_limit():
    assert select_objaverse(ANNOTATIONS, Selection()) == ["a1", "d4", "f6"]
    assert select_objaverse(ANNOTATIONS, Selection(max_faces=None)) == [
        "a1",
        "c3",
        "d4",
        "e5",
        "f6",
    ]
    assert select_objaverse(ANNOTATIONS, Selection(licenses=("by", "cc0"))) == ["a1", "f6"]
    assert select_objaverse(ANNOTATIONS, Selection(uids=("d4", "b2", "zz"))) == ["d4"]
    assert select_objaverse(ANNOTATIONS, Selection(limit=2)) == ["a1", "d4"]
    assert select_objaverse(ANNOTATIONS, Selection(min_animations=0, max_faces=600)) == ["b2", "f6"]
    table = pa.Table.from_pylist([{"uid": k, **v} for k, v in ANNOTATIONS.items()])
    assert select_objaverse(table, Selection()) == ["a1", "d4", "f6"]
    with pytest.raises(ValueError, match="max_faces"):
        Selection(max_faces=0)


def test_local_folder_and_glob(tmp_path):
    paths = write_demo_objects(tmp_path / "objs", 3)
    (tmp_path / "objs" / "notes.txt").write_text("not an object")
    assert local_sources(tmp_path / "objs") == sorted(p.resolve() for p in paths)
    assert local_sources(str(tmp_path / "objs" / "arm_*.glb")) == [paths[0].resolve()]
    with pytest.raises(ValueError, match="source"):
        discover_sources(str(tmp_path / "nothing" / "*.glb"))
