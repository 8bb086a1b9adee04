"""Validation inside training: the by-source held-out split, validation rows, ``runs show``.

Hand-made bugs these tests were seen to fail on (then reverted):
* ``split_by_source`` deciding by sample id instead of source id (a source on both sides);
* the validator drawing its fixed noise with ``torch.rand`` instead of ``torch.randn``
  (the zero-velocity loss no longer matches ``E|e - x0|^2``);
* ``CatalogMetrics.on_validate`` dropping its rows (no ``val`` rows in the catalog);
* the validator leaving the EMA weights in the model (the weights differ from a run
  without validation).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from catalog.datasets import create_dataset, get_dataset
from tasks.train.validation import LEVELS

SOURCES, PER_SOURCE = 12, 3


def _samples(catalog, sources: int, tag: str) -> dict[str, str]:
    """``sources`` sources with ``PER_SOURCE`` ok samples each; ``{sample_id: source_id}``."""
    rows = [
        {
            "sample_id": f"{tag}-s{s:02d}-{j}",
            "kind": "clip",
            "source_id": f"{tag}-src{s:02d}",
            "recipe_version": tag,
            "status": "ok",
        }
        for s in range(sources)
        for j in range(PER_SOURCE)
    ]
    catalog.append("samples", rows)
    return {r["sample_id"]: r["source_id"] for r in rows}


def _sides(row: dict, owner: dict[str, str]) -> tuple[set, set]:
    train = {owner[i] for i in row["sample_ids"]}
    heldout = {owner[i] for i in row["heldout_sample_ids"]}
    return train, heldout


def test_heldout_split_is_by_source_reproducible_and_stable(catalog):
    owner = _samples(catalog, SOURCES, "v1")
    where = "recipe_version = 'v1'"
    row = create_dataset(catalog, "objs", where, heldout_fraction=0.3, split_seed=7)
    train, heldout = _sides(row, owner)
    assert train and heldout
    assert not train & heldout, "a source on both sides of the split"
    assert len(row["sample_ids"]) + len(row["heldout_sample_ids"]) == SOURCES * PER_SOURCE
    assert row["split"] == "train" and row["num_samples"] == len(row["sample_ids"])
    # reproducible: the same seed and fraction give the same snapshot; another seed another split
    assert create_dataset(catalog, "objs", where, heldout_fraction=0.3, split_seed=7) == row
    other = create_dataset(catalog, "objs", where, heldout_fraction=0.3, split_seed=8)
    assert other["dataset_id"] != row["dataset_id"]
    # the held-out part reads as a snapshot of its own, split 'heldout'
    part = get_dataset(catalog, f"{row['dataset_id']}:heldout")
    assert part["split"] == "heldout" and part["sample_ids"] == row["heldout_sample_ids"]
    # stable as the corpus grows: old sources keep their side
    owner.update(_samples(catalog, SOURCES, "v2"))
    grown = create_dataset(
        catalog, "objs2", "recipe_version IN ('v1', 'v2')", heldout_fraction=0.3, split_seed=7
    )
    train2, heldout2 = _sides(grown, owner)
    assert not train2 & heldout2
    assert train <= train2 and heldout <= heldout2


def test_dataset_show_prints_the_heldout_part(train_catalog):
    from fourreal.cli import app

    _samples(train_catalog, SOURCES, "cli")
    runner = CliRunner()
    made = runner.invoke(
        app,
        ["dataset", "create", "objs", "--where", "recipe_version = 'cli'",
         "--heldout-fraction", "0.3", "--split-seed", "7"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    shown = runner.invoke(app, ["dataset", "show", "objs", "--max-rows", "1"])
    assert shown.exit_code == 0, shown.output
    assert "heldout=" in shown.output and "split_seed 7" in shown.output
    held = runner.invoke(app, ["dataset", "show", "objs:heldout", "--max-rows", "1"])
    assert held.exit_code == 0 and "split=heldout" in held.output, held.output
    bad = runner.invoke(app, ["dataset", "create", "x", "--heldout-fraction", "1.5"])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1, bad.output


@pytest.fixture(scope="module")
def split_clips(train_catalog, train_data):
    """The training clips with a held-out part (one source per clip; a seed that splits 4)."""
    where = get_dataset(train_catalog, train_data["clips"])["query"]
    for seed in range(50):
        try:
            return create_dataset(
                train_catalog, "tt-clips-split", where, heldout_fraction=0.5, split_seed=seed
            )
        except ValueError:
            continue
    raise AssertionError("no split seed holds out some but not all of the clips")


@pytest.fixture(scope="module")
def validated_run(split_clips, tiny):
    from tasks.train.params import TrainBaseParams
    from tasks.train.run import run_stage

    params = TrainBaseParams(
        **tiny(
            dataset=split_clips["dataset_id"],
            steps=3,
            frames=4,
            eval_every=2,
            val_items=2,
            checkpoint_every=2,
            run_name="validated",
        )  # fmt: skip
    )
    return params, run_stage(params)


def test_validation_rows_in_catalog_and_runs_show(validated_run, train_catalog):
    from fourreal.cli import app

    params, summary = validated_run
    rows = train_catalog.rows(
        "SELECT step, name, value, checkpoint_id FROM metrics "
        "WHERE run_id = ? AND split = 'val' AND name = 'loss' ORDER BY step",
        [summary["run_id"]],
    )
    # step 0, every eval_every steps, every checkpoint (2, and the last: 3)
    assert [r["step"] for r in rows] == [0, 2, 3]
    assert all(r["value"] > 0 for r in rows)
    by_step = {c["step"]: c["checkpoint_id"] for c in summary["checkpoints"]}
    assert [r["checkpoint_id"] for r in rows] == [None, by_step[2], by_step[3]]
    train = train_catalog.rows(
        "SELECT DISTINCT step FROM metrics WHERE run_id = ? AND split = 'train' ORDER BY step",
        [summary["run_id"]],
    )
    assert [r["step"] for r in train] == [1, 2, 3]
    best = min(rows[1:], key=lambda r: r["value"])  # among the checkpoints' validations
    assert summary["validation"]["best_step"] == best["step"]
    saved = json.loads((Path(summary["run_dir"]) / "best.json").read_text())
    assert saved["step"] == best["step"] and Path(saved["checkpoint"]).is_dir()

    runner = CliRunner()
    out = runner.invoke(app, ["runs", "show", summary["run_id"]])
    assert out.exit_code == 0, out.output
    assert "val loss" in out.output and f"{rows[-1]['value']:.4f}" in out.output
    report = json.loads(runner.invoke(app, ["runs", "show", summary["run_id"], "--json"]).output)
    assert [v["step"] for v in report["val"]] == [0, 2, 3]
    marked = [c for c in report["checkpoints"] if c["best"]]
    assert len(marked) == 1 and marked[0]["checkpoint_id"] == report["best_checkpoint_id"]
    assert marked[0]["metrics"]["val_loss"] == min(r["value"] for r in rows[1:])
    missing = runner.invoke(app, ["runs", "show", "no-such-run-id"])
    assert missing.exit_code == 2 and len(missing.output.strip().splitlines()) == 1


def test_validation_changes_no_training_number(validated_run):
    """The same run without validation ends with bit-identical weights (EMA included)."""
    from tasks.train.run import run_stage

    params, summary = validated_run
    plain = run_stage(params.model_copy(update={"eval_every": 0, "run_name": "unvalidated"}))
    assert "validation" not in plain
    assert plain["weights_sha256"] == summary["weights_sha256"]
    a, b = (Path(s["final_checkpoint"]).parent / "ema.safetensors" for s in (plain, summary))
    # tensor for tensor (not byte for byte: safetensors writes its metadata map in hash order)
    from safetensors import safe_open

    with safe_open(a, "pt") as fa, safe_open(b, "pt") as fb:
        assert fa.metadata() == fb.metadata() and sorted(fa.keys()) == sorted(fb.keys())
        for key in fa.keys():
            assert torch.equal(fa.get_tensor(key), fb.get_tensor(key)), key


def test_untrained_model_scores_the_zero_velocity_loss(validated_run, train_catalog):
    """At step 0 the base DiT's output layer is zero: it has learned nothing. A velocity head
    then predicts v = 0, whose loss is E|e - x0|^2 = 1 + E[x0^2] over the unknown frames
    (e ~ N(0, 1)); an x0 head (the default) predicts x0 = 0, i.e. v = x_s / s, whose loss at
    flow time s is exactly E[x0^2] / s^2 (no noise term), averaged over the levels."""
    from tasks.train.data import ItemSpec, StreamDataset, resolve_snapshot
    from tasks.train.stages import CLIP_KINDS

    params, summary = validated_run
    step0 = train_catalog.rows(
        "SELECT value FROM metrics WHERE run_id = ? AND split = 'val' AND step = 0 "
        "AND name = 'loss'",
        [summary["run_id"]],
    )[0]["value"]
    held = resolve_snapshot(train_catalog, f"{params.dataset}:heldout", kinds=CLIP_KINDS)
    spec = ItemSpec(stage="base", height=16, width=32, frames=4, seed=params.seed,
                    base_masks=params.base_masks.pairs())  # fmt: skip
    data = StreamDataset(held.samples, spec)
    expected = []
    for k in range(min(params.val_items, len(data))):
        item = data[k]
        unknown = ~item["known"]
        x0 = item["x"][unknown]  # (unknown frames, 3, H, W)
        power = x0.square().mean().item()
        if params_prediction(params) == "velocity":
            expected.append(1.0 + power)
        else:
            expected.append(sum(power / s**2 for s in LEVELS) / len(LEVELS))
    want = float(torch.tensor(expected).mean())
    assert step0 == pytest.approx(want, rel=0.04), (step0, want)


def params_prediction(params) -> str:
    """The head parametrisation of the run's base preset."""
    from model.config import base_preset

    return base_preset(params.preset).prediction


