"""The Prefect flows and the CLI: run rows with the flow-run id, artifacts, field errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner


def test_train_all_flow_runs_three_stages_with_artifacts(
    prefect_harness, train_data, train_catalog, tiny
):
    from prefect import get_client

    from flows.train import TrainAllParams, train_all

    params = TrainAllParams(
        preset="tiny",
        clips_dataset=train_data["clips"],
        pseudo4d_dataset=train_data["pseudo4d"],
        objaverse_dataset=train_data["objaverse"],
        base_steps=2,
        pseudo4d_steps=1,
        objaverse_steps=1,
        upsampler_steps=2,
        frames=4,
        batch_size=1,
        loader_workers=0,
        seed=11,
        log_every=1,
    )
    state = train_all(params, return_state=True)
    assert state.is_completed()
    out = state.result()
    ids = out["checkpoint_ids"]
    sync = train_catalog.rows("SELECT * FROM checkpoints WHERE checkpoint_id = ?", [ids["sync"]])[0]
    assert sync["parent_checkpoint_id"] == ids["base"]
    # each stage is a subflow run with its own runs row, keyed by the Prefect flow-run id
    for stage in ("base", "sync", "upsampler"):
        run = train_catalog.rows("SELECT * FROM runs WHERE run_id = ?", [out[stage]["run_id"]])[0]
        assert run["flow"] == f"train_{stage}" and run["status"] == "completed"
        assert json.loads(run["outputs_json"])["checkpoint"] == out[stage]["checkpoint_ids"]
        png = Path(out[stage]["run_dir"]) / "loss_curve.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    import asyncio

    async def read():
        async with get_client() as client:
            runs = await client.read_flow_runs()
            return {str(r.id) for r in runs}, await client.read_artifacts()

    flow_runs, artifacts = asyncio.run(read())
    assert out["base"]["run_id"] in flow_runs  # the runs row id is the Prefect flow-run id
    by_key = {a.key: a for a in artifacts if a.key}
    assert by_key["train-base-progress"].data == 100.0
    assert "data:image/png;base64," in by_key["train-sync-loss"].data
    table = json.loads(by_key["train-upsampler-metrics"].data)
    assert [r["step"] for r in table] == [1, 2] and all("loss" in r for r in table)


def test_cli_reports_bad_fields_and_trains(train_data):
    from fourreal.cli import app

    runner = CliRunner()
    bad = runner.invoke(app, ["train", "base", train_data["clips"], "--steps", "0"])
    assert bad.exit_code == 2 and "steps" in bad.output
    bad = runner.invoke(
        app,
        [
            "train",
            "sync",
            "no-such-ckpt",
            "--objaverse",
            train_data["objaverse"],
            "-p",
            "pseudo4d_steps=0",
            "-p",
            "objaverse_steps=1",
        ],
    )
    assert bad.exit_code == 2 and "no checkpoint" in bad.output
    ok = runner.invoke(
        app,
        [
            "train",
            "base",
            train_data["clips"],
            "--steps",
            "1",
            "-p",
            "frames=4",
            "-p",
            "loader_workers=0",
            "-p",
            "run_name=cli-base",
        ],
    )
    assert ok.exit_code == 0, ok.output
    summary = json.loads(ok.output[ok.output.index("{") :])
    assert summary["final_step"] == 1 and summary["final_checkpoint_id"]
