"""The deployed pipeline end to end on a real local server (loopback only).

``fourreal up`` -> run ``build_clips/demo`` -> its completion triggers
``snapshot_dataset/demo-clips`` -> its ``fourreal.dataset.built`` event
triggers ``train_base/demo`` with the snapshot id -> catalog rows and lineage
-> a rerun of the build writes nothing and trains nothing -> ``fourreal down``
(conftest) stops every process it started.
"""

from __future__ import annotations

import json

import pytest

from model.variants import VARIANT_NAMES

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def _samples(catalog):
    return catalog.rows(
        "SELECT sample_id, path, status, run_id FROM samples "
        "WHERE kind = 'clip' AND path LIKE 'demo/clips/%' ORDER BY sample_id"
    )


def test_every_flow_is_deployed_with_typed_forms(stack):
    import yaml

    from core.paths import REPO_ROOT

    declared = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())["deployments"]
    assert {d["entrypoint"].split(":")[1] for d in declared} >= {
        "build_objaverse_grids", "build_pseudo4d", "build_clips", "snapshot_dataset",
        "train_base", "train_sync", "train_upsampler", "train_all", "generate", "evaluate",
    }  # fmt: skip
    for d in declared:
        flow = d["entrypoint"].split(":")[1]
        dep = stack.api.deployment(flow, d["name"])
        assert dep["enforce_parameter_schema"], f"{flow}/{d['name']}"
        assert dep["work_pool_name"] == d["work_pool"]["name"]
        schema = dep["parameter_openapi_schema"]
        assert list(schema["properties"]) == ["params"], f"{flow}: one pydantic model"
        model = schema["definitions"][schema["properties"]["params"]["$ref"].split("/")[-1]]
        fields = model["properties"].values()
        assert all(f.get("description") or "$ref" in f or "allOf" in f for f in fields), flow
    sync = stack.api.deployment("train_sync", "gpu")
    props = sync["parameter_openapi_schema"]["definitions"]["TrainSyncParams"]["properties"]
    assert props["sync"]["enum"] == list(VARIANT_NAMES)  # the registry of 4D variants
    assert props["batch_size"]["minimum"] == 1
    assert sync["global_concurrency_limit"]["limit"] == 1
    nightly = stack.api.deployment("build_pseudo4d", "videos")["schedules"]
    assert {s["schedule"]["cron"] for s in nightly} == {"0 2 * * *", "0 4 * * 6"}
    assert {s["parameters"]["params"].get("fps") for s in nightly} == {None, 8}


def test_dataset_build_chains_snapshot_and_training_then_noop_rebuild(stack):
    from catalog.lineage import lineage
    from catalog.store import Catalog

    api = stack.api
    build = api.deployment("build_clips", "demo")
    snap = api.deployment("snapshot_dataset", "demo-clips")
    train = api.deployment("train_base", "demo")

    # 1. the dataset build, started like a user would from the UI
    first = stack.wait_run(api.run_deployment(build["id"])["id"])
    # 2. its completion event starts the snapshot; the snapshot's event the training
    snap_run = stack.wait_run(stack.wait_nth_run(snap["id"], 1)["id"])
    stack.wait_for(
        "fourreal.dataset.built from snapshot_dataset (flows/dataset.py must call "
        "flows.events.emit_for_snapshot after create_dataset)",
        lambda: api.events("fourreal.dataset.built"),
        timeout=60,
    )
    train_run = stack.wait_run(stack.wait_nth_run(train["id"], 1)["id"], timeout=420)

    catalog = Catalog(stack.home / "catalog")
    samples = _samples(catalog)
    assert samples and all(s["status"] == "ok" for s in samples)
    (dataset,) = catalog.rows("SELECT * FROM datasets WHERE name = 'demo-clips'")
    assert sorted(dataset["sample_ids"]) == [s["sample_id"] for s in samples]
    assert train_run["parameters"]["params"]["dataset"] == dataset["dataset_id"]
    built = api.events("fourreal.dataset.built")
    assert built[0]["resource"]["prefect.resource.id"] == "fourreal.dataset.demo-clips"
    assert built[0]["payload"]["dataset_id"] == dataset["dataset_id"]
    assert built[0]["payload"]["num_samples"] == len(samples)

    runs = {r["flow"]: r for r in catalog.rows("SELECT * FROM runs WHERE status = 'completed'")}
    assert runs["build_clips"]["run_id"] == first["id"]
    assert runs["snapshot_dataset"]["run_id"] == snap_run["id"] == dataset["run_id"]
    assert runs["train_base"]["run_id"] == train_run["id"]
    ckpts = catalog.rows("SELECT * FROM checkpoints WHERE run_id = ?", [train_run["id"]])
    assert ckpts and all(c["dataset_id"] == dataset["dataset_id"] for c in ckpts)
    tree = lineage(catalog, ckpts[-1]["checkpoint_id"])
    assert {"checkpoint", "dataset", "sample", "source", "run"} <= tree.kinds()
    assert {n.id for n in tree.walk() if n.kind == "run"} >= {
        first["id"],
        snap_run["id"],
        train_run["id"],
    }

    # 3. rerun the dataset deployment: nothing re-rendered, same snapshot, no retraining
    files = {s["sample_id"]: stack.home / s["path"] for s in samples}
    mtimes = {k: p.stat().st_mtime_ns for k, p in files.items()}
    second = stack.wait_run(api.run_deployment(build["id"])["id"])
    assert second["id"] != first["id"]
    stack.wait_run(stack.wait_nth_run(snap["id"], 2)["id"])
    assert _samples(catalog) == samples, "the rebuild wrote samples"
    assert {k: p.stat().st_mtime_ns for k, p in files.items()} == mtimes
    rerun = catalog.rows("SELECT * FROM runs WHERE run_id = ? AND status = 'completed'",
                         [second["id"]])  # fmt: skip
    assert rerun and json.loads(rerun[0]["outputs_json"]).get("samples") in (None, [])
    assert len(catalog.rows("SELECT * FROM datasets WHERE name = 'demo-clips'")) == 1
    events = stack.wait_for(
        "the second fourreal.dataset.built event",
        lambda: (e := api.events("fourreal.dataset.built")) and len(e) >= 2 and e,
        timeout=60,
    )
    assert [e["resource"]["fourreal.dataset.new"] for e in events] == ["true", "false"]
    assert len(api.runs_of(train["id"])) == 1, "an unchanged snapshot must not retrain"