def test_sync_scores_heldout_grids_against_the_baselines(train_catalog, train_data, base_run, tiny):
    """sample_every: held-out grids generated and scored beside the trivial baselines."""
    from tasks.baselines import BASELINES
    from tasks.train.params import TrainSyncParams
    from tasks.train.run import run_stage

    where = get_dataset(train_catalog, train_data["pseudo4d"])["query"]
    for seed in range(50):  # 3 grids, one source each: a seed that holds out one or two
        try:
            split = create_dataset(train_catalog, "tt-p4d-split", where,
                                   heldout_fraction=0.5, split_seed=seed)  # fmt: skip
            break
        except ValueError:
            continue
    params = TrainSyncParams(
        **tiny(
            parent_checkpoint=base_run["final_checkpoint_id"],
            pseudo4d_dataset=split["name"],
            pseudo4d_steps=1,
            objaverse_steps=0,
            batch_size=1,
            eval_every=1,
            val_items=1,
            sample_every=1,
            sample_items=1,
            sample_steps=2,
            run_name="sync-scored",
        )  # fmt: skip
    )
    summary = run_stage(params)
    rows = train_catalog.rows(
        "SELECT step, name, value FROM metrics WHERE run_id = ? AND split = 'val'",
        [summary["run_id"]],
    )
    got = {(r["step"], r["name"]): r["value"] for r in rows}
    for step in (0, 1):
        for row in ("model", *BASELINES):
            assert (step, f"psnr/{row}") in got and (step, f"ssim/{row}") in got
        oracle = got[(step, "psnr/oracle")]
        assert oracle == max(got[(step, "psnr/same_time")], got[(step, "psnr/same_view")])


def test_curves_and_table_of_the_artifact(tmp_path):
    """The artifact's PNG (loss and held-out PSNR panels) and validation table from a history."""
    from tasks.train.callbacks import plot_loss_curve, validation_markdown

    train = [{"step": s, "loss": 1.0 / s} for s in range(1, 5)]
    val = [
        {"step": s, "split": "val", "loss": 1.2 - s / 10, "psnr/model": 10.0 + s,
         "psnr/same_time": 12.0, "psnr/same_view": 11.0, "psnr/oracle": 12.0,
         "psnr/background": 9.0}
        for s in (0, 2, 4)
    ]  # fmt: skip
    png = plot_loss_curve(train + val, tmp_path / "curve.png", "sync")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = validation_markdown({"validation": {"best_step": 4}}, val)
    assert "best checkpoint by validation loss: step 4" in text
    assert "| 4 | 0.8000 | 14.0000 | same_time | 12.0000 | 2.0000 |" in text
    assert "| 0 | 1.2000 | 10.0000 | same_time | 12.0000 | -2.0000 |" in text
