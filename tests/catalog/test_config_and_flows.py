"""Parameter validation names the field; the snapshot flow records its run under Prefect."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.flow_params import FlowParams, output_path
from flows.grid_params import GridSizeMixin


class GridParams(FlowParams, GridSizeMixin):
    pass


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(views=1), "views"),
        (dict(times=0), "times"),
        (dict(height=-8), "height"),
        (dict(width=130), "width"),
        (dict(height=70, preset="small"), "height"),
        (dict(preset="huge"), "preset"),
        (dict(colour="red"), "colour"),
    ],
)
def test_bad_values_fail_naming_the_field(kwargs, field):
    with pytest.raises(ValidationError) as err:
        GridParams(**kwargs)
    assert field in str(err.value)


def test_good_values_pass_and_patch_comes_from_model_presets():
    from model.config import base_preset

    p = GridParams(views=4, times=4, height=72, width=128, preset="small")
    assert p.height % base_preset("small").patch_size == 0


def test_output_paths_outside_the_data_root_are_refused(data_home):
    assert output_path("grids/a.npz", "out") == data_home / "grids" / "a.npz"
    with pytest.raises(ValueError, match="out: .*outside the data root"):
        output_path("/etc/passwd", "out")
    with pytest.raises(ValueError, match="outside the data root"):
        output_path("../../escape", "out")


def test_snapshot_flow_writes_run_and_dataset(prefect_harness, data_home):
    from catalog.store import Catalog
    from flows.dataset import SnapshotParams, snapshot_dataset

    cat = Catalog()
    cat.append(
        "samples",
        [
            dict(
                sample_id=f"flowtest{i}", kind="clip", status="ok", recipe="clip", path=f"x{i}.npz"
            )
            for i in range(3)
        ],
    )
    out = snapshot_dataset(SnapshotParams(name="flowtest", where="sample_id LIKE 'flowtest%'"))
    assert out["num_samples"] == 3
    ds = cat.rows("SELECT * FROM datasets WHERE dataset_id = ?", [out["dataset_id"]])[0]
    run = cat.rows("SELECT * FROM runs WHERE run_id = ?", [ds["run_id"]])[0]
    assert run["flow"] == "snapshot_dataset" and run["status"] == "completed"
    assert out["dataset_id"] in run["outputs_json"]
    assert run["git_commit"] is None or len(run["git_commit"]) == 40
    with pytest.raises(ValidationError, match="name"):
        SnapshotParams(name="no spaces allowed")


def test_failed_flow_records_failed_run(prefect_harness):
    from catalog.store import Catalog
    from flows.dataset import SnapshotParams, snapshot_dataset

    with pytest.raises(ValueError, match="no ok samples"):
        snapshot_dataset(SnapshotParams(name="empty", where="kind = 'nothing'"))
    rows = Catalog().rows(
        "SELECT status, error FROM runs WHERE flow = 'snapshot_dataset' AND status = 'failed'"
    )
    assert rows and "no ok samples" in rows[0]["error"]


def _lineage(cat, dataset_id: str) -> dict:
    """The ``runs`` row a dataset points to, as the fields two snapshot paths must share."""
    import json

    ds = cat.rows("SELECT * FROM datasets WHERE dataset_id = ?", [dataset_id])[0]
    run = cat.rows("SELECT * FROM runs WHERE run_id = ?", [ds["run_id"]])[0]
    params = json.loads(run["parameters_json"])
    return {
        "flow": run["flow"],
        "status": run["status"],
        "param_fields": sorted(params),
        "where": params["where"],
        "outputs": json.loads(run["outputs_json"]),
        "run_id": run["run_id"],
    }


def test_cli_and_flow_snapshots_record_the_same_lineage(prefect_harness, data_home):
    """``fourreal dataset create`` and the ``snapshot_dataset`` flow run one code path: each
    dataset row points to a completed ``snapshot_dataset`` run with the same parameters,
    the dataset as its output (the flow's run id is its Prefect flow run's)."""
    from typer.testing import CliRunner

    from catalog.store import Catalog
    from flows.dataset import SnapshotParams, snapshot_dataset
    from fourreal.cli import app

    cat = Catalog()
    rows = [dict(sample_id=f"lineage{i}", kind="clip", status="ok", recipe="clip",
                 path=f"l{i}.npz") for i in range(2)]  # fmt: skip
    cat.append("samples", rows)
    where = "sample_id LIKE 'lineage%'"
    made = CliRunner().invoke(app, ["dataset", "create", "by-cli", "--where", where])
    assert made.exit_code == 0, made.output
    by_cli = cat.rows("SELECT dataset_id FROM datasets WHERE name = 'by-cli'")[0]["dataset_id"]
    by_flow = snapshot_dataset(SnapshotParams(name="by-flow", where=where))["dataset_id"]
    cli, flow = _lineage(cat, by_cli), _lineage(cat, by_flow)
    assert cli["outputs"] == {"datasets": [by_cli]} and flow["outputs"] == {"datasets": [by_flow]}
    for side in (cli, flow):
        side.pop("outputs")
    assert cli.pop("run_id") != flow.pop("run_id")
    assert cli == flow == {"flow": "snapshot_dataset", "status": "completed",
                           "param_fields": sorted(SnapshotParams.model_fields), "where": where}  # fmt: skip
