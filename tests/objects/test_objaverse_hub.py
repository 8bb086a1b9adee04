"""Objaverse through ``huggingface_hub`` (issue 25), against a loopback hub.

``tests.loopback_http`` answers the hub's resolve protocol (``X-Repo-Commit``,
``ETag``/``X-Linked-Etag``, ``Content-Length``) for a small ``allenai/objaverse``
laid out as the real one: ``object-paths.json.gz``, ``metadata/000-000.json.gz``
and ``glbs/000-000/<uid>.glb``. ``HF_ENDPOINT`` points the real hub client at it.
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest

from synthetic.objects import write_demo_objects
from tests.loopback_http import start
from tests.servers import stop

PARAMS = dict(views=2, times=2, height=32, width=32, min_motion=0.0, num_workers=1)
ANIMATED = ["uid-arm", "uid-tube"]
STATIC = "uid-still"  # annotated without animation: not selected
GONE = "uid-gone"  # listed and annotated, but its GLB is not on the hub: a failed row
REPO = Path("hub/datasets/allenai/objaverse")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    repo = root / REPO
    (repo / "glbs" / "000-000").mkdir(parents=True)
    (repo / "metadata").mkdir()
    objects = write_demo_objects(tmp_path_factory.mktemp("src"), 3, seed=4)
    for uid, path in zip([*ANIMATED, STATIC], objects, strict=True):
        path.rename(repo / "glbs" / "000-000" / f"{uid}.glb")
    uids = [*ANIMATED, STATIC, GONE]
    with gzip.open(repo / "object-paths.json.gz", "wt") as f:
        json.dump({u: f"glbs/000-000/{u}.glb" for u in uids}, f)
    meta = {u: {"uid": u, "animationCount": 1, "faceCount": 100, "license": "by"} for u in uids}
    meta[STATIC]["animationCount"] = 0
    with gzip.open(repo / "metadata" / "000-000.json.gz", "wt") as f:
        json.dump(meta, f)
    server = start(root, tmp_path_factory.mktemp("hub-log") / "requests.log")
    server.repo = repo
    yield server
    stop(server.proc)


def _glb_gets(server, since: int) -> list[str]:
    return [r for r in server.requests()[since:] if r.startswith("GET") and r.endswith(".glb")]


def test_hub_file_honours_the_endpoint_and_offline_mode(hub, tmp_path, monkeypatch):
    from core.hub import HubConfig, HubFile, HubUnavailable, hub_file

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    ref = HubFile("allenai/objaverse", "glbs/000-000/uid-arm.glb")
    cache = tmp_path / "cache"
    got = hub_file(ref, HubConfig.from_env(cache))
    assert got.read_bytes() == (hub.repo / ref.filename).read_bytes()
    assert got.is_file() and cache in got.parents

    before = len(hub.requests())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_file(ref, HubConfig.from_env(cache)) == got  # warm cache: no request
    assert len(hub.requests()) == before
    start_s = time.monotonic()
    with pytest.raises(HubUnavailable, match="offline.*uid-tube.glb") as e:
        hub_file(
            HubFile("allenai/objaverse", "glbs/000-000/uid-tube.glb"), HubConfig.from_env(cache)
        )
    assert str(tmp_path / "cache") in str(e.value) and len(hub.requests()) == before
    assert time.monotonic() - start_s < 10

    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(HubUnavailable, match="not on the hub"):
        hub_file(
            HubFile("allenai/objaverse", "glbs/000-000/uid-gone.glb"), HubConfig.from_env(cache)
        )


def test_a_render_worker_refetches_a_hub_object_it_does_not_have(hub, tmp_path, monkeypatch):
    from core.hub import HubConfig
    from renderers.job import _local_input

    cfg = HubConfig(endpoint=hub.url, cache_dir=str(tmp_path / "other-node-cache"))
    job = {
        "path": str(tmp_path / "on-another-node" / "uid-arm.glb"),
        "hub": {
            "repo_id": "allenai/objaverse",
            "filename": "glbs/000-000/uid-arm.glb",
            "repo_type": "dataset",
            "revision": "main",
            "config": cfg.__dict__,
        },
    }
    local = Path(_local_input(job))
    assert local.is_file() and (tmp_path / "other-node-cache") in local.parents


@pytest.mark.usefixtures("prefect_harness", "ray_session")
def test_build_objects_from_the_hub_then_offline(hub, tmp_path, monkeypatch):
    from core.hub import HubUnavailable
    from flows.build_objaverse import build_grids
    from renderers.sources import Selection
    from tasks.objects.build import discover_sources

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    cache = str(tmp_path / "hf-cache")
    uids = [*ANIMATED, STATIC, GONE, "uid-unknown"]
    before = len(hub.requests())
    result = build_grids(
        source="objaverse", uids=uids, objaverse_cache=cache, output_dir="grids/hub", **PARAMS
    )
    assert (result["ok"], result["failed"]) == (2, 2), result["failures"]
    assert "not on the hub" in result["failures"][GONE]
    assert "no uid uid-unknown" in result["failures"]["uid-unknown"]
    fetched = sorted(r.rsplit("/", 1)[-1] for r in _glb_gets(hub, before))
    assert fetched == ["uid-arm.glb", "uid-tube.glb"]  # never the static one
    assert any(r.endswith("/uid-gone.glb") for r in hub.requests()[before:])  # asked: a 404

    # offline with the warm cache: the same objects, not one request
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(hub.requests())
    items = discover_sources("objaverse", Selection(uids=tuple(ANIMATED)), cache)
    assert [i.uri for i in items] == ANIMATED and all(i.sha256 for i in items)
    assert len(hub.requests()) == before

    # offline with a cold cache: fails at once, naming the file and the cache
    with pytest.raises(HubUnavailable, match="offline.*object-paths.json.gz"):
        discover_sources("objaverse", Selection(uids=tuple(ANIMATED)), str(tmp_path / "cold"))
    assert len(hub.requests()) == before
