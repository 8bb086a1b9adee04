"""The Prefect flows and the CLI: run rows with the flow-run id, artifacts, field errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner


def test_train_upsampler_flow_writes_artifacts(prefect_harness, train_data, train_catalog, tiny):
    from prefect import get_client

    from flows.train import TrainUpsamplerParams, train_upsampler

    params = TrainUpsamplerParams(**tiny(dataset=train_data["clips"], steps=2, frames=4,
                                         run_name="flow-upsampler"))  # fmt: skip
    state = train_upsampler(params, return_state=True)
    assert state.is_completed()
    summary = state.result()
    assert summary["final_step"] == 2 and summary["final_checkpoint_id"]
    flow_run_id = str(state.state_details.flow_run_id)
    run = train_catalog.rows("SELECT * FROM runs WHERE run_id = ?", [flow_run_id])[0]
    assert run["flow"] == "train_upsampler" and run["status"] == "completed"
    assert json.loads(run["inputs_json"])["dataset"] == [train_data["clips"]]
    png = Path(summary["run_dir"]) / "loss_curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    import asyncio

    async def artifacts():
        async with get_client() as client:
            return await client.read_artifacts()

    by_key = {a.key: a for a in asyncio.run(artifacts()) if a.key}
    assert by_key["train-upsampler-progress"].data == 100.0
    assert "data:image/png;base64," in by_key["train-upsampler-loss"].data
    table = json.loads(by_key["train-upsampler-metrics"].data)
    assert [r["step"] for r in table] == [1, 2] and all("loss" in r for r in table)


def test_cli_reports_bad_fields_and_trains(train_data):
    from fourreal.cli import app

    runner = CliRunner()
    bad = runner.invoke(app, ["train", "base", train_data["clips"], "--steps", "0"])
    assert bad.exit_code == 2 and "steps" in bad.output
    bad = runner.invoke(app, ["train", "sync", "no-such-ckpt", "--objaverse", train_data["objaverse"],
                              "-p", "pseudo4d_steps=0", "-p", "objaverse_steps=1"])  # fmt: skip
    assert bad.exit_code == 2 and "no checkpoint" in bad.output
    ok = runner.invoke(app, ["train", "base", train_data["clips"], "--steps", "1", "-p", "frames=4",
                             "-p", "loader_workers=0", "-p", "run_name=cli-base"])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    summary = json.loads(ok.output[ok.output.index("{") :])
    assert summary["final_step"] == 1 and summary["final_checkpoint_id"]
