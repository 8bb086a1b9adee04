"""A tiny real run of each stage on CPU from catalog data, and the lineage it leaves."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from catalog.checkpoints import checkpoint_file, get_checkpoint
from catalog.lineage import lineage
from catalog.store import Catalog
from core.io import sha256_file
from model.checkpoint import load_model, sidecar_path
from model.config import base_preset, fourd_preset
from model.dit import DiT
from model.fourd import FourDModel
from model.upsampler import Upsampler
from tasks.checkpoint_loading import load_checkpoint
from tasks.train.callbacks import read_history
from tasks.train.checkpointing import EMA_FILE, list_checkpoints


def _row(cat: Catalog, checkpoint_id: str) -> dict:
    return cat.rows("SELECT * FROM checkpoints WHERE checkpoint_id = ?", [checkpoint_id])[0]


def test_base_stage_trains_checkpoints_and_logs(base_run, train_data, train_catalog):
    s = base_run
    assert s["final_step"] == 5 and s["total_steps"] == 5
    # a checkpoint every 2 steps + the end of each phase, every one a catalog row with its sha256
    assert [c["step"] for c in s["checkpoints"]] == [2, 4, 5]
    for c in s["checkpoints"]:
        row = _row(train_catalog, c["checkpoint_id"])
        assert row["stage"] == "base" and row["dataset_id"] == train_data["clips"]
        assert row["run_id"] == s["run_id"] and row["parent_checkpoint_id"] is None
    final = get_checkpoint(train_catalog, s["final_checkpoint_id"], stage="base")
    assert sha256_file(checkpoint_file(final)) == final["sha256"]
    # keep_last=2: the step-2 folder is gone, its row stays
    assert [p.name for p in list_checkpoints(Path(s["run_dir"]))] == [
        "step_00000004",
        "step_00000005",
    ]
    # progressive resolution: 8x16 (half of tiny's 16x32), then 16x32
    hist = read_history(Path(s["run_dir"]))
    assert [(h["step"], h["height"], h["width"]) for h in hist] == [
        (1, 8, 16),
        (2, 8, 16),
        (3, 16, 32),
        (4, 16, 32),
        (5, 16, 32),
    ]
    assert all(math.isfinite(h["loss"]) and h["loss"] > 0 for h in hist)
    assert hist[0]["lr"] > hist[-1]["lr"]  # cosine decay
    # weights moved away from the seeded initialisation, EMA saved in the same format
    model, cfg, extra = load_model(checkpoint_file(final))
    assert cfg == base_preset("tiny") and extra["step"] == 5 and extra["run_id"] == s["run_id"]
    torch.manual_seed(0)
    init = DiT(cfg)
    moved = [k for k, v in model.state_dict().items() if not torch.equal(v, init.state_dict()[k])]
    assert len(moved) > 10
    ema, _, _ = load_model(checkpoint_file(final).parent / EMA_FILE)
    assert not torch.equal(ema.final_layer.linear.weight, model.final_layer.linear.weight)
    # metrics: catalog table and TensorBoard files
    names = {
        r["name"]
        for r in train_catalog.rows(
            "SELECT DISTINCT name FROM metrics WHERE run_id = ?", [s["run_id"]]
        )
    }
    assert {"loss", "lr", "grad_norm", "samples_per_s"} <= names
    assert list((Path(s["run_dir"]) / "tensorboard").glob("events.out.tfevents.*"))
    run = train_catalog.rows("SELECT * FROM runs WHERE run_id = ?", [s["run_id"]])[0]
    assert run["status"] == "completed" and run["flow"] == "train_base"
    assert json.loads(run["outputs_json"])["checkpoint"] == s["checkpoint_ids"]


def test_sync_stage_trains_only_sync_layers(sync_run, base_run, train_data, train_catalog):
    s = sync_run
    assert s["final_step"] == 4 and s["parent_checkpoint_id"] == base_run["final_checkpoint_id"]
    assert s["dataset_ids"] == [train_data["pseudo4d"], train_data["objaverse"]]
    row = _row(train_catalog, s["final_checkpoint_id"])
    assert row["stage"] == "sync" and row["dataset_id"] == train_data["objaverse"]
    assert row["parent_checkpoint_id"] == base_run["final_checkpoint_id"]
    # the checkpoint holds the sync layers only, and names its base by id and sha256
    saved = load_file(str(checkpoint_file(row)))
    assert saved and all(k.startswith("sync_layers.") for k in saved)
    base_row = _row(train_catalog, base_run["final_checkpoint_id"])
    side = json.loads(sidecar_path(checkpoint_file(row)).read_text())
    assert side["base"] == {
        "checkpoint_id": base_row["checkpoint_id"],
        "sha256": base_row["sha256"],
    }
    model, cfg, _ = load_checkpoint(train_catalog, row["checkpoint_id"], stage="sync")
    assert isinstance(model, FourDModel) and cfg.sync == "soft"
    base_weights = load_file(
        str(checkpoint_file(_row(train_catalog, base_run["final_checkpoint_id"])))
    )
    # the frozen base is bit-identical to the parent; the (zero-initialised) sync layers moved
    for k, v in model.base.state_dict().items():
        assert torch.equal(v, base_weights[k]), k
    assert any(p.abs().sum() > 0 for p in model.sync_layers.parameters())
    assert s["trainable_parameters"] == sum(p.numel() for p in model.sync_layers.parameters())
    phases = [(h["phase"], h["step"]) for h in read_history(Path(s["run_dir"]))]
    assert phases == [(0, 1), (0, 2), (1, 3), (1, 4)]


def test_sync_kinds_hard_and_sequential(base_run, train_data, tiny):
    from tasks.train.params import TrainSyncParams
    from tasks.train.run import run_stage

    common = tiny(
        parent_checkpoint=base_run["final_checkpoint_id"],
        batch_size=1,
        objaverse_dataset=train_data["objaverse"],
        objaverse_steps=1,
    )
    hard = run_stage(TrainSyncParams(sync="hard", pseudo4d_steps=0, **common))
    assert hard["final_step"] == 1 and hard["trainable_parameters"] > 0
    model, cfg, _ = load_checkpoint(Catalog(), hard["final_checkpoint_id"], stage="sync")
    assert cfg.sync == "hard"
    seq = run_stage(TrainSyncParams(sync="sequential", pseudo4d_steps=0, **common))
    soft = FourDModel(model.base, fourd_preset("tiny", "soft"))
    # the fair baseline trains as many parameters as soft sync, with the same steps
    assert seq["trainable_parameters"] == sum(p.numel() for p in soft.trainable_parameters())
    assert seq["final_step"] == 1
    model, cfg, _ = load_checkpoint(Catalog(), seq["final_checkpoint_id"], stage="sync")
    assert cfg.sync == "sequential" and len(model.sync_layers) == cfg.base.depth


def test_upsampler_stage(train_data, train_catalog, tiny):
    from tasks.train.params import TrainUpsamplerParams
    from tasks.train.run import run_stage

    s = run_stage(
        TrainUpsamplerParams(
            **tiny(dataset=train_data["clips"], steps=3, frames=4, loader_workers=1)
        )
    )
    assert s["final_step"] == 3
    model, cfg, _ = load_model(s["final_checkpoint"])
    assert isinstance(model, Upsampler) and (cfg.height, cfg.width) == (64, 128)
    assert _row(train_catalog, s["final_checkpoint_id"])["stage"] == "upsampler"
    assert all(math.isfinite(h["loss"]) for h in read_history(Path(s["run_dir"])))


def test_lineage_from_sync_checkpoint(sync_run, base_run, train_data, train_catalog):
    root = lineage(train_catalog, sync_run["final_checkpoint_id"])
    assert root.kind == "checkpoint" and root.row["stage"] == "sync"
    kids = {(c.kind, c.id) for c in root.children}
    assert ("run", sync_run["run_id"]) in kids
    assert ("dataset", train_data["objaverse"]) in kids
    base = next(c for c in root.children if c.kind == "checkpoint")
    assert base.id == base_run["final_checkpoint_id"] and base.row["stage"] == "base"
    base_ds = next(c for c in base.children if c.kind == "dataset")
    assert base_ds.id == train_data["clips"]
    sample = next(c for c in base_ds.children if c.kind == "sample")
    assert sample.row["kind"] == "clip"
    source = next(c for c in sample.children if c.kind == "source")
    assert any(c.kind == "run" and c.row["flow"] == "sample_data" for c in source.children)
    assert any(c.kind == "run" and c.row["flow"] == "train_base" for c in base.children)
    # the CLI prints the same chain
    from fourreal.cli import app

    out = CliRunner().invoke(app, ["catalog", "lineage", sync_run["final_checkpoint_id"]])
    assert out.exit_code == 0, out.output
    text = out.output
    for needle in (
        "checkpoint sync",
        "checkpoint base",
        "dataset tt-clips",
        "sample clip",
        "source video",
        "run train_base",
        "run train_sync",
        "run sample_data",
    ):
        assert needle in text, needle


def test_rerun_of_finished_settings_returns_its_checkpoint(base_run, base_run_params):
    from tasks.train.run import run_stage

    # the same settings derive the same run folder: nothing left to train, same result
    again = run_stage(base_run_params.model_copy())
    assert again["run_dir"] == base_run["run_dir"]
    assert again["start_step"] == again["final_step"] == 5 and again["checkpoint_ids"] == []
    assert again["final_checkpoint_id"] == base_run["final_checkpoint_id"]


def test_run_all_chains_the_three_stages(train_data, train_catalog, tiny):
    from tasks.train.params import TrainAllParams
    from tasks.train.run import run_all

    out = run_all(
        TrainAllParams(
            preset="tiny",
            clips_dataset=train_data["clips"],
            pseudo4d_dataset=train_data["pseudo4d"],
            objaverse_dataset=train_data["objaverse"],
            base_steps=1,
            pseudo4d_steps=1,
            objaverse_steps=1,
            upsampler_steps=1,
            frames=4,
            batch_size=1,
            loader_workers=0,
            seed=7,
        )
    )
    ids = out["checkpoint_ids"]
    assert all(ids.values())
    sync = _row(train_catalog, ids["sync"])
    assert sync["parent_checkpoint_id"] == ids["base"] and sync["stage"] == "sync"
    assert _row(train_catalog, ids["upsampler"])["stage"] == "upsampler"


def test_fused_variant_trains_resumes_and_generates(base_run, train_data, tiny, train_catalog):
    """fused (LoRA) over the tiny base: trains, resumes exactly from a checkpoint, generates."""
    import shutil

    from flows.train import run_stage
    from model.fused import FusedModel
    from model.sampling import generate_grid
    from tasks.train.params import TrainSyncParams

    params = TrainSyncParams(
        **tiny(
            parent_checkpoint=base_run["final_checkpoint_id"],
            sync="fused",
            finetune="lora",
            lora_rank=2,
            batch_size=1,
            pseudo4d_steps=0,
            objaverse_dataset=train_data["objaverse"],
            objaverse_steps=2,
            checkpoint_every=1,
            keep_last=3,
            run_name="fused-lora",
        )
    )
    first = run_stage(params)
    assert first["final_step"] == 2
    model, cfg, _ = load_checkpoint(Catalog(), first["final_checkpoint_id"], stage="sync")
    assert isinstance(model, FusedModel) and (cfg.sync, cfg.finetune) == ("fused", "lora")
    trained = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert first["trainable_parameters"] == sum(p.numel() for p in trained.values())
    saved = load_file(str(Path(first["final_checkpoint"])))
    assert set(saved) == set(trained)  # the adapters and the fused tables, not the base
    assert any("lora_B" in n and p.abs().sum() > 0 for n, p in trained.items())  # B moved off 0
    meta = json.loads(sidecar_path(first["final_checkpoint"]).read_text())
    assert meta["base"]["checkpoint_id"] == base_run["final_checkpoint_id"]

    # resume: drop the last checkpoint; the same command continues from step 1 to the same weights
    shutil.rmtree(Path(first["final_checkpoint"]).parent)
    again = run_stage(params)
    assert (again["start_step"], again["final_step"]) == (1, 2)
    resumed, _, _ = load_checkpoint(Catalog(), again["final_checkpoint_id"], stage="sync")
    for name, p in resumed.named_parameters():
        if p.requires_grad:
            assert torch.allclose(p, trained[name], atol=1e-6), name

    grid = torch.rand(4, 4, 3, 16, 32) * 2 - 1
    out = generate_grid(resumed.eval(), grid[0], grid[:, 0], steps=2)
    assert out.shape == grid.shape and torch.isfinite(out).all()
    assert torch.allclose(out[0], grid[0], atol=1 / 127) and torch.allclose(
        out[:, 0], grid[:, 0], atol=1 / 127
    )


def test_a_plan_without_validation_says_why_through_the_callbacks():
    from tasks.train.callbacks import Callback
    from tasks.train.stages import StagePlan, build_validator

    class Lines(Callback):
        def __init__(self):
            self.lines = []

        def on_message(self, text: str) -> None:
            self.lines.append(text)

    plan = StagePlan(
        stage="base", params={}, engine=None, model_config=None, phases=[], run_dir="",
        run_id="r", catalog_dir="", validation_note="off: no held-out sources",
    )  # fmt: skip
    lines = Lines()
    assert build_validator(plan, "cpu", [lines]) is None
    assert lines.lines == ["[train base] validation off: no held-out sources"]
