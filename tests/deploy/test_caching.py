"""Cross-run task caching (tasks/caching.py) and the dataset event payload (flows/events.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from flows.events import DATASET_BUILT, dataset_event_payload, dataset_resource_id
from tasks.caching import InputsExcept, content_hash, dataset_cache_policy


@dataclass
class Spec:
    path: str
    mode: str | None = None


@dataclass
class Job:
    height: int
    run_id: str


def test_content_hash_follows_bytes_not_mtime(tmp_path):
    f = tmp_path / "a.mp4"
    f.write_bytes(b"one")
    h1 = content_hash(str(f))
    os.utime(f, (1, 1))
    assert content_hash(str(f)) == h1  # touched: same bytes, same key
    f.write_bytes(b"two")
    assert content_hash(str(f)) != h1
    assert content_hash(Spec(str(f))) != content_hash(Spec(str(f), mode="dynamic"))
    assert content_hash(str(tmp_path / "missing")) != content_hash(str(f))
    folder = content_hash(str(tmp_path))  # a folder: the bytes of its files
    (tmp_path / "b.mp4").write_bytes(b"more")
    assert content_hash(str(tmp_path)) != folder


def test_inputs_except_ignores_run_bookkeeping():
    policy = InputsExcept(exclude=("job.run_id", "ray_address"))
    a = policy.compute_key(None, {"job": Job(72, "run-1"), "ray_address": None}, {})
    b = policy.compute_key(None, {"job": Job(72, "run-2"), "ray_address": "auto"}, {})
    c = policy.compute_key(None, {"job": Job(36, "run-1"), "ray_address": None}, {})
    assert a == b != c
    with pytest.raises(ValueError, match="recipe"):
        dataset_cache_policy("", 1)


def test_cached_task_runs_once_across_flow_runs(prefect_harness, tmp_path):
    from prefect import flow, task

    from tasks.caching import cached_task_options

    calls = []
    video = tmp_path / "v.mp4"
    video.write_bytes(b"frames")

    @task(**cached_task_options("test-recipe", 1, content=("spec",), exclude=("job.run_id",)))
    def work(spec: Spec, job: Job) -> dict:
        calls.append(spec.path)
        return {"height": job.height, "n": len(open(spec.path, "rb").read())}

    @flow
    def build(run_id: str) -> dict:
        return work(Spec(str(video)), Job(72, run_id))

    assert build("a") == build("b") == {"height": 72, "n": 6}
    assert len(calls) == 1  # the second run (another run id) hit the cache
    video.write_bytes(b"new frames")
    assert build("c")["n"] == 10 and len(calls) == 2  # new bytes: a miss


def test_dataset_event_payload():
    p = dataset_event_payload("demo", "abc123", {"ok": 3, "failed": 1}, new=False)
    assert p == {"dataset_id": "abc123", "name": "demo", "num_samples": 3,
                 "content_hash": None, "new": False, "counts": {"ok": 3, "failed": 1}}  # fmt: skip
    assert dataset_resource_id("demo") == "fourreal.dataset.demo"
    # the event the flow emits is the one the training deployments wait for
    import yaml

    from core.paths import REPO_ROOT

    doc = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())
    expects = [t["expect"] for d in doc["deployments"] for t in d.get("triggers", [])]
    assert [DATASET_BUILT] in expects
    assert all(e[0].startswith("prefect.") or e == [DATASET_BUILT] for e in expects)
    with pytest.raises(ValueError, match="dataset_id"):
        dataset_event_payload("demo", "")
