"""Objaverse selection over an annotations table, the offline failure, a local cache."""

from __future__ import annotations

import gzip
import json
import time

import pyarrow as pa
import pytest

from renderers.sources import (
    ObjaverseUnavailable,
    Selection,
    load_objaverse_objects,
    local_sources,
    objaverse_annotations,
    select_objaverse,
)
from synthetic.objects import write_demo_objects
from tasks.objects.build import discover_sources, hash_sources

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


def test_offline_download_fails_fast_with_a_clear_message(tmp_path, monkeypatch):
    # Offline made real and deterministic: every HTTP(S) request goes to a closed loopback
    # port (a refused connection), whether or not this machine can reach the internet.
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    start = time.monotonic()
    with pytest.raises(ObjaverseUnavailable, match="Offline"):
        load_objaverse_objects(["0123abcd"], cache_dir=tmp_path / "cache")
    with pytest.raises(ObjaverseUnavailable, match="object-paths.json.gz"):
        objaverse_annotations(["0123abcd"], cache_dir=tmp_path / "cache")
    assert time.monotonic() - start < 10


def test_a_populated_cache_works_offline(tmp_path):
    """The objaverse package's own layout, filled by hand: annotations, selection, objects."""
    root = tmp_path / "cache" / "hf-objaverse-v1"
    (root / "glbs" / "000-000").mkdir(parents=True)
    (root / "metadata").mkdir()
    uids = ["animated1", "static2"]
    for uid, path in zip(uids, write_demo_objects(tmp_path / "src", 2), strict=True):
        path.rename(root / "glbs" / "000-000" / f"{uid}.glb")
    paths = {uid: f"glbs/000-000/{uid}.glb" for uid in uids}
    with gzip.open(root / "object-paths.json.gz", "wt") as f:
        json.dump(paths, f)
    meta = {
        "animated1": {
            "uid": "animated1",
            "animationCount": 1,
            "faceCount": 36,
            "license": "by",
            "name": "arm",
        },
        "static2": {
            "uid": "static2",
            "animationCount": 0,
            "faceCount": 288,
            "license": "by",
            "name": "tube",
        },
    }
    with gzip.open(root / "metadata" / "000-000.json.gz", "wt") as f:
        json.dump(meta, f)
    items = hash_sources(
        discover_sources(
            "objaverse", Selection(uids=tuple(uids)), objaverse_cache=str(tmp_path / "cache")
        )
    )
    assert [i.uri for i in items] == ["animated1"]  # static2 has no animation
    assert items[0].kind == "objaverse" and items[0].license == "by" and items[0].sha256
    assert items[0].path.endswith("animated1.glb")


def test_local_folder_and_glob(tmp_path):
    paths = write_demo_objects(tmp_path / "objs", 3)
    (tmp_path / "objs" / "notes.txt").write_text("not an object")
    assert local_sources(tmp_path / "objs") == sorted(p.resolve() for p in paths)
    assert local_sources(str(tmp_path / "objs" / "arm_*.glb")) == [paths[0].resolve()]
    with pytest.raises(ValueError, match="source"):
        discover_sources(str(tmp_path / "nothing" / "*.glb"))
